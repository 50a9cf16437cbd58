// Decoding GGUF blocks 32 values (one group) at a time on the device, for the kernels that expand
// or multiply whole tiles (quant_mma.cu, dequant.cu). Versions in lab/quant_mma_lab.cu: v1 decodes
// any type value by value through gguf_group_value; v2 has a decoder per type for Q4_K (16-byte
// loads, 64 values per call), Q6_K and Q8_0 (16-bit loads: their blocks are only 2-byte aligned),
// turning integers into floats without I2F. Every decoder rounds as gguf_block_value does.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/gguf_decode.cuh"

namespace ferrum::cuda {

template <DType kType>
constexpr int gguf_block_elems() {
  return kType == DType::kQ2_K || kType == DType::kQ3_K || kType == DType::kQ4_K || kType == DType::kQ5_K ||
                 kType == DType::kQ6_K
             ? 256
             : 32;
}

__device__ __forceinline__ float f16_bits_to_float(uint32_t bits) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits & 0xFFFF)));
}

__device__ __forceinline__ uint32_t load_u16(const uint8_t* p) {
  return *reinterpret_cast<const unsigned short*>(p);
}

// v1: any GGUF type, value by value (gguf_group_value reads each field as bytes).
template <DType kType>
__device__ __forceinline__ void decode_group_generic(const uint8_t* block, int g, float (&v)[32]) {
#pragma unroll
  for (int j = 0; j < 32; ++j) v[j] = gguf_group_value<kType>(block, g, j);
}

// v2, Q8_0: the 2-byte aligned block read as 16-bit words; int8 q -> float through q ^ 0x80 (0..255).
__device__ __forceinline__ void decode_group_q8_0(const uint8_t* block, float (&v)[32]) {
  const float d = f16_bits_to_float(load_u16(block));
#pragma unroll
  for (int j = 0; j < 32; j += 2) {
    const uint32_t pair = load_u16(block + 2 + j) ^ 0x8080u;
    v[j] = (small_int_to_float(pair & 0xFF) - 128.0f) * d;
    v[j + 1] = (small_int_to_float(pair >> 8) - 128.0f) * d;
  }
}

// v2, Q6_K group g: 32 low-nibble bytes, 32 two-bit bytes, two int8 scales (one per 16 values).
// s (q - 32) as fma(q, s, -32 s): -32 s is exact, so the one rounding matches the reference's.
__device__ __forceinline__ void decode_group_q6_k(const uint8_t* block, int g, float (&v)[32]) {
  const int half = g / 4, quarter = g % 4;
  const uint8_t* ql = block + half * 64 + (quarter & 1) * 32;
  const uint8_t* qh = block + 128 + half * 32;
  const int low_shift = quarter < 2 ? 0 : 4, high_shift = 2 * quarter;
  const float d = f16_bits_to_float(load_u16(block + 208));
  const uint32_t scale_pair = load_u16(block + 192 + half * 8 + 2 * quarter);
  const float s0 = d * static_cast<float>(static_cast<int8_t>(scale_pair & 0xFF));
  const float s1 = d * static_cast<float>(static_cast<int8_t>(scale_pair >> 8));
#pragma unroll
  for (int j = 0; j < 32; j += 2) {
    const uint32_t low = load_u16(ql + j) >> low_shift, high = load_u16(qh + j) >> high_shift;
    const float s = j < 16 ? s0 : s1;
    const uint32_t q0 = (low & 0xF) | ((high & 3) << 4), q1 = ((low >> 8) & 0xF) | (((high >> 8) & 3) << 4);
    v[j] = fmaf(small_int_to_float(q0), s, -32.0f * s);
    v[j + 1] = fmaf(small_int_to_float(q1), s, -32.0f * s);
  }
}

// v2, Q4_K chunk c (0..3) of a 16-byte aligned super-block: 64 values, groups 2c (low nibbles) and
// 2c + 1 (high) of the same 32 bytes, from one 16-byte header load and two 16-byte nibble loads.
// Loading and decoding are apart so a caller can hold the next chunk's bytes while it works.
struct Q4KChunk {
  uint4 head, q_lo, q_hi;
};

__device__ __forceinline__ Q4KChunk load_chunk_q4_k(const uint8_t* block, int c) {
  return {*reinterpret_cast<const uint4*>(block), *reinterpret_cast<const uint4*>(block + 16 + c * 32),
          *reinterpret_cast<const uint4*>(block + 32 + c * 32)};
}

__device__ __forceinline__ void decode_chunk_q4_k(const Q4KChunk& raw, int c, float (&low)[32], float (&high)[32]) {
  const auto [scale_lo, min_lo, scale_hi, min_hi] = k4_chunk_scales(raw.head, c);
  const float d = f16_bits_to_float(raw.head.x), dmin = f16_bits_to_float(raw.head.x >> 16);
  const float s_lo = d * static_cast<float>(scale_lo), m_lo = -(dmin * static_cast<float>(min_lo));
  const float s_hi = d * static_cast<float>(scale_hi), m_hi = -(dmin * static_cast<float>(min_hi));
  const uint32_t words[8] = {raw.q_lo.x, raw.q_lo.y, raw.q_lo.z, raw.q_lo.w,
                             raw.q_hi.x, raw.q_hi.y, raw.q_hi.z, raw.q_hi.w};
#pragma unroll
  for (int w = 0; w < 8; ++w) {
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      const uint32_t byte = (words[w] >> (8 * b)) & 0xFF;
      low[4 * w + b] = fmaf(small_int_to_float(byte & 0xF), s_lo, m_lo);
      high[4 * w + b] = fmaf(small_int_to_float(byte >> 4), s_hi, m_hi);
    }
  }
}

// Group g (0 .. block elems / 32 - 1) of the block at `block`: v2's decoder where the type has one
// (unless kGeneric), v1's otherwise.
template <DType kType, bool kGeneric = false>
__device__ __forceinline__ void decode_group(const uint8_t* block, int g, float (&v)[32]) {
  if constexpr (kType == DType::kQ8_0 && !kGeneric) {
    decode_group_q8_0(block, v);
  } else if constexpr (kType == DType::kQ6_K && !kGeneric) {
    decode_group_q6_k(block, g, v);
  } else {
    decode_group_generic<kType>(block, g, v);
  }
}

}  // namespace ferrum::cuda
