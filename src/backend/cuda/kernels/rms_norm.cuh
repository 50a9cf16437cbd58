// The RMS-norm kernels the backend ships (winner of lab/rms_norm_lab.cu, version 2): one block per
// row keeps the whole row in registers as 16-byte vectors, so the row is read once and written once.
#pragma once

#include <algorithm>

#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/launch.cuh"
#include "backend/cuda/kernels/rounded_rows.cuh"

namespace ferrum::cuda {

// Each thread caches up to kMaxChunks groups of 8 elements; blocks have up to 1024 threads, so the
// register path covers rows of up to 1024 * 8 * 4 = 32768 elements.
inline constexpr int kNormMaxChunks = 4;

// A block for `work_items` (a multiple of 32, 64 to 1024 threads).
inline unsigned norm_threads(size_t work_items) {
  return static_cast<unsigned>(std::clamp<size_t>((work_items + 31) / 32 * 32, 64, 1024));
}

// The vector kernels' block for `rows` rows of `dim` (dim % 8 == 0): few rows (decode) take one
// 16-byte chunk per thread, the most loads in flight at once; many rows up to kNormMaxChunks each,
// fewer threads. The block's size fixes the order of the row's sum of squares, so every kernel
// that normalises rows as rms_norm does (the IPC all-reduce's fused norm) takes this one.
inline unsigned rms_norm_vec_threads(size_t rows, size_t dim) {
  const size_t chunks = dim / 8;
  return rows < 132 && chunks <= 512 ? norm_threads(chunks) : norm_threads(ceil_div(chunks, kNormMaxChunks));
}

// The end of a vector RMS norm: this thread's chunks of row `row` (values, the row as normalised,
// chunk threadIdx.x + c * blockDim.x in values[c]) scaled by inv_rms and the weights into out
// [rows, dim], and with kRound their rounding into `rounded` as well.
template <class A, bool kRound>
__device__ __forceinline__ void rms_norm_store_row(float (&values)[kNormMaxChunks][8],
                                                   const float (&weights)[kNormMaxChunks][8], float inv_rms, A* out,
                                                   size_t row, int dim, QuantizedX rounded) {
  const int chunks = dim / 8;
#pragma unroll
  for (int c = 0; c < kNormMaxChunks; ++c) {
    const int chunk = threadIdx.x + c * blockDim.x;
    if (chunk < chunks) {
#pragma unroll
      for (int i = 0; i < 8; ++i) values[c][i] = values[c][i] * inv_rms * weights[c][i];
      store8(out + row * dim + chunk * 8, values[c]);
    }
    if constexpr (kRound) {
      // The same pass count for every thread of the block, so each warp shuffles whole.
      if (c * static_cast<int>(blockDim.x) < chunks) {
#pragma unroll
        for (int i = 0; i < 8; ++i) values[c][i] = to_f32(from_f32<A>(values[c][i]));
        round_eight(values[c], chunk < chunks, rounded, row * dim + chunk * 8);
      }
    }
  }
}

// out = x / sqrt(mean(x^2) + eps) * w; with kFusedAdd, residual += x first and the sum is normalised
// (and written back to residual); with kRound, out's rows rounded to int8 go to `rounded` as well
// (rounded_rows.cuh; needs dim % 32 == 0). Needs dim % 8 == 0 and 16-byte aligned rows.
template <class A, class W, bool kFusedAdd, bool kRound = false>
__global__ void rms_norm_vec_kernel(const A* x, A* residual, const W* w, A* out, int dim, float eps,
                                    QuantizedX rounded = {}) {
  __shared__ float reduce_scratch[32];
  const size_t row = blockIdx.x;
  const int chunks = dim / 8;
  // PDL-aware (kernels/launch.cuh): the next kernel may start its prologue now, and the weights,
  // which no kernel writes, are fetched before waiting for the previous one, so after the wait
  // only the row's own loads remain (decode runs this on one row between two GEMVs: its latency
  // is a bubble in the weight stream).
  pdl_launch_dependents();
  float weights[kNormMaxChunks][8];
#pragma unroll
  for (int c = 0; c < kNormMaxChunks; ++c) {
    const int chunk = threadIdx.x + c * blockDim.x;
    if (chunk < chunks) load8(w + chunk * 8, weights[c]);
  }
  pdl_wait();
  const A* x_row = x + row * dim;
  float values[kNormMaxChunks][8];
  float sum_sq = 0.0f;
#pragma unroll
  for (int c = 0; c < kNormMaxChunks; ++c) {
    const int chunk = threadIdx.x + c * blockDim.x;
    if (chunk < chunks) {
      load8(x_row + chunk * 8, values[c]);
      if constexpr (kFusedAdd) {
        float res[8];
        A* res_ptr = residual + row * dim + chunk * 8;
        load8(res_ptr, res);
        // Normalise the sum as stored (rounded to A), as rms_norm(residual) would see it.
#pragma unroll
        for (int i = 0; i < 8; ++i) values[c][i] = to_f32(from_f32<A>(values[c][i] + res[i]));
        store8(res_ptr, values[c]);
      }
#pragma unroll
      for (int i = 0; i < 8; ++i) sum_sq += values[c][i] * values[c][i];
    }
  }
  const float inv_rms = rsqrtf(block_sum(sum_sq, reduce_scratch) / dim + eps);
  rms_norm_store_row<A, kRound>(values, weights, inv_rms, out, row, dim, rounded);
}

// Any dim or alignment: strided scalar passes; the second pass re-reads the row (from L1/L2).
// In-place use (out == x) is safe in both kernels: a thread writes only elements it has read.
template <class A, class W, bool kFusedAdd>
__global__ void rms_norm_scalar_kernel(const A* x, A* residual, const W* w, A* out, int dim, float eps) {
  __shared__ float reduce_scratch[32];
  pdl_launch_dependents();
  pdl_wait();
  const size_t row = blockIdx.x;
  float sum_sq = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float value = to_f32(x[row * dim + i]);
    if constexpr (kFusedAdd) {
      value += to_f32(residual[row * dim + i]);
      residual[row * dim + i] = from_f32<A>(value);
    }
    sum_sq += value * value;
  }
  const float inv_rms = rsqrtf(block_sum(sum_sq, reduce_scratch) / dim + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    // Each thread re-reads only elements it wrote itself, so the fused path needs no barrier.
    const float value = kFusedAdd ? to_f32(residual[row * dim + i]) : to_f32(x[row * dim + i]);
    out[row * dim + i] = from_f32<A>(value * inv_rms * to_f32(w[i]));
  }
}

}  // namespace ferrum::cuda
