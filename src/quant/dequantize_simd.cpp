#include "quant/dequantize_simd.h"

#include "quant/block_types.h"
#include "quant/half_fast.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace ferrum::quant {

#if defined(__AVX2__)
namespace {

// Widens the low 8 signed bytes of `bytes` to floats (exact).
inline __m256 low8_to_float(__m128i bytes) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
}

// Stores 16 signed bytes times `scale` to dst[0..15].
inline void store_scaled16(__m128i bytes, __m256 scale, float* dst) {
  _mm256_storeu_ps(dst, _mm256_mul_ps(low8_to_float(bytes), scale));
  _mm256_storeu_ps(dst + 8, _mm256_mul_ps(low8_to_float(_mm_srli_si128(bytes, 8)), scale));
}

// Stores (16 unsigned bytes * scale) - offset; the subtraction is a separate rounding as in the reference.
inline void store_scaled_minus16(__m128i bytes, __m256 scale, __m256 offset, float* dst) {
  const __m256 low = _mm256_mul_ps(low8_to_float(bytes), scale);
  const __m256 high = _mm256_mul_ps(low8_to_float(_mm_srli_si128(bytes, 8)), scale);
  _mm256_storeu_ps(dst, _mm256_sub_ps(low, offset));
  _mm256_storeu_ps(dst + 8, _mm256_sub_ps(high, offset));
}

void decode_q4_0(const BlockQ4_0* blocks, float* dst, size_t count) {
  const __m128i low_mask = _mm_set1_epi8(0xF);
  const __m128i bias = _mm_set1_epi8(8);
  for (size_t b = 0; b < count; ++b, dst += kLegacyBlock) {
    const __m256 d = _mm256_set1_ps(half_to_float(blocks[b].d));
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[b].qs));
    const __m128i low = _mm_sub_epi8(_mm_and_si128(packed, low_mask), bias);
    const __m128i high = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(packed, 4), low_mask), bias);
    store_scaled16(low, d, dst);
    store_scaled16(high, d, dst + 16);
  }
}

void decode_q8_0(const BlockQ8_0* blocks, float* dst, size_t count) {
  for (size_t b = 0; b < count; ++b, dst += kLegacyBlock) {
    const __m256 d = _mm256_set1_ps(half_to_float(blocks[b].d));
    const auto* qs = reinterpret_cast<const __m128i*>(blocks[b].qs);
    store_scaled16(_mm_loadu_si128(qs), d, dst);
    store_scaled16(_mm_loadu_si128(qs + 1), d, dst + 16);
  }
}

void decode_q4_k(const BlockQ4_K* blocks, float* dst, size_t count) {
  const __m128i low_mask = _mm_set1_epi8(0xF);
  for (size_t b = 0; b < count; ++b, dst += kSuperBlock) {
    const BlockQ4_K& block = blocks[b];
    const float d = half_to_float(block.d);
    const float dmin = half_to_float(block.dmin);
    for (size_t pair = 0; pair < 4; ++pair) {
      uint8_t scale_low, min_low, scale_high, min_high;
      unpack_k4_scale_min(block.scales, 2 * pair, scale_low, min_low);
      unpack_k4_scale_min(block.scales, 2 * pair + 1, scale_high, min_high);
      const __m256 scale0 = _mm256_set1_ps(d * static_cast<float>(scale_low));
      const __m256 offset0 = _mm256_set1_ps(dmin * static_cast<float>(min_low));
      const __m256 scale1 = _mm256_set1_ps(d * static_cast<float>(scale_high));
      const __m256 offset1 = _mm256_set1_ps(dmin * static_cast<float>(min_high));
      const auto* qs = reinterpret_cast<const __m128i*>(block.qs + 32 * pair);
      float* out = dst + 64 * pair;
      for (size_t half = 0; half < 2; ++half) {
        const __m128i packed = _mm_loadu_si128(qs + half);
        const __m128i low = _mm_and_si128(packed, low_mask);
        const __m128i high = _mm_and_si128(_mm_srli_epi16(packed, 4), low_mask);
        store_scaled_minus16(low, scale0, offset0, out + 16 * half);
        store_scaled_minus16(high, scale1, offset1, out + 32 + 16 * half);
      }
    }
  }
}

void decode_q6_k(const BlockQ6_K* blocks, float* dst, size_t count) {
  const __m128i low_mask = _mm_set1_epi8(0xF);
  const __m128i two_bits = _mm_set1_epi8(3);
  const __m128i bias = _mm_set1_epi8(32);
  for (size_t b = 0; b < count; ++b, dst += kSuperBlock) {
    const BlockQ6_K& block = blocks[b];
    const float d = half_to_float(block.d);
    for (size_t half = 0; half < 2; ++half) {
      const uint8_t* ql = block.ql + 64 * half;
      const uint8_t* qh = block.qh + 32 * half;
      const int8_t* scales = block.scales + 8 * half;
      float* out = dst + 128 * half;
      for (size_t l = 0; l < 32; l += 16) {  // 16 values share one scale per quarter
        const __m128i ql_first = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ql + l));
        const __m128i ql_second = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ql + l + 32));
        const __m128i high_bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qh + l));
        const __m128i low4[4] = {_mm_and_si128(ql_first, low_mask), _mm_and_si128(ql_second, low_mask),
                                 _mm_and_si128(_mm_srli_epi16(ql_first, 4), low_mask),
                                 _mm_and_si128(_mm_srli_epi16(ql_second, 4), low_mask)};
        for (size_t quarter = 0; quarter < 4; ++quarter) {
          // Byte shifts via 16-bit lanes are safe here: the mask drops bits from the neighbour byte.
          const __m128i high2 =
              _mm_and_si128(_mm_srl_epi16(high_bits, _mm_cvtsi32_si128(static_cast<int>(2 * quarter))), two_bits);
          const __m128i q = _mm_sub_epi8(_mm_or_si128(low4[quarter], _mm_slli_epi16(high2, 4)), bias);
          const __m256 scale = _mm256_set1_ps(d * static_cast<float>(scales[l / 16 + 2 * quarter]));
          store_scaled16(q, scale, out + 32 * quarter + l);
        }
      }
    }
  }
}

}  // namespace

bool dequantize_blocks_simd(DType type, const void* src, float* dst, size_t n) {
  const size_t blocks = n / dtype_info(type).block_elems;
  switch (type) {
    case DType::kQ4_0: decode_q4_0(static_cast<const BlockQ4_0*>(src), dst, blocks); return true;
    case DType::kQ8_0: decode_q8_0(static_cast<const BlockQ8_0*>(src), dst, blocks); return true;
    case DType::kQ4_K: decode_q4_k(static_cast<const BlockQ4_K*>(src), dst, blocks); return true;
    case DType::kQ6_K: decode_q6_k(static_cast<const BlockQ6_K*>(src), dst, blocks); return true;
    default: return false;
  }
}

#else

bool dequantize_blocks_simd(DType, const void*, float*, size_t) {
  return false;
}

#endif

}  // namespace ferrum::quant
