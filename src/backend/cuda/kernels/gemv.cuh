// The skinny GEMM the backend ships for decode (m = 1..8 activation rows): out[t, j] = x[t, :] . w[j, :].
// Versions 3-6 of lab/gemv_lab.cu are instances of gemv_kernel, version 2 is gemv_many_rows_kernel;
// gemv.cu picks per m from the lab's measurements (lab/NOTES.md).
//
// Decode reads every weight once per token, so this kernel is a memory-bandwidth kernel: each lane
// issues kUnroll independent 16-byte weight loads per row before using any of them (enough bytes in
// flight to cover HBM latency), a warp owns kRows whole rows so the x values it loads are reused
// across rows, and the dot products are finished with one warp reduction per output.
//
// Every kernel here is PDL-aware (kernels/launch.cuh): it lets the next kernel launch at once,
// prefetches the first `prefetch_bytes` of its weight rows into L2 (weights never depend on the
// previous kernel), and only then waits for the previous kernel before touching x or out.
#pragma once

#include "backend/cuda/kernels/activation.cuh"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/launch.cuh"

namespace ferrum::cuda {

__device__ __forceinline__ void store_as(void* out, DType dtype, size_t index, float value) {
  switch (dtype) {
    case DType::kF16: static_cast<f16_t*>(out)[index] = __float2half_rn(value); break;
    case DType::kBF16: static_cast<bf16_t*>(out)[index] = __float2bfloat16_rn(value); break;
    default: static_cast<float*>(out)[index] = value; break;
  }
}

inline constexpr int kGemvWarps = 8;

// The prologue every GEMV shares: release the next kernel, prefetch `rows` weight rows from
// `first_row` (one thread per row; rows must start 16-byte aligned), then wait for the previous
// kernel's results.
template <class W>
__device__ __forceinline__ void gemv_prologue(const W* w, int first_row, int rows, int n, int k,
                                              unsigned prefetch_bytes) {
  pdl_launch_dependents();
  const int r = threadIdx.x;
  if (prefetch_bytes != 0 && r < rows && first_row + r < n) {
    const size_t row_bytes = static_cast<size_t>(k) * sizeof(W);
    prefetch_l2(w + static_cast<size_t>(first_row + r) * k,
                static_cast<uint32_t>(row_bytes < prefetch_bytes ? row_bytes : prefetch_bytes));
  }
  pdl_wait();
}

// kM: activation rows handled (m <= kM; the rest are skipped), kRows: weight rows per warp,
// kUnroll: 8-element chunks per lane in flight per row. Needs k % 8 == 0 and 16-byte aligned rows.
template <class A, class W, int kM, int kRows, int kUnroll>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_kernel(const A* __restrict__ x, const W* __restrict__ w, void* __restrict__ out, DType out_dtype, int m, int n,
                int k, unsigned prefetch_bytes) {
  const int lane = threadIdx.x % 32;
  gemv_prologue(w, blockIdx.x * kGemvWarps * kRows, kGemvWarps * kRows, n, k, prefetch_bytes);
  const int row0 = (blockIdx.x * kGemvWarps + threadIdx.x / 32) * kRows;
  if (row0 >= n) return;
  const int chunks = k / 8;
  float acc[kM][kRows] = {};
  for (int base = 0; base < chunks; base += 32 * kUnroll) {
    Packed8<W> weights[kUnroll][kRows];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int chunk = base + u * 32 + lane;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (chunk < chunks && row0 + r < n) {
          weights[u][r].load(w + static_cast<size_t>(row0 + r) * k + chunk * 8);
        } else {
          weights[u][r].clear();
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int chunk = base + u * 32 + lane;
      if (chunk >= chunks) break;
#pragma unroll
      for (int t = 0; t < kM; ++t) {
        if (t >= m) break;
        float xs[8];
        load8(x + static_cast<size_t>(t) * k + chunk * 8, xs);
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[t][r] = fmaf(weights[u][r][i], xs[i], acc[t][r]);
        }
      }
    }
  }
#pragma unroll
  for (int t = 0; t < kM; ++t) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float total = warp_sum(acc[t][r]);
      if (lane == 0 && t < m && row0 + r < n) store_as(out, out_dtype, static_cast<size_t>(t) * n + row0 + r, total);
    }
  }
}

// One activation row (decode at batch 1), the winner of lab/gemv_chain_lab.cu ("split2 c2w8", run
// 2: qkv 90%, o_proj 89%, down 95%, lm_head 104% of the copy bandwidth in a graph chain, against
// 85-87 / 78 / 85 / 103% for gemv_kernel): kSplit warps share a weight row, each taking a kSplit-th
// of k with two 16-byte chunks per lane in flight, and add their parts through shared memory. More
// warps per row shorten each warp's serial chain of loads and multiply the blocks, which evens out
// the last wave. kSplit is gemv_split_warps()'s: 4 in the 8B bf16 decode (2: -0.5%, 8: no gain;
// four chunks in flight per lane: -1.5%; bench/results/2026-11-27-h100-gemv-split.md). Needs
// k % 8 == 0 and 16-byte aligned rows.
inline constexpr int kGemvSplitChunks = 2;

