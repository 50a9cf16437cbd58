#include "quant/vec_dot_avx512.h"

// Before anything else includes it: GCC 12 reports its own AVX-512 intrinsics (which start from
// _mm512_undefined_*) as used uninitialized once inlined (GCC bug 105593).
#if defined(__AVX512F__) && defined(__AVX512BW__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#define FERRUM_DOT_AVX512 1
#endif

#include <cstdint>
#include <cstring>

#include "quant/block_types.h"
#include "quant/half_fast.h"
#include "quant/vec_dot_x86.h"

namespace ferrum::quant {

#if defined(FERRUM_DOT_AVX512)
namespace {

// Q4_K x Q8_K. Pair p of sub-blocks shares 32 bytes of nibbles: the bytes broadcast to both
// halves of a register, the upper half shifted down by 4, give the 64 codes of sub-blocks 2p and
// 2p+1 in the order of activations 64p..64p+63. maddubs (15 * 127 * 2 fits int16), then the words
// times a vector holding scale 2p in its low 16 words and scale 2p+1 in its high 16, added into the
// int32 sums (VNNI's dpwssd: one instruction; else madd and add). Q5_K (kFifthBit) adds bit 2p
// (low half) / 2p + 1 (high half) of qh[l] as each code's fifth bit (31 * 127 * 2 fits int16).
template <bool kFifthBit, class Block>
float dot_k4(const Block* w, const BlockQ8_K* a, size_t blocks) {
  __m512 acc = _mm512_setzero_ps();
  __m128 acc_min = _mm_setzero_ps();
  const __m512i low_mask = _mm512_set1_epi8(0x0F);
  const __m512i half_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
  // The 8 scale words sit in every 128-bit lane; pair p's in-lane byte shuffle puts word 2p in each
  // word of the low 256 bits and word 2p+1 in each of the high (a shuffle within lanes, cheaper than
  // a word permute across them).
  const auto word_bytes = [](int word) { return static_cast<int16_t>((2 * word) | ((2 * word + 1) << 8)); };
  const __m512i pair_select[4] = {
      _mm512_inserti64x4(_mm512_set1_epi16(word_bytes(0)), _mm256_set1_epi16(word_bytes(1)), 1),
      _mm512_inserti64x4(_mm512_set1_epi16(word_bytes(2)), _mm256_set1_epi16(word_bytes(3)), 1),
      _mm512_inserti64x4(_mm512_set1_epi16(word_bytes(4)), _mm256_set1_epi16(word_bytes(5)), 1),
      _mm512_inserti64x4(_mm512_set1_epi16(word_bytes(6)), _mm256_set1_epi16(word_bytes(7)), 1),
  };
  [[maybe_unused]] const __m512i one = _mm512_set1_epi8(1);
  [[maybe_unused]] const __m512i pair_bit[4] = {
      _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(1), 1),
      _mm512_inserti64x4(_mm512_set1_epi16(2), _mm256_set1_epi16(3), 1),
      _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(5), 1),
      _mm512_inserti64x4(_mm512_set1_epi16(6), _mm256_set1_epi16(7), 1),
  };
  for (size_t b = 0; b < blocks; ++b) {
    uint64_t scale_bytes, min_bytes;
    unpack_k4_scales(w[b].scales, scale_bytes, min_bytes);
    const __m512i scales =
        _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(scale_bytes))));
    __m512i sums = _mm512_setzero_si512();
    [[maybe_unused]] __m512i fifth_bits;
    if constexpr (kFifthBit) {
      fifth_bits = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh)));
    }
    for (size_t pair = 0; pair < 4; ++pair) {
      const __m512i packed =
          _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * pair)));
      __m512i codes = _mm512_and_si512(_mm512_srlv_epi16(packed, half_shift), low_mask);
      if constexpr (kFifthBit) {
        const __m512i fifth = _mm512_and_si512(_mm512_srlv_epi16(fifth_bits, pair_bit[pair]), one);
        codes = _mm512_or_si512(codes, _mm512_slli_epi16(fifth, 4));
      }
      const __m512i x = _mm512_loadu_si512(a[b].qs + 64 * pair);
      const __m512i products = _mm512_maddubs_epi16(codes, x);
      const __m512i pair_scales = _mm512_shuffle_epi8(scales, pair_select[pair]);
