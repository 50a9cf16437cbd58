#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/activation.cuh"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/elementwise.h"
#include "backend/cuda/kernels/launch.cuh"
#include "backend/cuda/kernels/rounded_rows.cuh"

namespace ferrum::cuda {
namespace {

constexpr unsigned kThreads = 256;

// Enough blocks to fill the device several times over; grid-stride loops cover the rest.
dim3 grid_for(size_t items) {
  size_t blocks = (items + kThreads - 1) / kThreads;
  if (blocks > 65535 * 4) blocks = 65535 * 4;
  if (blocks == 0) blocks = 1;
  return dim3(static_cast<unsigned>(blocks));
}

// residual += x. With `vec` (both aligned, n % 8 == 0) each thread moves 8 elements per step with
// 16-byte loads and stores.
template <class A>
__global__ void add_inplace_kernel(A* residual, const A* x, size_t n, bool vec) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  if (vec) {
    for (size_t c = blockIdx.x * size_t{blockDim.x} + threadIdx.x; c < n / 8; c += stride) {
      float r[8], v[8];
      load8(residual + c * 8, r);
      load8(x + c * 8, v);
#pragma unroll
      for (int i = 0; i < 8; ++i) r[i] += v[i];
      store8(residual + c * 8, r);
    }
    return;
  }
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += stride) {
    residual[i] = from_f32<A>(to_f32(residual[i]) + to_f32(x[i]));
  }
}

template <class A, class W>
__global__ void add_bias_kernel(A* data, const W* __restrict__ bias, size_t rows, size_t cols) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < rows * cols; i += stride) {
    data[i] = from_f32<A>(to_f32(data[i]) + to_f32(bias[i % cols]));
  }
}

template <class A, Activation kAct>
__global__ void activation_kernel(const A* x, A* out, size_t n) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += stride) {
    out[i] = from_f32<A>(activate<kAct>(to_f32(x[i])));
  }
}

template <class A>
__global__ void scale_kernel(A* data, size_t n, float factor) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += stride) {
    data[i] = from_f32<A>(to_f32(data[i]) * factor);
  }
}

template <class A>
__global__ void softcap_kernel(A* data, size_t n, float cap) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += stride) {
    data[i] = from_f32<A>(cap * tanhf(to_f32(data[i]) / cap));
  }
}

// One thread per 8 outputs when im % 8 == 0 and rows are 16-byte aligned, else one per output.
template <class A, Activation kAct>
__global__ void act_mul_split_kernel(const A* __restrict__ gate_up, A* __restrict__ out, size_t tokens, size_t im,
                                     bool vec) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  if (vec) {
    const size_t chunks_per_row = im / 8;
    for (size_t c = blockIdx.x * size_t{blockDim.x} + threadIdx.x; c < tokens * chunks_per_row; c += stride) {
      const size_t t = c / chunks_per_row, col = (c % chunks_per_row) * 8;
      float gate[8], up[8];
      load8(gate_up + t * 2 * im + col, gate);
      load8(gate_up + t * 2 * im + im + col, up);
#pragma unroll
      for (int i = 0; i < 8; ++i) gate[i] = activate<kAct>(gate[i]) * up[i];
      store8(out + t * im + col, gate);
    }
    return;
  }
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < tokens * im; i += stride) {
    const size_t t = i / im, col = i % im;
    out[i] = from_f32<A>(activate<kAct>(to_f32(gate_up[t * 2 * im + col])) * to_f32(gate_up[t * 2 * im + im + col]));
  }
}

// act_mul_split_kernel's vector path, a thread per 8 outputs and no grid stride, writing out's rows
// rounded to int8 as well (rounded_rows.cuh; im % 32 == 0, so a group's four threads are all in
// range or all out). In a quantized decode step it sits between the gate / up and down GEMVs, so it
// is launched with PDL and lets the down GEMV launch at once: that GEMV then stages its first
// weights while this runs (its blocks spread by balanced residency, launch_settings.h). H100 8B
// decode, with that balance: Q8_0 +1.9-2.5%, Q4_K_M +1.5-2%, GPTQ +2.4%
// (bench/results/2026-11-28-h100-pdl-balance.md).
template <class A, Activation kAct>
__global__ void act_mul_split_rounded_kernel(const A* __restrict__ gate_up, A* __restrict__ out, size_t tokens,
                                             size_t im, QuantizedX rounded) {
  pdl_launch_dependents();
  pdl_wait();
  const size_t chunks_per_row = im / 8;
  const size_t c = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  const bool active = c < tokens * chunks_per_row;
  const size_t t = active ? c / chunks_per_row : 0, col = active ? (c % chunks_per_row) * 8 : 0;
  float gate[8] = {}, up[8];
  if (active) {
    load8(gate_up + t * 2 * im + col, gate);
    load8(gate_up + t * 2 * im + im + col, up);
#pragma unroll
    for (int i = 0; i < 8; ++i) gate[i] = to_f32(from_f32<A>(activate<kAct>(gate[i]) * up[i]));
    store8(out + t * im + col, gate);
  }
  round_eight(gate, active, rounded, t * im + col);
}

template <class S, class D>
__global__ void convert_kernel(const S* __restrict__ src, D* __restrict__ dst, size_t n) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += stride)
    dst[i] = from_f32<D>(to_f32(src[i]));
}

}  // namespace

