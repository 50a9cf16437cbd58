// AVX2 dot kernels for every GGUF weight type. Each sums the same integer
// products as vec_dot_reference, exactly (no int16 saturation is possible for the value ranges
// here, noted per kernel), and applies the f32 scales per block, so results differ from the
// reference only by f32 summation order.
#include <cstring>

#include "quant/block_types.h"
#include "quant/half_fast.h"
#include "quant/vec_dot.h"
#include "quant/vec_dot_x86.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace ferrum::quant {

#if defined(__AVX2__)
namespace {

inline float horizontal_sum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

inline int horizontal_sum(__m256i v) {
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(sum);
}

// 32 nibbles of 16 bytes as 32 unsigned bytes: the low nibbles first, then the high ones.
inline __m256i spread_nibbles(const uint8_t* qs) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
  return _mm256_and_si256(both, _mm256_set1_epi8(0xF));
}

// Eight int32 sums of unsigned-by-signed byte products (pairs added in int16 first).
inline __m256i dot_u8_i8(__m256i unsigned_bytes, __m256i signed_bytes) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(unsigned_bytes, signed_bytes), _mm256_set1_epi16(1));
}

// Q4_0 x Q8_0: sum (q - 8) * a = sum q * a - 8 * sum a. Pairs in int16: 2 * 15 * 127 fits.
float dot_q4_0(const BlockQ4_0* w, const BlockQ8_0* a, size_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i eight = _mm256_set1_epi8(8);
  for (size_t b = 0; b < blocks; ++b) {
    const __m256i q = spread_nibbles(w[b].qs);
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
    const __m256i products = _mm256_sub_epi32(dot_u8_i8(q, x), dot_u8_i8(eight, x));
    const float scale = half_to_float(w[b].d) * half_to_float(a[b].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(products), acc);
  }
  return horizontal_sum(acc);
}

// Q8_0 x Q8_0: signed x signed via |w| * (a with w's sign). Activations stay in -127..127, so negating
// them never overflows; w = -128 is fine (|w| = 128 read unsigned). Pairs: 2 * 128 * 127 fits int16.
float dot_q8_0(const BlockQ8_0* w, const BlockQ8_0* a, size_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
    const __m256i products = dot_u8_i8(_mm256_abs_epi8(q), _mm256_sign_epi8(x, q));
    const float scale = half_to_float(w[b].d) * half_to_float(a[b].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(products), acc);
  }
  return horizontal_sum(acc);
}