#if defined(__AVX512VNNI__)
      sums = _mm512_dpwssd_epi32(sums, products, pair_scales);
#else
      sums = _mm512_add_epi32(sums, _mm512_madd_epi16(products, pair_scales));
#endif
    }
    // Min terms: sum_j min_j * (bsums[2j] + bsums[2j + 1]), four int32 lanes.
    const __m128i bsums_low = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[b].bsums));
    const __m128i bsums_high = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[b].bsums + 8));
    const __m128i group_sums = _mm_hadd_epi16(bsums_low, bsums_high);
    const __m128i mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(min_bytes)));
    const __m128i min_terms = _mm_madd_epi16(group_sums, mins);
    const float d = a[b].d * half_to_float(w[b].d);
    const float dmin = a[b].d * half_to_float(w[b].dmin);
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sums), acc);
    acc_min = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(min_terms), acc_min);
  }
  __m128 min_total = _mm_add_ps(acc_min, _mm_movehl_ps(acc_min, acc_min));
  min_total = _mm_add_ss(min_total, _mm_movehdup_ps(min_total));
  return _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(min_total);
}

#if defined(__AVX512VNNI__)
// Scale words for dpwssd against maddubs' pair sums of 64 consecutive values of a 16-value
// sub-block type (Q2_K, Q3_K, Q6_K): 128-bit lane L of the result holds scale word first + L in all its
// eight words, `scales` holding the block's 16 scale words.
inline __m512i lane_scales(__m512i scales, int first) {
  const __m512i lane_of_word =
      _mm512_srli_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12,
                                         11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                        3);
  return _mm512_permutexvar_epi16(_mm512_add_epi16(lane_of_word, _mm512_set1_epi16(static_cast<int16_t>(first))),
                                  scales);
}

// Q6_K x Q8_K with VNNI. A half (128 values) is 64 bytes of low nibbles and 32 of high pairs: the
// low nibbles give values 0-63 of the half, the high nibbles 64-127; the high-pair byte, broadcast to
// both 256-bit halves and shifted by a per-half count (0 | 2 for the first 64, 4 | 6 for the rest),
// gives their two top bits. Codes are unsigned (q + 32, 0..63): maddubs sums code x activation pairs
// into words (63 * 128 * 2 fits int16), each 128-bit lane one 16-value sub-block, and dpwssd adds
// them times the lane's signed scale into the int32 sums. The +32 offset comes back out through the
// activation block sums: sum_g scale[g] * 32 * bsums[g].
float dot_q6_k(const BlockQ6_K* w, const BlockQ8_K* a, size_t blocks) {
  const __m512i low_mask = _mm512_set1_epi8(0x0F);
  const __m512i two_bits = _mm512_set1_epi8(0x03);
  const __m512i shift_first = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  const __m512i shift_second =
      _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(4)), _mm256_set1_epi16(6), 1);
  __m512 acc = _mm512_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    const __m256i scale_words = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales)));
    const __m512i scales = _mm512_castsi256_si512(scale_words);
    __m512i sums = _mm512_setzero_si512();
    for (int half = 0; half < 2; ++half) {
      const __m512i ql = _mm512_loadu_si512(w[b].ql + 64 * half);
      const __m512i qh =
          _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh + 32 * half)));
      const __m512i high_first = _mm512_and_si512(_mm512_srlv_epi16(qh, shift_first), two_bits);
      const __m512i high_second = _mm512_and_si512(_mm512_srlv_epi16(qh, shift_second), two_bits);
      const __m512i codes_first = _mm512_or_si512(_mm512_and_si512(ql, low_mask), _mm512_slli_epi16(high_first, 4));
      const __m512i codes_second =
          _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low_mask), _mm512_slli_epi16(high_second, 4));
      const __m512i x_first = _mm512_loadu_si512(a[b].qs + 128 * half);
      const __m512i x_second = _mm512_loadu_si512(a[b].qs + 128 * half + 64);
      const __m512i scale_first = lane_scales(scales, 8 * half);
      const __m512i scale_second = lane_scales(scales, 8 * half + 4);
      sums = _mm512_dpwssd_epi32(sums, _mm512_maddubs_epi16(codes_first, x_first), scale_first);
      sums = _mm512_dpwssd_epi32(sums, _mm512_maddubs_epi16(codes_second, x_second), scale_second);
    }
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].bsums));
    const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums, scale_words), 5);
    const float d = a[b].d * half_to_float(w[b].d);
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(_mm512_sub_epi32(sums, _mm512_zextsi256_si512(offset))),
                          acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// Q2_K and Q3_K's 2-bit fields: for half h the 32 bytes qs[32h..32h+31] shifted by 2s hold values
