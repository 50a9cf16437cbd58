// Decoding one value of a GGUF block-quantized row on the device, byte for byte as ggml lays the
// blocks out (see src/quant/block_types.h for the field-by-field description). Blocks inside a GGUF
// row are only 2-byte aligned, so fields are read as bytes, never through wide loads.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "core/dtype.h"

namespace ferrum::cuda {

__device__ __forceinline__ float read_f16(const uint8_t* p) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(p[0] | (p[1] << 8))));
}

// Q4_K / Q5_K: six-bit scale and min of sub-block j (0..7) from the 12 packed bytes.
__device__ __forceinline__ void k4_scale_min(const uint8_t* packed, int j, int& scale, int& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = (packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4);
    min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
  }
}

// Q4_K / Q5_K: the six-bit scales and mins of sub-blocks 2c and 2c + 1 (chunk c, 0..3) from a
// super-block's first 16 bytes, held in a register. No branch on c (kernels whose lanes hold
// different chunks would split the warp; the Q4_K GEMV's shapes ran 5-30% faster without it, the
// 8B Q4_K_M decode 6%) and no pointer into the register (local memory): words y, z, w hold the 12
// packed bytes, rearranged into four words of four fields each (scales 0..3, mins 0..3, scales
// 4..7, mins 4..7), then the chunk's two bytes of each are taken by a select and shifts.
struct K4ChunkScales {
  int scale_lo, min_lo, scale_hi, min_hi;
};

__device__ __forceinline__ K4ChunkScales k4_chunk_scales(const uint4& head, int c) {
  const uint32_t scales = c < 2 ? head.y & 0x3F3F3F3Fu : (head.w & 0x0F0F0F0Fu) | ((head.y >> 2) & 0x30303030u);
  const uint32_t mins = c < 2 ? head.z & 0x3F3F3F3Fu : ((head.w >> 4) & 0x0F0F0F0Fu) | ((head.z >> 2) & 0x30303030u);
  const int shift = 16 * (c & 1);
  return {static_cast<int>((scales >> shift) & 0xFFu), static_cast<int>((mins >> shift) & 0xFFu),
          static_cast<int>((scales >> (shift + 8)) & 0xFFu), static_cast<int>((mins >> (shift + 8)) & 0xFFu)};
}

// Value j (0..31) of 32-value group g of the block starting at `b` (g = 0 for the 32-value types).
// Every field a group's values share depends on g alone, so a caller that unrolls j with g fixed
// reads the scales once per group (kernels/quant_mma.cu).
template <DType kType>
__device__ __forceinline__ float gguf_group_value(const uint8_t* b, int g, int j) {
  if constexpr (kType == DType::kQ4_0 || kType == DType::kQ4_1) {
    constexpr int kQs = kType == DType::kQ4_0 ? 2 : 4;
    const int nibble = j < 16 ? (b[kQs + j] & 0xF) : (b[kQs + j - 16] >> 4);
    if constexpr (kType == DType::kQ4_0) return (nibble - 8) * read_f16(b);
    return nibble * read_f16(b) + read_f16(b + 2);
  } else if constexpr (kType == DType::kQ5_0 || kType == DType::kQ5_1) {
    constexpr int kQh = kType == DType::kQ5_0 ? 2 : 4;
    const uint32_t qh = b[kQh] | (b[kQh + 1] << 8) | (b[kQh + 2] << 16) | (uint32_t{b[kQh + 3]} << 24);
    const uint8_t* qs = b + kQh + 4;
    const int low = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    const int q = low | (((qh >> j) & 1) << 4);
    if constexpr (kType == DType::kQ5_0) return (q - 16) * read_f16(b);
    return q * read_f16(b) + read_f16(b + 2);
  } else if constexpr (kType == DType::kQ8_0) {
    return static_cast<int8_t>(b[2 + j]) * read_f16(b);
  } else if constexpr (kType == DType::kQ2_K) {
    // scales[16], qs[64], d, dmin. 128-value halves; within a half, four 32-value columns by shift.
    const int half = g / 4, shift_group = g % 4, sub16 = j / 16, l = j % 16;
    const uint8_t scale = b[half * 8 + shift_group * 2 + sub16];
    const int q = (b[16 + half * 32 + sub16 * 16 + l] >> (2 * shift_group)) & 3;
    return read_f16(b + 80) * (scale & 0xF) * q - read_f16(b + 82) * (scale >> 4);
  } else if constexpr (kType == DType::kQ3_K) {
    // hmask[32], qs[64], scales[12], d. Layout of qs as Q2_K; hmask bit (half*4 + shift_group) set = no -4.
    const int half = g / 4, shift_group = g % 4, sub16 = j / 16, l = j % 16;
    const int s = half * 8 + shift_group * 2 + sub16;
    const uint8_t* packed = b + 96;
    const int low4 = s < 8 ? (packed[s] & 0xF) : (packed[s - 8] >> 4);
    const int high2 = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
    const int scale = (low4 | (high2 << 4)) - 32;
    const int q2 = (b[32 + half * 32 + sub16 * 16 + l] >> (2 * shift_group)) & 3;
    const bool high_bit = (b[sub16 * 16 + l] >> (half * 4 + shift_group)) & 1;
    return read_f16(b + 108) * scale * (q2 - (high_bit ? 0 : 4));
  } else if constexpr (kType == DType::kQ4_K || kType == DType::kQ5_K) {
    // d, dmin, scales[12], [qh[32]], qs[128]: 64-value chunks, low nibbles then high nibbles.
    const int chunk = g / 2, high = g % 2;
    int scale, min;
    k4_scale_min(b + 4, g, scale, min);
    constexpr int kQs = kType == DType::kQ4_K ? 16 : 48;
    const uint8_t byte = b[kQs + chunk * 32 + j];
    int q = high ? (byte >> 4) : (byte & 0xF);
    if constexpr (kType == DType::kQ5_K) q |= ((b[16 + j] >> g) & 1) << 4;
    return read_f16(b) * scale * q - read_f16(b + 2) * min;
  } else if constexpr (kType == DType::kQ6_K) {
    // ql[128], qh[64], scales[16] (int8), d: 128-value halves of four 32-value quarters.
    const int half = g / 4, quarter = g % 4;
    const uint8_t low_byte = b[half * 64 + j + (quarter & 1) * 32];
    const int low = quarter < 2 ? (low_byte & 0xF) : (low_byte >> 4);
    const int high = (b[128 + half * 32 + j] >> (2 * quarter)) & 3;
    const int scale = static_cast<int8_t>(b[192 + half * 8 + j / 16 + 2 * quarter]);
    return read_f16(b + 208) * scale * ((low | (high << 4)) - 32);
  } else {
    static_assert(kType == DType::kQ4_0, "unsupported GGUF type");
    return 0.0f;
  }
}

