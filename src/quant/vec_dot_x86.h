// What the AVX2 and AVX-512 dot kernels (vec_dot_simd.cpp, vec_dot_avx512.cpp) share: their
// dispatch from untyped rows, and the K-quants' scale unpacking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "quant/block_types.h"

namespace ferrum::quant {

// kernel(weight blocks, activation blocks, block count) on rows of n values: the activation block
// type (Q8_0 or Q8_K) fixes the block length.
template <class Weight, class Activation>
float dot_rows(float (*kernel)(const Weight*, const Activation*, size_t), const void* weight_row,
               const void* activation_row, size_t n) {
  constexpr size_t kBlock = std::is_same_v<Activation, BlockQ8_K> ? kSuperBlock : kLegacyBlock;
  return kernel(static_cast<const Weight*>(weight_row), static_cast<const Activation*>(activation_row), n / kBlock);
}

// Q4_K's 12 scale bytes as 8 six-bit scales and 8 six-bit mins, one byte each, with 32-bit word
// operations (the layout of unpack_k4_scale_min: sub-blocks 0-3 in the low six bits of bytes 0-3
// and 4-7, sub-blocks 4-7 as low nibbles in bytes 8-11 plus the top two bits of bytes 0-7).
inline void unpack_k4_scales(const uint8_t* packed, uint64_t& scales, uint64_t& mins) {
  uint32_t w[3];
  std::memcpy(w, packed, sizeof w);
  const uint32_t low6 = 0x3F3F3F3Fu, low4 = 0x0F0F0F0Fu, low2 = 0x03030303u;
  const uint32_t scales_low = w[0] & low6;
  const uint32_t mins_low = w[1] & low6;
  const uint32_t scales_high = (w[2] & low4) | (((w[0] >> 6) & low2) << 4);
  const uint32_t mins_high = ((w[2] >> 4) & low4) | (((w[1] >> 6) & low2) << 4);
  scales = static_cast<uint64_t>(scales_low) | (static_cast<uint64_t>(scales_high) << 32);
  mins = static_cast<uint64_t>(mins_low) | (static_cast<uint64_t>(mins_high) << 32);
}

}  // namespace ferrum::quant

#if defined(__AVX2__)
#include <immintrin.h>

namespace ferrum::quant {

// Q3_K's 16 six-bit scales (stored + 32) as signed words: the low four bits are the nibbles of
// bytes 0-7 (scales 0-7 low, 8-15 high), the top two are bits 2(i / 4)..+1 of byte 8 + i % 4.
inline __m256i q3_k_scale_words(const uint8_t* packed) {
  uint64_t low_bytes;
  uint32_t high_bytes;
  std::memcpy(&low_bytes, packed, sizeof low_bytes);
  std::memcpy(&high_bytes, packed + 8, sizeof high_bytes);
  const __m128i low = _mm_cvtsi64_si128(static_cast<int64_t>(low_bytes));
  const __m128i low4 = _mm_and_si128(_mm_unpacklo_epi64(low, _mm_srli_epi16(low, 4)), _mm_set1_epi8(0x0F));
  const uint32_t two = 0x03030303u;
  const __m128i high2 =
      _mm_setr_epi32(static_cast<int>(high_bytes & two), static_cast<int>((high_bytes >> 2) & two),
                     static_cast<int>((high_bytes >> 4) & two), static_cast<int>((high_bytes >> 6) & two));
  const __m128i biased = _mm_or_si128(low4, _mm_slli_epi16(high2, 4));
  return _mm256_sub_epi16(_mm256_cvtepu8_epi16(biased), _mm256_set1_epi16(32));
}

}  // namespace ferrum::quant
#endif