Status launch_add_inplace(void* residual, const void* x, DType dtype, size_t len, cudaStream_t stream) {
  if (len == 0) return ok();
  const bool vec = len % 8 == 0 && is_aligned(residual, 32) && is_aligned(x, 32);
  const dim3 grid = grid_for(vec ? len / 8 : len);
  FERRUM_DISPATCH_FLOAT(dtype, A, "add_inplace", {
    add_inplace_kernel<A><<<grid, kThreads, 0, stream>>>(static_cast<A*>(residual), static_cast<const A*>(x), len, vec);
  });
  return check_launch("add_inplace", grid, kThreads);
}

Status launch_add_bias(void* data, DType dtype, const void* bias, DType bias_dtype, size_t rows, size_t cols,
                       cudaStream_t stream) {
  if (rows * cols == 0) return ok();
  const dim3 grid = grid_for(rows * cols);
  FERRUM_DISPATCH_FLOAT(dtype, A, "add_bias", FERRUM_DISPATCH_FLOAT(bias_dtype, W, "add_bias", {
                          add_bias_kernel<A, W><<<grid, kThreads, 0, stream>>>(static_cast<A*>(data),
                                                                               static_cast<const W*>(bias), rows, cols);
                        }));
  return check_launch("add_bias", grid, kThreads);
}

Status launch_activation(const void* x, void* out, DType dtype, size_t len, Activation act, cudaStream_t stream) {
  if (len == 0) return ok();
  const dim3 grid = grid_for(len);
  FERRUM_DISPATCH_FLOAT(dtype, A, "activation", FERRUM_DISPATCH_ACTIVATION(act, kAct, {
                          activation_kernel<A, kAct>
                              <<<grid, kThreads, 0, stream>>>(static_cast<const A*>(x), static_cast<A*>(out), len);
                        }));
  return check_launch("activation", grid, kThreads);
}

Status launch_scale(void* data, DType dtype, size_t len, float factor, cudaStream_t stream) {
  if (len == 0) return ok();
  const dim3 grid = grid_for(len);
  FERRUM_DISPATCH_FLOAT(dtype, A, "scale",
                        { scale_kernel<A><<<grid, kThreads, 0, stream>>>(static_cast<A*>(data), len, factor); });
  return check_launch("scale", grid, kThreads);
}

Status launch_softcap(void* data, DType dtype, size_t len, float cap, cudaStream_t stream) {
  if (len == 0) return ok();
  const dim3 grid = grid_for(len);
  FERRUM_DISPATCH_FLOAT(dtype, A, "softcap",
                        { softcap_kernel<A><<<grid, kThreads, 0, stream>>>(static_cast<A*>(data), len, cap); });
  return check_launch("softcap", grid, kThreads);
}

Status launch_act_mul_split(const void* gate_up, void* out, DType dtype, size_t tokens, size_t im, Activation act,
                            cudaStream_t stream) {
  if (tokens * im == 0) return ok();
  const size_t elem = dtype_info(dtype).block_bytes;
  const bool vec = im % 8 == 0 && is_aligned(gate_up, 8 * elem) && is_aligned(out, 8 * elem);
  const dim3 grid = grid_for(vec ? tokens * im / 8 : tokens * im);
  FERRUM_DISPATCH_FLOAT(dtype, A, "fused_act_mul_split", FERRUM_DISPATCH_ACTIVATION(act, kAct, {
                          act_mul_split_kernel<A, kAct><<<grid, kThreads, 0, stream>>>(
                              static_cast<const A*>(gate_up), static_cast<A*>(out), tokens, im, vec);
                        }));
  return check_launch("fused_act_mul_split", grid, kThreads);
}

Status launch_act_mul_split_rounded(const void* gate_up, void* out, DType dtype, size_t tokens, size_t im,
                                    Activation act, void* rounded, cudaStream_t stream) {
  if (tokens * im == 0) return ok();
  FERRUM_CHECK(im % kRoundGroup == 0 && is_aligned(rounded, 16), ErrorCode::kInternal,
               "fused_act_mul_split: rounding rows of ", im,
               " values (not a multiple of 32) or to an unaligned address");
  const size_t elem = dtype_info(dtype).block_bytes;
  if (!is_aligned(gate_up, 8 * elem) || !is_aligned(out, 8 * elem)) {
    FERRUM_TRY(launch_act_mul_split(gate_up, out, dtype, tokens, im, act, stream));
    return launch_round_rows(out, dtype, tokens, im, rounded, stream);
  }
  const QuantizedX xq = rounded_rows_layout(rounded, tokens, im);
  const dim3 grid(ceil_div(tokens * im / 8, kThreads));
  FERRUM_DISPATCH_FLOAT(
      dtype, A, "fused_act_mul_split", FERRUM_DISPATCH_ACTIVATION(act, kAct, {
        FERRUM_TRY(launch_kernel("fused_act_mul_split", act_mul_split_rounded_kernel<A, kAct>, grid, dim3(kThreads), 0,
                                 stream, static_cast<const A*>(gate_up), static_cast<A*>(out), tokens, im, xq));
      }));
  return ok();
}

Status launch_convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t len, cudaStream_t stream) {
  if (len == 0) return ok();
  const dim3 grid = grid_for(len);
  FERRUM_DISPATCH_FLOAT(src_dtype, S, "convert", FERRUM_DISPATCH_FLOAT(dst_dtype, D, "convert", {
                          convert_kernel<S, D>
                              <<<grid, kThreads, 0, stream>>>(static_cast<const S*>(src), static_cast<D*>(dst), len);
                        }));
  return check_launch("convert", grid, kThreads);
}

}  // namespace ferrum::cuda