// Value `i` (0 .. block_elems-1) of the block starting at `b`.
template <DType kType>
__device__ __forceinline__ float gguf_block_value(const uint8_t* b, int i) {
  return gguf_group_value<kType>(b, i / 32, i % 32);
}

}  // namespace ferrum::cuda

// Binds constexpr `kType` to a runtime GGUF DType (the ten weight types of GgufQuantType).
#define FERRUM_DISPATCH_GGUF(dtype, kType, what, ...)                                           \
  switch (dtype) {                                                                              \
    case ::ferrum::DType::kQ4_0: {                                                              \
      constexpr auto kType = ::ferrum::DType::kQ4_0;                                            \
      __VA_ARGS__;                                                                              \
      break;                                                                                    \
    }                                                                                           \
    case ::ferrum::DType::kQ4_1: {                                                              \
      constexpr auto kType = ::ferrum::DType::kQ4_1;                                            \
      __VA_ARGS__;                                                                              \
      break;                                                                                    \
    }                                                                                           \
    case ::ferrum::DType::kQ5_0: {                                                              \
      constexpr auto kType = ::ferrum::DType::kQ5_0;                                            \
      __VA_ARGS__;                                                                              \
      break;                                                                                    \
    }                                                                                           \
    case ::ferrum::DType::kQ5_1: {                                                              \
      constexpr auto kType = ::ferrum::DType::kQ5_1;                                            \
      __VA_ARGS__;                                                                              \
      break;                                                                                    \
    }                                                                                           \
    case ::ferrum::DType::kQ8_0: {                                                              \
      constexpr auto kType = ::ferrum::DType::kQ8_0;                                            \
      __VA_ARGS__;                                                                              \
      break;                                                                                    \
    }                                                                                           \
    case ::ferrum::DType::kQ2_K: {                                                              \
      constexpr auto kType = ::ferrum::DType::kQ2_K;                                            \
      __VA_ARGS__;                                                                              \
      break;                                                                                    \
    }                                                                                           \
    case ::ferrum::DType::kQ3_K: {                                                              \
      constexpr auto kType = ::ferrum::DType::kQ3_K;                                            \
      __VA_ARGS__;                                                                              \
      break;                                                                                    \
    }                                                                                           \
    case ::ferrum::DType::kQ4_K: {                                                              \
      constexpr auto kType = ::ferrum::DType::kQ4_K;                                            \
      __VA_ARGS__;                                                                              \
      break;                                                                                    \
    }                                                                                           \
    case ::ferrum::DType::kQ5_K: {                                                              \
      constexpr auto kType = ::ferrum::DType::kQ5_K;                                            \
      __VA_ARGS__;                                                                              \
      break;                                                                                    \
    }                                                                                           \
    case ::ferrum::DType::kQ6_K: {                                                              \
      constexpr auto kType = ::ferrum::DType::kQ6_K;                                            \
      __VA_ARGS__;                                                                              \
      break;                                                                                    \
    }                                                                                           \
    default:                                                                                    \
      return ::ferrum::make_error(::ferrum::ErrorCode::kUnsupported, what, ": dtype ", (dtype), \
                                  " is not a GGUF weight type the CUDA backend decodes");       \
  }