// Q4_K x Q8_K: per pair of 32-value sub-blocks, unsigned nibbles times activations, each sub-block's
// int16 pair sums multiplied by its 6-bit scale in the madd (2 * 15 * 127 * 63 per lane fits int32).
// Q5_K (kFifthBit) adds bit 2p (low nibbles) / 2p + 1 (high) of qh[l] as the fifth bit (2 * 31 * 127
// fits int16). The scales come from word operations on the packed bytes and an in-lane shuffle; the
// integer sums stay in lanes until the block's float scale, the mins go through the block sums.
template <bool kFifthBit, class Block>
float dot_k4(const Block* w, const BlockQ8_K* a, size_t blocks) {
  const __m256i low_mask = _mm256_set1_epi8(0xF);
  [[maybe_unused]] const __m256i one = _mm256_set1_epi8(1);
  const auto word_select = [](int word) {
    return _mm256_set1_epi16(static_cast<int16_t>((2 * word) | ((2 * word + 1) << 8)));
  };
  const __m256i select[8] = {word_select(0), word_select(1), word_select(2), word_select(3),
                             word_select(4), word_select(5), word_select(6), word_select(7)};
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_min = _mm_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    uint64_t scale_bytes, min_bytes;
    unpack_k4_scales(w[b].scales, scale_bytes, min_bytes);
    const __m256i scales =
        _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(scale_bytes))));
    [[maybe_unused]] __m256i qh;
    if constexpr (kFifthBit) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh));
    __m256i scaled = _mm256_setzero_si256();
    for (size_t pair = 0; pair < 4; ++pair) {
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * pair));
      __m256i low = _mm256_and_si256(packed, low_mask);
      __m256i high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_mask);
      if constexpr (kFifthBit) {
        const __m256i low_bit =
            _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(static_cast<int>(2 * pair))), one);
        const __m256i high_bit =
            _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(static_cast<int>(2 * pair + 1))), one);
        low = _mm256_or_si256(low, _mm256_slli_epi16(low_bit, 4));
        high = _mm256_or_si256(high, _mm256_slli_epi16(high_bit, 4));
      }
      const auto* x = reinterpret_cast<const __m256i*>(a[b].qs + 64 * pair);
      const __m256i low_products = _mm256_maddubs_epi16(low, _mm256_loadu_si256(x));
      const __m256i high_products = _mm256_maddubs_epi16(high, _mm256_loadu_si256(x + 1));
      scaled = _mm256_add_epi32(scaled, _mm256_madd_epi16(low_products, _mm256_shuffle_epi8(scales, select[2 * pair])));
      scaled =
          _mm256_add_epi32(scaled, _mm256_madd_epi16(high_products, _mm256_shuffle_epi8(scales, select[2 * pair + 1])));
    }
    // Min terms: sum_j min_j * (bsums[2j] + bsums[2j + 1]), four int32 lanes.
    const __m128i bsums_low = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[b].bsums));
    const __m128i bsums_high = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[b].bsums + 8));
    const __m128i mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(min_bytes)));
    const __m128i min_terms = _mm_madd_epi16(_mm_hadd_epi16(bsums_low, bsums_high), mins);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * half_to_float(w[b].d)), _mm256_cvtepi32_ps(scaled), acc);
    acc_min = _mm_fmadd_ps(_mm_set1_ps(a[b].d * half_to_float(w[b].dmin)), _mm_cvtepi32_ps(min_terms), acc_min);
  }
  __m128 min_total = _mm_add_ps(acc_min, _mm_movehl_ps(acc_min, acc_min));
  min_total = _mm_add_ss(min_total, _mm_movehdup_ps(min_total));
  return horizontal_sum(acc) - _mm_cvtss_f32(min_total);
}

// Q6_K x Q8_K: unsigned 6-bit q times activations, minus 32 * sum(a) folded in from bsums; each
// 32-byte vector spans two 16-value sub-blocks, so the madd uses a two-lane scale vector.
// Pairs: 2 * 63 * 127 fits int16; lanes: 2 * 16002 * 128 fits int32.
float dot_q6_k(const BlockQ6_K* w, const BlockQ8_K* a, size_t blocks) {
  float sum = 0;
  const __m256i low_mask = _mm256_set1_epi8(0xF);
  const __m256i two_bits = _mm256_set1_epi8(3);
  for (size_t b = 0; b < blocks; ++b) {
    __m256i scaled = _mm256_setzero_si256();
    for (size_t half = 0; half < 2; ++half) {
      const uint8_t* ql = w[b].ql + 64 * half;
      const __m256i ql_first = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i ql_second = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh + 32 * half));
      const __m256i low4[4] = {_mm256_and_si256(ql_first, low_mask), _mm256_and_si256(ql_second, low_mask),
                               _mm256_and_si256(_mm256_srli_epi16(ql_first, 4), low_mask),
                               _mm256_and_si256(_mm256_srli_epi16(ql_second, 4), low_mask)};
      for (size_t quarter = 0; quarter < 4; ++quarter) {
        const __m256i high2 =
            _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(static_cast<int>(2 * quarter))), two_bits);
        const __m256i q = _mm256_or_si256(low4[quarter], _mm256_slli_epi16(high2, 4));
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs + 128 * half + 32 * quarter));
        const int8_t* sub_scales = w[b].scales + 8 * half + 2 * quarter;
        const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sub_scales[1]), _mm_set1_epi16(sub_scales[0]));
        scaled = _mm256_add_epi32(scaled, _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), scale));
      }
    }
    int bias_terms = 0;  // sum_g scale[g] * 32 * sum(a in g)
    for (size_t g = 0; g < 16; ++g) bias_terms += w[b].scales[g] * a[b].bsums[g];
    sum += a[b].d * half_to_float(w[b].d) * static_cast<float>(horizontal_sum(scaled) - 32 * bias_terms);
  }
  return sum;
}

