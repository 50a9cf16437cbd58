#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/norm.h"
#include "backend/cuda/kernels/rms_norm.cuh"

namespace ferrum::cuda {
namespace {

// Sum over the block in f64 (every thread gets it); `scratch` holds 32 doubles.
__device__ double block_sum_f64(double value, double* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  value = lane < warps ? scratch[lane] : 0.0;
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  __syncthreads();
  return value;
}

// Mean first, then the biased variance from deviations (two passes over cached values is more
// accurate than E[x^2] - E[x]^2 when the mean is large). The mean's sum is f64: with a mean of 100
// over 4096 values an f32 sum is off by ~1e-5 of the output scale, as much as the whole f32 budget.
template <class A, class W>
__global__ void layer_norm_kernel(const A* x, const W* __restrict__ gamma, const W* __restrict__ beta, A* out, int dim,
                                  float eps) {
  __shared__ float reduce_scratch[32];
  __shared__ double reduce_scratch_f64[32];
  const size_t row = blockIdx.x;
  const A* x_row = x + row * dim;
  double sum = 0.0;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) sum += to_f32(x_row[i]);
  const float mean = static_cast<float>(block_sum_f64(sum, reduce_scratch_f64) / dim);
  float sum_dev = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    const float dev = to_f32(x_row[i]) - mean;
    sum_dev += dev * dev;
  }
  const float inv_std = rsqrtf(block_sum(sum_dev, reduce_scratch) / dim + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    out[row * dim + i] = from_f32<A>((to_f32(x_row[i]) - mean) * inv_std * to_f32(gamma[i]) + to_f32(beta[i]));
  }
}

template <bool kFusedAdd>
Status launch_rms(const NormArgs& a, cudaStream_t stream, const char* name) {
  if (a.rows == 0 || a.dim == 0) return ok();
  const int dim = static_cast<int>(a.dim);
  const bool vec_ok = a.dim % 8 == 0 && is_aligned(a.x, 16) && is_aligned(a.out, 16) && is_aligned(a.weight, 16) &&
                      (!kFusedAdd || is_aligned(a.residual, 16)) && a.dim / 8 <= size_t{1024} * kNormMaxChunks;
  if (a.rounded != nullptr) {
    FERRUM_CHECK(a.dim % kRoundGroup == 0 && is_aligned(a.rounded, 16), ErrorCode::kInternal, name,
                 ": rounding rows of ", a.dim, " values (not a multiple of 32) or to an unaligned address");
  }
  const bool round_in_kernel = a.rounded != nullptr && vec_ok;
  const QuantizedX rounded = round_in_kernel ? rounded_rows_layout(a.rounded, a.rows, a.dim) : QuantizedX{};
  const dim3 grid(static_cast<unsigned>(a.rows));
  FERRUM_DISPATCH_FLOAT(
      a.act_dtype, A, name, FERRUM_DISPATCH_FLOAT(a.weight_dtype, W, name, {
        const A* x = static_cast<const A*>(a.x);
        A* residual = static_cast<A*>(a.residual);
        const W* w = static_cast<const W*>(a.weight);
        A* out = static_cast<A*>(a.out);
        if (vec_ok) {
          const unsigned threads = rms_norm_vec_threads(a.rows, a.dim);
          FERRUM_TRY(launch_kernel(name,
                                   round_in_kernel ? rms_norm_vec_kernel<A, W, kFusedAdd, true>
                                                   : rms_norm_vec_kernel<A, W, kFusedAdd, false>,
                                   grid, dim3(threads), 0, stream, x, residual, w, out, dim, a.eps, rounded));
        } else {
          const unsigned threads = norm_threads(a.dim);
          FERRUM_TRY(launch_kernel(name, rms_norm_scalar_kernel<A, W, kFusedAdd>, grid, dim3(threads), 0, stream, x,
                                   residual, w, out, dim, a.eps));
        }
      }));
  if (a.rounded != nullptr && !round_in_kernel) {
    return launch_round_rows(a.out, a.act_dtype, a.rows, a.dim, a.rounded, stream);
  }
  return ok();
}

}  // namespace

Status launch_rms_norm(const NormArgs& args, cudaStream_t stream) {
  return launch_rms<false>(args, stream, "rms_norm");
}

Status launch_fused_add_rms_norm(const NormArgs& args, cudaStream_t stream) {
  return launch_rms<true>(args, stream, "fused_add_rms_norm");
}

Status launch_layer_norm(const NormArgs& a, cudaStream_t stream) {
  if (a.rows == 0 || a.dim == 0) return ok();
  const dim3 grid(static_cast<unsigned>(a.rows));
  const unsigned threads = norm_threads(a.dim);
  FERRUM_DISPATCH_FLOAT(a.act_dtype, A, "layer_norm", FERRUM_DISPATCH_FLOAT(a.weight_dtype, W, "layer_norm", {
                          layer_norm_kernel<A, W><<<grid, threads, 0, stream>>>(
                              static_cast<const A*>(a.x), static_cast<const W*>(a.weight),
                              static_cast<const W*>(a.bias), static_cast<A*>(a.out), static_cast<int>(a.dim), a.eps);
                          FERRUM_TRY(check_launch("layer_norm", grid, threads));
                        }));
  return ok();
}

}  // namespace ferrum::cuda