// 128h + 32s + l. Broadcast to both 256-bit halves and shifted by (0 | 2) or (4 | 6), they give the
// 64 consecutive values 128h + 64p .. 128h + 64p + 63 (p = 0, 1), the order of the activations.
inline __m512i two_bit_codes(const uint8_t* qs, int half, int p) {
  const __m512i packed = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * half)));
  const __m512i shift = _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(4 * p)),
                                           _mm256_set1_epi16(static_cast<int16_t>(4 * p + 2)), 1);
  return _mm512_and_si512(_mm512_srlv_epi16(packed, shift), _mm512_set1_epi8(3));
}

// Q2_K x Q8_K with VNNI: unsigned 2-bit codes, maddubs into pair sums (each 128-bit lane one
// 16-value sub-block), dpwssd with the lane's 4-bit scale; the mins through the activation block
// sums, sum_g min_g * bsums[g], as eight int32 lanes scaled by dmin once per block.
float dot_q2_k(const BlockQ2_K* w, const BlockQ8_K* a, size_t blocks) {
  __m512 acc = _mm512_setzero_ps();
  __m256 acc_min = _mm256_setzero_ps();
  const __m128i low_mask = _mm_set1_epi8(0x0F);
  for (size_t b = 0; b < blocks; ++b) {
    const __m128i packed_scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales));
    const __m512i scales = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(packed_scales, low_mask)));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed_scales, 4), low_mask));
    __m512i sums = _mm512_setzero_si512();
    for (int half = 0; half < 2; ++half) {
      for (int p = 0; p < 2; ++p) {
        const __m512i x = _mm512_loadu_si512(a[b].qs + 128 * half + 64 * p);
        const __m512i products = _mm512_maddubs_epi16(two_bit_codes(w[b].qs, half, p), x);
        sums = _mm512_dpwssd_epi32(sums, products, lane_scales(scales, 8 * half + 4 * p));
      }
    }
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].bsums));
    const __m256i min_terms = _mm256_madd_epi16(bsums, mins);
    acc = _mm512_fmadd_ps(_mm512_set1_ps(a[b].d * half_to_float(w[b].d)), _mm512_cvtepi32_ps(sums), acc);
    acc_min =
        _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * half_to_float(w[b].dmin)), _mm256_cvtepi32_ps(min_terms), acc_min);
  }
  __m128 min_total = _mm_add_ps(_mm256_castps256_ps128(acc_min), _mm256_extractf128_ps(acc_min, 1));
  min_total = _mm_add_ps(min_total, _mm_movehl_ps(min_total, min_total));
  min_total = _mm_add_ss(min_total, _mm_movehdup_ps(min_total));
  return _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(min_total);
}