// Sum of 32 signed activation bytes (for the offset and bias terms), as eight int32 lanes.
inline __m256i activation_sums(__m256i x) {
  return dot_u8_i8(_mm256_set1_epi8(1), x);
}

// Bit j of the little-endian u32 at `qh` (the fifth bits of Q5_0 / Q5_1) as 16 in byte j, else 0.
inline __m256i spread_fifth_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof bits);
  const __m256i byte_of_bit = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
  const __m256i bit_in_byte = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201));
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), byte_of_bit);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit_in_byte), bit_in_byte);
  return _mm256_and_si256(set, _mm256_set1_epi8(16));
}

// Legacy types other than Q4_0 / Q8_0: unsigned q (nibble, plus the fifth bit for Q5) against Q8_0;
// value = d * (q - bias) + m, so the dot is d * d_a * (sum q a - bias * sum a) + m * d_a * sum a.
// Pairs: 2 * 31 * 127 fits int16.
template <class Block, int kBias, bool kHasOffset, bool kFiveBits>
float dot_legacy_unsigned(const Block* w, const BlockQ8_0* a, size_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    __m256i q = spread_nibbles(w[b].qs);
    if constexpr (kFiveBits) q = _mm256_or_si256(q, spread_fifth_bits(w[b].qh));
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
    const __m256i sums = activation_sums(x);
    __m256i products = dot_u8_i8(q, x);
    if constexpr (kBias != 0) products = _mm256_sub_epi32(products, _mm256_mullo_epi32(sums, _mm256_set1_epi32(kBias)));
    const float activation_scale = half_to_float(a[b].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(w[b].d) * activation_scale), _mm256_cvtepi32_ps(products), acc);
    if constexpr (kHasOffset) {
      acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(w[b].m) * activation_scale), _mm256_cvtepi32_ps(sums), acc);
    }
  }
  return horizontal_sum(acc);
}

// Q2_K and Q3_K share the 2-bit field order: for half h and shift s, the 32 bytes of qs[32h..] shifted
// by 2s hold values 128h + 32s + l, i.e. sub-blocks 8h + 2s (bytes 0-15) and 8h + 2s + 1 (16-31).
inline __m256i two_bit_field(const uint8_t* qs, size_t half, size_t shift) {
  const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * half));
  return _mm256_and_si256(_mm256_srl_epi16(packed, _mm_cvtsi32_si128(static_cast<int>(2 * shift))),
                          _mm256_set1_epi8(3));
}

// Scale words for the madd of (half, shift): word 2s of `half_scales` (the half's 8 scale words in
// both 128-bit lanes) in every word of the low lane, word 2s + 1 in the high one, by an in-lane
// byte shuffle.
inline __m256i pair_scales(__m256i half_scales, size_t shift) {
  const auto word_bytes = [](int word) { return static_cast<int16_t>((2 * word) | ((2 * word + 1) << 8)); };
  const int s = static_cast<int>(shift);
  return _mm256_shuffle_epi8(
      half_scales, _mm256_set_m128i(_mm_set1_epi16(word_bytes(2 * s + 1)), _mm_set1_epi16(word_bytes(2 * s))));
}

// Sum over the super-block of scale(group) x (unsigned q x a), as eight int32 lanes: maddubs, then madd
// with each lane's group scale. `scale_words` holds the 16 group scales; `unsigned_level(half, shift)`
// the codes of those 32 values.
template <class UnsignedLevel>
__m256i scaled_2bit_products(const int8_t* activations, __m256i scale_words, UnsignedLevel&& unsigned_level) {
  __m256i scaled = _mm256_setzero_si256();
  for (size_t half = 0; half < 2; ++half) {
    const __m256i half_scales = half == 0 ? _mm256_permute2x128_si256(scale_words, scale_words, 0x00)
                                          : _mm256_permute2x128_si256(scale_words, scale_words, 0x11);
    for (size_t shift = 0; shift < 4; ++shift) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(activations + 128 * half + 32 * shift));
      const __m256i products = _mm256_maddubs_epi16(unsigned_level(half, shift), x);
      scaled = _mm256_add_epi32(scaled, _mm256_madd_epi16(products, pair_scales(half_scales, shift)));
    }
  }
  return scaled;
}