// With `early_loads` a warp's first weight chunks are requested before the wait on the previous
// kernel (weights never depend on it): in a decode step the kernels before the projections (a norm
// of one block, the attention's few dozen) leave most SMs free, so the GEMV's blocks are resident
// early and their first loads cover the previous kernel's tail.
template <class A, class W, int kSplit>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_split_row_kernel(const A* __restrict__ x, const W* __restrict__ w, void* __restrict__ out, DType out_dtype,
                          int n, int k, unsigned prefetch_bytes, bool early_loads) {
  constexpr int kRowsPerBlock = kGemvWarps / kSplit;
  __shared__ float halves[kGemvWarps];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row = blockIdx.x * kRowsPerBlock + warp / kSplit;
  const int part = warp % kSplit;
  const int chunks = k / 8;
  const int per_part = chunks / kSplit;
  const int begin = part * per_part, end = part + 1 == kSplit ? chunks : begin + per_part;
  const W* w_row = w + static_cast<size_t>(min(row, n - 1)) * k;
  Packed8<W> weights[kGemvSplitChunks];
  const auto load_chunks = [&](int base) {
#pragma unroll
    for (int u = 0; u < kGemvSplitChunks; ++u) {
      const int chunk = base + u * 32 + lane;
      if (chunk < end) {
        weights[u].load(w_row + chunk * 8);
      } else {
        weights[u].clear();
      }
    }
  };
  if (early_loads && row < n) load_chunks(begin);
  gemv_prologue(w, blockIdx.x * kRowsPerBlock, kRowsPerBlock, n, k, prefetch_bytes);
  float acc = 0.0f;
  if (row < n) {
    for (int base = begin; base < end; base += 32 * kGemvSplitChunks) {
      if (base != begin || !early_loads) load_chunks(base);
#pragma unroll
      for (int u = 0; u < kGemvSplitChunks; ++u) {
        const int chunk = base + u * 32 + lane;
        if (chunk >= end) break;
        float xs[8];
        load8(x + chunk * 8, xs);
#pragma unroll
        for (int i = 0; i < 8; ++i) acc = fmaf(weights[u][i], xs[i], acc);
      }
    }
  }
  acc = warp_sum(acc);
  if (lane == 0) halves[warp] = acc;
  __syncthreads();
  if (lane == 0 && part == 0 && row < n) {
    float total = 0.0f;
#pragma unroll
    for (int p = 0; p < kSplit; ++p) total += halves[warp + p];
    store_as(out, out_dtype, row, total);
  }
}

// For 5..8 activation rows (version 2 of the lab, which won there for m = 8): one 16-byte weight
// chunk per lane per step, then every token's x chunk against it; the plain strided loop leaves
// the compiler free to overlap successive steps' loads, and the small register footprint keeps
// more warps resident. Needs k % 8 == 0 and 16-byte aligned rows.
template <class A, class W>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_many_rows_kernel(const A* __restrict__ x, const W* __restrict__ w, void* __restrict__ out, DType out_dtype,
                          int m, int n, int k, unsigned prefetch_bytes) {
  constexpr int kMaxM = 8;
  gemv_prologue(w, blockIdx.x * kGemvWarps, kGemvWarps, n, k, prefetch_bytes);
  const int row = blockIdx.x * kGemvWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= n) return;
  float acc[kMaxM] = {};
  for (int c = 8 * lane; c < k; c += 256) {
    float weights[8];
    load8(w + static_cast<size_t>(row) * k + c, weights);
#pragma unroll
    for (int t = 0; t < kMaxM; ++t) {
      if (t >= m) break;
      float xs[8];
      load8(x + static_cast<size_t>(t) * k + c, xs);
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[t] = fmaf(weights[i], xs[i], acc[t]);
    }
  }
#pragma unroll
  for (int t = 0; t < kMaxM; ++t) {
    const float total = warp_sum(acc[t]);
    if (lane == 0 && t < m) store_as(out, out_dtype, static_cast<size_t>(t) * n + row, total);
  }
}

// Any k and alignment: one warp per row, scalar loads.
template <class A, class W>
__global__ void gemv_scalar_kernel(const A* __restrict__ x, const W* __restrict__ w, void* __restrict__ out,
                                   DType out_dtype, int m, int n, int k) {
  pdl_launch_dependents();
  pdl_wait();
  const int lane = threadIdx.x % 32;
  const int row = blockIdx.x * kGemvWarps + threadIdx.x / 32;
  if (row >= n) return;
  for (int t = 0; t < m; ++t) {
    float acc = 0.0f;
    for (int i = lane; i < k; i += 32)
      acc = fmaf(to_f32(w[static_cast<size_t>(row) * k + i]), to_f32(x[static_cast<size_t>(t) * k + i]), acc);
    acc = warp_sum(acc);
    if (lane == 0) store_as(out, out_dtype, static_cast<size_t>(t) * n + row, acc);
  }
}