// Q3_K x Q8_K with VNNI: unsigned codes q2 + 4 h (0..7; the value is that minus 4), maddubs, dpwssd
// with the lane's signed scale; the -4 comes back out as 4 sum_g scale_g * bsums[g]. hmask[l] bit
// 4h + 2p (low 256 bits) and 4h + 2p + 1 (high) is the third bit of the 64 values of (h, p).
float dot_q3_k(const BlockQ3_K* w, const BlockQ8_K* a, size_t blocks) {
  __m512 acc = _mm512_setzero_ps();
  const __m512i one = _mm512_set1_epi8(1);
  for (size_t b = 0; b < blocks; ++b) {
    const __m256i scale_words = q3_k_scale_words(w[b].scales);
    const __m512i scales = _mm512_castsi256_si512(scale_words);
    const __m512i hmask = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].hmask)));
    __m512i sums = _mm512_setzero_si512();
    for (int half = 0; half < 2; ++half) {
      for (int p = 0; p < 2; ++p) {
        const int bit = 4 * half + 2 * p;
        const __m512i bit_shift = _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(bit)),
                                                     _mm256_set1_epi16(static_cast<int16_t>(bit + 1)), 1);
        const __m512i high = _mm512_and_si512(_mm512_srlv_epi16(hmask, bit_shift), one);
        const __m512i codes = _mm512_or_si512(two_bit_codes(w[b].qs, half, p), _mm512_slli_epi16(high, 2));
        const __m512i x = _mm512_loadu_si512(a[b].qs + 128 * half + 64 * p);
        sums = _mm512_dpwssd_epi32(sums, _mm512_maddubs_epi16(codes, x), lane_scales(scales, 8 * half + 4 * p));
      }
    }
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].bsums));
    const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums, scale_words), 2);
    acc = _mm512_fmadd_ps(_mm512_set1_ps(a[b].d * half_to_float(w[b].d)),
                          _mm512_cvtepi32_ps(_mm512_sub_epi32(sums, _mm512_zextsi256_si512(offset))), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

#if defined(__AVX512VL__)
// Q4_0 x Q8_0 with VNNI on 256-bit registers, a block each (two blocks per 512-bit register
// needed a lane shuffle that made it 9% slower than AVX2 on one AMD EPYC core): the 16 nibble bytes
// and the same shifted down by 4, masked, are the block's 32 unsigned codes in order. The other
// legacy types likewise: value = d (q - kBias) + m with q the nibble, or for Q5_0 / Q5_1 the nibble
// plus 16 where bit j of qh is set (a masked byte add: AVX-512 masks hold the 32 bits as they are).
// The dot is d d_a (sum q a - sum kBias a) + m d_a sum a, each sum one dpbusd. Blocks alternate
// between two accumulators: with an offset each block adds two FMAs into its accumulator, and one
// chain of them set the pace (Q4_1 28 -> 37 GFLOP/s on one core).
template <class Block, int kBias, bool kHasOffset, bool kFiveBits>
float dot_legacy(const Block* w, const BlockQ8_0* a, size_t blocks) {
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi8(1);
  const __m256i bias = _mm256_set1_epi8(kBias);
  const __m256i sixteens = _mm256_set1_epi8(16);
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  const auto add_block = [&](size_t b, __m256& sum) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    __m256i codes = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low_mask);
    if constexpr (kFiveBits) {
      uint32_t fifth;
      std::memcpy(&fifth, w[b].qh, sizeof fifth);
      codes = _mm256_mask_add_epi8(codes, _cvtu32_mask32(fifth), codes, sixteens);
    }
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
    __m256i integer = _mm256_dpbusd_epi32(_mm256_setzero_si256(), codes, x);
    if constexpr (kBias != 0) integer = _mm256_sub_epi32(integer, _mm256_dpbusd_epi32(_mm256_setzero_si256(), bias, x));
    const float activation_scale = half_to_float(a[b].d);
    sum = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(w[b].d) * activation_scale), _mm256_cvtepi32_ps(integer), sum);
    if constexpr (kHasOffset) {
      const __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, x);
      sum = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(w[b].m) * activation_scale), _mm256_cvtepi32_ps(sums), sum);
    }
  };
  size_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    add_block(b, acc[0]);
    add_block(b + 1, acc[1]);
  }
  if (b < blocks) add_block(b, acc[0]);
  const __m256 both = _mm256_add_ps(acc[0], acc[1]);
  __m128 total = _mm_add_ps(_mm256_castps256_ps128(both), _mm256_extractf128_ps(both, 1));
  total = _mm_add_ps(total, _mm_movehl_ps(total, total));
  total = _mm_add_ss(total, _mm_movehdup_ps(total));
  return _mm_cvtss_f32(total);
}
#endif