// Q2_K x Q8_K. Lanes: 2 * 3 * 127 * 15 per pair, far inside int32. The integer sums stay in lanes
// until the block's float scale; the mins come through the activation block sums.
float dot_q2_k(const BlockQ2_K* w, const BlockQ8_K* a, size_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  const __m128i low_mask = _mm_set1_epi8(0xF);
  for (size_t b = 0; b < blocks; ++b) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales));
    const __m256i scales = _mm256_cvtepu8_epi16(_mm_and_si128(packed, low_mask));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low_mask));
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].bsums));
    const __m256i products = scaled_2bit_products(
        a[b].qs, scales, [&](size_t half, size_t shift) { return two_bit_field(w[b].qs, half, shift); });
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * half_to_float(w[b].d)), _mm256_cvtepi32_ps(products), acc);
    acc = _mm256_fnmadd_ps(_mm256_set1_ps(a[b].d * half_to_float(w[b].dmin)),
                           _mm256_cvtepi32_ps(_mm256_madd_epi16(bsums, mins)), acc);
  }
  return horizontal_sum(acc);
}

// Q3_K x Q8_K: unsigned q = q2 + 4 * hbit in 0..7 decodes as q - 4, so subtract 4 * scale * sum(a).
float dot_q3_k(const BlockQ3_K* w, const BlockQ8_K* a, size_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i one = _mm256_set1_epi8(1);
  for (size_t b = 0; b < blocks; ++b) {
    const __m256i scales = q3_k_scale_words(w[b].scales);
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].bsums));
    const __m256i hmask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].hmask));
    const __m256i products = scaled_2bit_products(a[b].qs, scales, [&](size_t half, size_t shift) {
      const int bit = static_cast<int>(4 * half + shift);  // hmask[l] bit for values 128h + 32s + l
      const __m256i high = _mm256_and_si256(_mm256_srl_epi16(hmask, _mm_cvtsi32_si128(bit)), one);
      return _mm256_or_si256(two_bit_field(w[b].qs, half, shift), _mm256_slli_epi16(high, 2));
    });
    const __m256i bias = _mm256_slli_epi32(_mm256_madd_epi16(bsums, scales), 2);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * half_to_float(w[b].d)),
                          _mm256_cvtepi32_ps(_mm256_sub_epi32(products, bias)), acc);
  }
  return horizontal_sum(acc);
}

}  // namespace

bool vec_dot_simd(DType weight_type, const void* weight_row, const void* activation_row, size_t n, float& result) {
  switch (weight_type) {
    case DType::kQ4_0: result = dot_rows(dot_q4_0, weight_row, activation_row, n); return true;
    case DType::kQ8_0: result = dot_rows(dot_q8_0, weight_row, activation_row, n); return true;
    case DType::kQ4_K: result = dot_rows(dot_k4<false, BlockQ4_K>, weight_row, activation_row, n); return true;
    case DType::kQ4_1:
      result = dot_rows(dot_legacy_unsigned<BlockQ4_1, 0, true, false>, weight_row, activation_row, n);
      return true;
    case DType::kQ5_0:
      result = dot_rows(dot_legacy_unsigned<BlockQ5_0, 16, false, true>, weight_row, activation_row, n);
      return true;
    case DType::kQ5_1:
      result = dot_rows(dot_legacy_unsigned<BlockQ5_1, 0, true, true>, weight_row, activation_row, n);
      return true;
    case DType::kQ2_K: result = dot_rows(dot_q2_k, weight_row, activation_row, n); return true;
    case DType::kQ3_K: result = dot_rows(dot_q3_k, weight_row, activation_row, n); return true;
    case DType::kQ5_K: result = dot_rows(dot_k4<true, BlockQ5_K>, weight_row, activation_row, n); return true;
    case DType::kQ6_K: result = dot_rows(dot_q6_k, weight_row, activation_row, n); return true;
    default: return false;
  }
}

#else

bool vec_dot_simd(DType, const void*, const void*, size_t, float&) {
  return false;
}

#endif

}  // namespace ferrum::quant
