// Activation rows rounded to int8 per 32 values: what the fused GGUF GEMV (quant_gemv.cu)
// multiplies its weights' integers by. The GEMV rounds x itself in a launch of its own; a norm or
// activation kernel can instead write the rounding beside its float output (norm.cu,
// elementwise.cu), so the GEMVs that read that output skip the launch (161 of them per 8B Q4_K_M
// decode step, ~2-3 us each in a graph).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/cuda/kernels/device_common.cuh"
#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

inline constexpr int kRoundGroup = 32;  // values per int8 scale (one Q8_0 block, one Q4_K sub-block)

// x [m, k] rounded: q [m, k] int8, and per group of 32 values (groups [m, k / 32], row-major) the
// scale max |x| / 127 (1 for an all-zero group) and the scaled sum of the group's integers. The sum
// is of the rounded values, so the GEMV computes exactly decode(w) . x_rounded.
struct QuantizedX {
  int8_t* q = nullptr;
  float* scale = nullptr;
  float* sum = nullptr;
};

inline size_t align16(size_t bytes) {
  return (bytes + 15) / 16 * 16;
}

// Bytes of the rounding of [m, k] (k % 32 == 0): q, then the scales, then the sums, each 16-byte aligned.
inline size_t rounded_rows_bytes(size_t m, size_t k) {
  return align16(m * k) + 2 * align16(m * (k / kRoundGroup) * sizeof(float));
}

inline QuantizedX rounded_rows_layout(void* base, size_t m, size_t k) {
  uint8_t* bytes = static_cast<uint8_t*>(base);
  const size_t q_bytes = align16(m * k), group_bytes = align16(m * (k / kRoundGroup) * sizeof(float));
  return {reinterpret_cast<int8_t*>(bytes), reinterpret_cast<float*>(bytes + q_bytes),
          reinterpret_cast<float*>(bytes + q_bytes + group_bytes)};
}

// Rounds one value's group the GEMV's way: scale = max |x| / 127, q = round-half-even(x / scale)
// in IEEE f32 division (the op test mirrors it on the host bit for bit).
__device__ __forceinline__ float rounding_scale(float amax) {
  return amax > 0.0f ? amax / 127.0f : 1.0f;
}

// Rounds a thread's 8 consecutive values of a group of 32 that four consecutive lanes hold (the
// lane with lane % 4 == 0 first); `first` is the index of v[0] in [m, k]. The values must be the
// ones stored, already rounded to the activation dtype, so the result equals rounding the stored
// output. Every lane of the warp must call it (the shuffles take all 32); lanes with `active` false
// hold no group and write nothing (a group's four lanes are all active or all not).
__device__ __forceinline__ void round_eight(const float (&v)[8], bool active, QuantizedX xq, size_t first) {
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < 8; ++i) amax = fmaxf(amax, active ? fabsf(v[i]) : 0.0f);
  amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
  amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
  const float scale = rounding_scale(amax);
  uint32_t packed[2] = {0, 0};
  float total = 0.0f;  // integers below 2^12: exact in any order
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int q = active ? __float2int_rn(v[i] / scale) : 0;
    total += static_cast<float>(q);
    packed[i / 4] |= (static_cast<uint32_t>(q) & 0xFFu) << (8 * (i % 4));
  }
  total += __shfl_xor_sync(0xffffffffu, total, 1);
  total += __shfl_xor_sync(0xffffffffu, total, 2);
  if (!active) return;
  *reinterpret_cast<uint2*>(xq.q + first) = make_uint2(packed[0], packed[1]);
  if (first % kRoundGroup == 0) {
    xq.scale[first / kRoundGroup] = scale;
    xq.sum[first / kRoundGroup] = scale * total;
  }
}

// The rounding of x [m, k] (k % 32 == 0) by itself, for outputs no kernel rounded on the way out.
Status launch_round_rows(const void* x, DType x_dtype, size_t m, size_t k, void* rounded, cudaStream_t stream);

}  // namespace ferrum::cuda