// Q8_0 x Q8_0 with VNNI, two blocks per register. dpbusd takes unsigned x signed: the weights
// shifted to w + 128 (an xor of the sign bit) give sum (w + 128) a, and 128 sum a comes off again
// (sum a from a dpbusd with ones). Each 256-bit half is one block, scaled by its d_w * d_a.
float dot_q8_0(const BlockQ8_0* w, const BlockQ8_0* a, size_t blocks) {
  const __m512i sign_bit = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i ones = _mm512_set1_epi8(1);
  __m512 acc = _mm512_setzero_ps();
  size_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    const __m512i weights =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs))),
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b + 1].qs)), 1);
    const __m512i x =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs))),
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b + 1].qs)), 1);
    const __m512i shifted = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(weights, sign_bit), x);
    const __m512i x_sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, x);
    const __m512i products = _mm512_sub_epi32(shifted, _mm512_slli_epi32(x_sums, 7));
    const __m512 scale = _mm512_insertf32x8(_mm512_set1_ps(half_to_float(w[b].d) * half_to_float(a[b].d)),
                                            _mm256_set1_ps(half_to_float(w[b + 1].d) * half_to_float(a[b + 1].d)), 1);
    acc = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(products), acc);
  }
  float sum = _mm512_reduce_add_ps(acc);
  for (; b < blocks; ++b) {  // an odd last block
    int total = 0;
    for (size_t j = 0; j < kLegacyBlock; ++j) total += w[b].qs[j] * a[b].qs[j];
    sum += half_to_float(w[b].d) * half_to_float(a[b].d) * static_cast<float>(total);
  }
  return sum;
}
#endif

}  // namespace

bool vec_dot_avx512(DType weight_type, const void* weight_row, const void* activation_row, size_t n, float& result) {
  switch (weight_type) {
    case DType::kQ4_K: result = dot_rows(dot_k4<false, BlockQ4_K>, weight_row, activation_row, n); return true;
    case DType::kQ5_K: result = dot_rows(dot_k4<true, BlockQ5_K>, weight_row, activation_row, n); return true;
#if defined(__AVX512VNNI__)
    case DType::kQ6_K: result = dot_rows(dot_q6_k, weight_row, activation_row, n); return true;
    case DType::kQ2_K: result = dot_rows(dot_q2_k, weight_row, activation_row, n); return true;
    case DType::kQ3_K: result = dot_rows(dot_q3_k, weight_row, activation_row, n); return true;
#if defined(__AVX512VL__)
    case DType::kQ4_0:
      result = dot_rows(dot_legacy<BlockQ4_0, 8, false, false>, weight_row, activation_row, n);
      return true;
    case DType::kQ4_1:
      result = dot_rows(dot_legacy<BlockQ4_1, 0, true, false>, weight_row, activation_row, n);
      return true;
    case DType::kQ5_0:
      result = dot_rows(dot_legacy<BlockQ5_0, 16, false, true>, weight_row, activation_row, n);
      return true;
    case DType::kQ5_1:
      result = dot_rows(dot_legacy<BlockQ5_1, 0, true, true>, weight_row, activation_row, n);
      return true;
#endif
    case DType::kQ8_0: result = dot_rows(dot_q8_0, weight_row, activation_row, n); return true;
#endif
    default: return false;
  }
}

#else

bool vec_dot_avx512(DType, const void*, const void*, size_t, float&) {
  return false;
}

#endif

}  // namespace ferrum::quant
