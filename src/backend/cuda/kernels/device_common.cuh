// Device-side building blocks shared by the kernels: element conversion to and from f32, 16-byte
// vector loads of eight elements, warp and block reductions, and host-side dtype dispatch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"

namespace ferrum::cuda {

using bf16_t = __nv_bfloat16;
using f16_t = __half;
using f8e4m3_t = __nv_fp8_e4m3;  // KV pools only; rows carry a scale (backend_types.h)

template <class T>
__device__ __forceinline__ float to_f32(T value);
template <>
__device__ __forceinline__ float to_f32<float>(float value) {
  return value;
}
template <>
__device__ __forceinline__ float to_f32<f16_t>(f16_t value) {
  return __half2float(value);
}
template <>
__device__ __forceinline__ float to_f32<bf16_t>(bf16_t value) {
  return __bfloat162float(value);
}
template <>
__device__ __forceinline__ float to_f32<f8e4m3_t>(f8e4m3_t value) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(value.__x, __NV_E4M3)));
}

// Round-to-nearest-even, as the host conversions in core/half.h.
template <class T>
__device__ __forceinline__ T from_f32(float value);
template <>
__device__ __forceinline__ float from_f32<float>(float value) {
  return value;
}
template <>
__device__ __forceinline__ f16_t from_f32<f16_t>(float value) {
  return __float2half_rn(value);
}
template <>
__device__ __forceinline__ bf16_t from_f32<bf16_t>(float value) {
  return __float2bfloat16_rn(value);
}
// Round to nearest even, saturating to +-448 (NaN stays NaN), as core/half.h's to_f8e4m3.
template <>
__device__ __forceinline__ f8e4m3_t from_f32<f8e4m3_t>(float value) {
  f8e4m3_t result;
  result.__x = __nv_cvt_float_to_fp8(value, __NV_SATFINITE, __NV_E4M3);
  return result;
}

// Eight consecutive elements starting at `p`, which must be aligned to 8 elements (16 bytes for
// 2-byte types, 32 for f32): one or two 16-byte loads instead of eight narrow ones.
template <class T>
__device__ __forceinline__ void load8(const T* p, float (&out)[8]) {
  if constexpr (sizeof(T) == 4) {
    const float4 lo = *reinterpret_cast<const float4*>(p);
    const float4 hi = *reinterpret_cast<const float4*>(p + 4);
    out[0] = lo.x, out[1] = lo.y, out[2] = lo.z, out[3] = lo.w;
    out[4] = hi.x, out[5] = hi.y, out[6] = hi.z, out[7] = hi.w;
  } else {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    const T* halves = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = to_f32(halves[i]);
  }
}

template <class T>
__device__ __forceinline__ void store8(T* p, const float (&in)[8]) {
  if constexpr (sizeof(T) == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(in[0], in[1], in[2], in[3]);
    *reinterpret_cast<float4*>(p + 4) = make_float4(in[4], in[5], in[6], in[7]);
  } else {
    uint4 raw;
    T* halves = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int i = 0; i < 8; ++i) halves[i] = from_f32<T>(in[i]);
    *reinterpret_cast<uint4*>(p) = raw;
  }
}

// Eight elements as they sit in memory (one 16-byte vector for 2-byte types, two for f32, one
// 8-byte vector for fp8), kept packed until used so that many loads can be in flight in few registers.
template <class W>
struct Packed8 {
  using Chunk = std::conditional_t<sizeof(W) == 1, uint2, uint4>;
  Chunk raw[sizeof(W) == 4 ? 2 : 1];
  __device__ __forceinline__ void load(const W* p) {
    raw[0] = __ldg(reinterpret_cast<const Chunk*>(p));
    if constexpr (sizeof(W) == 4) raw[1] = __ldg(reinterpret_cast<const Chunk*>(p) + 1);
  }
  __device__ __forceinline__ void clear() {
    raw[0] = Chunk{};
    if constexpr (sizeof(W) == 4) raw[1] = Chunk{};
  }
  __device__ __forceinline__ float operator[](int i) const { return to_f32(reinterpret_cast<const W*>(raw)[i]); }
};

__device__ __forceinline__ float warp_sum(float value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

__device__ __forceinline__ float warp_max(float value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

// Sum over the block; every thread gets the result. `scratch` holds 32 floats; blockDim.x is a
// multiple of 32. Ends with a barrier, so `scratch` may be reused right after.
__device__ __forceinline__ float block_sum(float value, float* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  value = warp_sum(value);
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  value = lane < warps ? scratch[lane] : 0.0f;
  value = warp_sum(value);
  __syncthreads();
  return value;
}

__device__ __forceinline__ float block_max(float value, float* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  value = warp_max(value);
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  value = lane < warps ? scratch[lane] : -INFINITY;
  value = warp_max(value);
  __syncthreads();
  return value;
}

// Small non-negative integers (< 2^23) to float without I2F (a quarter-rate instruction): 2^23 + v
// has v as its mantissa, and subtracting 2^23 is exact.
__device__ __forceinline__ float small_int_to_float(uint32_t v) {
  return __int_as_float(0x4B000000u | v) - 8388608.0f;
}

inline bool is_aligned(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

inline unsigned ceil_div(size_t a, size_t b) {
  return static_cast<unsigned>((a + b - 1) / b);
}

}  // namespace ferrum::cuda

// Runs the statement list with `T` bound to the device type of a float dtype (f32, f16, bf16);
// other dtypes return kUnsupported naming `what`.
#define FERRUM_DISPATCH_FLOAT(dtype, T, what, ...)                                                    \
  switch (dtype) {                                                                                    \
    case ::ferrum::DType::kF32: {                                                                     \
      using T = float;                                                                                \
      __VA_ARGS__;                                                                                    \
      break;                                                                                          \
    }                                                                                                 \
    case ::ferrum::DType::kF16: {                                                                     \
      using T = ::ferrum::cuda::f16_t;                                                                \
      __VA_ARGS__;                                                                                    \
      break;                                                                                          \
    }                                                                                                 \
    case ::ferrum::DType::kBF16: {                                                                    \
      using T = ::ferrum::cuda::bf16_t;                                                               \
      __VA_ARGS__;                                                                                    \
      break;                                                                                          \
    }                                                                                                 \
    default:                                                                                          \
      return ::ferrum::make_error(::ferrum::ErrorCode::kUnsupported, what, ": dtype ", (dtype),       \
                                  " is not supported by the CUDA backend here (f32, f16, bf16 are)"); \
  }