// The gate / up projection of a gated MLP with its activation applied on the way out:
// out[t, j] = act(x[t] . w[j]) * (x[t] . w[im + j]) for a weight w [2 im, k] holding the gate rows
// first. A warp owns output j and reads both of its rows, so the x loads serve two rows and the
// [m, 2 im] intermediate never reaches memory. Needs k % 8 == 0 and 16-byte aligned rows.
template <class A, class W, int kM, Activation kAct>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gated_gemv_kernel(const A* __restrict__ x, const W* __restrict__ w, A* __restrict__ out, int m, int im, int k,
                      unsigned prefetch_bytes) {
  const int lane = threadIdx.x % 32;
  pdl_launch_dependents();
  const int first = blockIdx.x * kGemvWarps;
  if (prefetch_bytes != 0 && static_cast<int>(threadIdx.x) < 2 * kGemvWarps) {
    // Threads 0..7 prefetch the block's gate rows, 8..15 its up rows.
    const int j = first + static_cast<int>(threadIdx.x) % kGemvWarps;
    const int row = j + (static_cast<int>(threadIdx.x) >= kGemvWarps ? im : 0);
    const size_t row_bytes = static_cast<size_t>(k) * sizeof(W);
    if (j < im) {
      prefetch_l2(w + static_cast<size_t>(row) * k,
                  static_cast<uint32_t>(row_bytes < prefetch_bytes ? row_bytes : prefetch_bytes));
    }
  }
  pdl_wait();
  const int j = first + threadIdx.x / 32;
  if (j >= im) return;
  const W* gate_row = w + static_cast<size_t>(j) * k;
  const W* up_row = w + static_cast<size_t>(im + j) * k;
  float gate[kM] = {}, up[kM] = {};
  for (int c = 8 * lane; c < k; c += 256) {
    Packed8<W> g, u;
    g.load(gate_row + c);
    u.load(up_row + c);
#pragma unroll
    for (int t = 0; t < kM; ++t) {
      if (t >= m) break;
      float xs[8];
      load8(x + static_cast<size_t>(t) * k + c, xs);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        gate[t] = fmaf(g[i], xs[i], gate[t]);
        up[t] = fmaf(u[i], xs[i], up[t]);
      }
    }
  }
#pragma unroll
  for (int t = 0; t < kM; ++t) {
    const float g = warp_sum(gate[t]);
    const float u = warp_sum(up[t]);
    if (lane == 0 && t < m) out[static_cast<size_t>(t) * im + j] = from_f32<A>(activate<kAct>(g) * u);
  }
}

// One activation row of the gated projection, in gemv_split_row_kernel's shape: kSplit warps share
// output j, each taking a kSplit-th of k over both its rows (gate j and up j), and add their parts
// through shared memory before the activation. kSplit is gated_gemv_split_warps()'s: 8, a block per
// output (a block reads two rows, so two warps a row left blocks twice the plain GEMV's bytes and
// a long last wave: 8B gate / up 82.7 -> 79.4 us, tg128 @ d512 175.0 -> 178.8 tok/s).
// `early_loads` as in gemv_split_row_kernel: the first chunk of both rows before the wait.
template <class A, class W, Activation kAct, int kSplit>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gated_gemv_split_kernel(const A* __restrict__ x, const W* __restrict__ w, A* __restrict__ out, int im, int k,
                            bool early_loads) {
  constexpr int kOutputsPerBlock = kGemvWarps / kSplit;
  __shared__ float halves[2][kGemvWarps];
  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int j = blockIdx.x * kOutputsPerBlock + warp / kSplit;
  const int part = warp % kSplit;
  const int chunks = k / 8;
  const int per_part = chunks / kSplit;
  const int begin = part * per_part, end = part + 1 == kSplit ? chunks : begin + per_part;
  const W* gate_row = w + static_cast<size_t>(min(j, im - 1)) * k;
  const W* up_row = w + static_cast<size_t>(im + min(j, im - 1)) * k;
  Packed8<W> g, u;
  const bool early = early_loads && j < im && begin + lane < end;
  if (early) {
    g.load(gate_row + (begin + lane) * 8);
    u.load(up_row + (begin + lane) * 8);
  }
  pdl_wait();
  float gate = 0.0f, up = 0.0f;
  if (j < im) {
    for (int c = begin + lane; c < end; c += 32) {
      if (c != begin + lane || !early) {
        g.load(gate_row + c * 8);
        u.load(up_row + c * 8);
      }
      float xs[8];
      load8(x + c * 8, xs);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        gate = fmaf(g[i], xs[i], gate);
        up = fmaf(u[i], xs[i], up);
      }
    }
  }
  gate = warp_sum(gate);
  up = warp_sum(up);
  if (lane == 0) {
    halves[0][warp] = gate;
    halves[1][warp] = up;
  }
  __syncthreads();
  if (lane == 0 && part == 0 && j < im) {
    float g = 0.0f, u = 0.0f;
#pragma unroll
    for (int p = 0; p < kSplit; ++p) {
      g += halves[0][warp + p];
      u += halves[1][warp + p];
    }
    out[j] = from_f32<A>(activate<kAct>(g) * u);
  }
}

}  // namespace ferrum::cuda
