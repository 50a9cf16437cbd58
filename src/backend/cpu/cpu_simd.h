// SIMD primitives for the CPU kernels, chosen at compile time from what -march enables:
// AVX-512 (16 lanes), AVX2 + FMA + F16C (8 lanes), or a portable scalar fallback (1 lane).
// Kernels are written once against these names. Loads of f16 / bf16 / f8 e4m3 convert to f32 in
// registers, so weights are read from memory in their stored width and all arithmetic is f32.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/half.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__) && defined(__F16C__))
// GCC 12 reports its own AVX-512 intrinsics (which start from _mm512_undefined_*) as "may be used
// uninitialized" once inlined (GCC bug 105593); the diagnostic is silenced for the header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace ferrum::cpu::simd {

// Partial loads go through a zeroed stack copy: zero bits are +0.0 in f32, f16 and bf16 alike,
// and the copy never touches memory past `count` (borrowed, mapped weights have no padding).
template <class T, size_t kWidth>
struct PartialCopy {
  T values[kWidth] = {};
  PartialCopy(const T* source, size_t count) { std::memcpy(values, source, count * sizeof(T)); }
};

#if defined(__AVX512F__)

#define FERRUM_SIMD_NAME "avx512"
inline constexpr size_t kLanes = 16;
using Vec = __m512;

inline Vec zero() {
  return _mm512_setzero_ps();
}
inline Vec broadcast(float value) {
  return _mm512_set1_ps(value);
}
inline Vec load(const float* p) {
  return _mm512_loadu_ps(p);
}
inline Vec load(const f16* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline Vec load(const bf16* p) {
  // bf16 is the top half of an f32: widen to 32 bits and shift into place.
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
inline Vec load(const f8e4m3* p) {
  // Normals: the 7 exponent + mantissa bits under f32's, exponent rebased by 120 (bias 7 -> 127).
  // Subnormals (exponent 0) are their mantissa x 2^-9, made without f32 subnormals (DAZ-safe).
  const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m512i magnitude = _mm512_and_si512(bytes, _mm512_set1_epi32(0x7f));
  const __m512 normal =
      _mm512_castsi512_ps(_mm512_add_epi32(_mm512_slli_epi32(magnitude, 20), _mm512_set1_epi32(120 << 23)));
  const __m512 subnormal = _mm512_mul_ps(_mm512_cvtepi32_ps(magnitude), _mm512_set1_ps(1.0f / 512.0f));
  __m512 value = _mm512_mask_blend_ps(_mm512_cmplt_epi32_mask(magnitude, _mm512_set1_epi32(8)), normal, subnormal);
  value = _mm512_mask_blend_ps(_mm512_cmpeq_epi32_mask(magnitude, _mm512_set1_epi32(0x7f)), value,
                               _mm512_set1_ps(std::nanf("")));
  const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(bytes, _mm512_set1_epi32(0x80)), 24);
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(value), sign));
}
inline __mmask16 lane_mask(size_t count) {
  return static_cast<__mmask16>((1u << count) - 1u);
}
inline Vec load_partial(const float* p, size_t count) {
  return _mm512_maskz_loadu_ps(lane_mask(count), p);
}
template <class T>
inline Vec load_partial(const T* p, size_t count) {
  return load(PartialCopy<T, kLanes>(p, count).values);
}
inline void store(float* p, Vec v) {
  _mm512_storeu_ps(p, v);
}
inline void store_partial(float* p, Vec v, size_t count) {
  _mm512_mask_storeu_ps(p, lane_mask(count), v);
}

inline Vec add(Vec a, Vec b) {
  return _mm512_add_ps(a, b);
}
inline Vec sub(Vec a, Vec b) {
  return _mm512_sub_ps(a, b);
}
inline Vec mul(Vec a, Vec b) {
  return _mm512_mul_ps(a, b);
}
inline Vec div(Vec a, Vec b) {
  return _mm512_div_ps(a, b);
}
// a * b + c
inline Vec fma(Vec a, Vec b, Vec c) {
  return _mm512_fmadd_ps(a, b, c);
}
// The variable goes second: on a NaN the instruction returns its second operand, so NaN propagates.
inline Vec max(Vec a, Vec b) {
  return _mm512_max_ps(a, b);
}
inline Vec min(Vec a, Vec b) {
  return _mm512_min_ps(a, b);
}
inline Vec abs(Vec a) {
  return _mm512_abs_ps(a);
}
inline float reduce_add(Vec v) {
  return _mm512_reduce_add_ps(v);
}
inline float reduce_max(Vec v) {
  return _mm512_reduce_max_ps(v);
}
// Per lane: x < threshold ? if_less : otherwise.
inline Vec select_less(Vec x, Vec threshold, Vec if_less, Vec otherwise) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, threshold, _CMP_LT_OQ), otherwise, if_less);
}
inline Vec round_nearest(Vec v) {
  return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// p * 2^n for integral n in the normal exponent range.
inline Vec scale_by_pow2(Vec p, Vec n) {
  return _mm512_scalef_ps(p, n);
}

// In-place transpose of a kLanes x kLanes block held in rows[0..kLanes).
inline void transpose(Vec rows[kLanes]) {
  // 1: interleave row pairs; lane L of t[2g] holds r2g[4L], r2g+1[4L], r2g[4L+1], r2g+1[4L+1].
  Vec t[16];
  for (int g = 0; g < 8; ++g) {
    t[2 * g] = _mm512_unpacklo_ps(rows[2 * g], rows[2 * g + 1]);
    t[2 * g + 1] = _mm512_unpackhi_ps(rows[2 * g], rows[2 * g + 1]);
  }
  // 2: interleave 64-bit pairs; lane L of u[4G + x] holds column 4L + x of rows 4G..4G+3.
  Vec u[16];
  for (int group = 0; group < 4; ++group) {
    const __m512d a = _mm512_castps_pd(t[4 * group]);
    const __m512d b = _mm512_castps_pd(t[4 * group + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * group + 2]);
    const __m512d d = _mm512_castps_pd(t[4 * group + 3]);
    u[4 * group + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[4 * group + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * group + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[4 * group + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // 3: a 4 x 4 transpose of 128-bit lanes gathers column 4L + x from the four row groups.
  for (int x = 0; x < 4; ++x) {
    const Vec v0 = _mm512_shuffle_f32x4(u[x], u[4 + x], 0x44);
    const Vec v1 = _mm512_shuffle_f32x4(u[x], u[4 + x], 0xEE);
    const Vec v2 = _mm512_shuffle_f32x4(u[8 + x], u[12 + x], 0x44);
    const Vec v3 = _mm512_shuffle_f32x4(u[8 + x], u[12 + x], 0xEE);
    rows[x] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    rows[4 + x] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
    rows[8 + x] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    rows[12 + x] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
  }
}

#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#define FERRUM_SIMD_NAME "avx2"
inline constexpr size_t kLanes = 8;
using Vec = __m256;

inline Vec zero() {
  return _mm256_setzero_ps();
}
inline Vec broadcast(float value) {
  return _mm256_set1_ps(value);
}
inline Vec load(const float* p) {
  return _mm256_loadu_ps(p);
}
inline Vec load(const f16* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline Vec load(const bf16* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
inline Vec load(const f8e4m3* p) {
  // As the AVX-512 load: normals rebased by 120 in the exponent, subnormals as mantissa x 2^-9.
  const __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  const __m256i magnitude = _mm256_and_si256(bytes, _mm256_set1_epi32(0x7f));
  const __m256 normal =
      _mm256_castsi256_ps(_mm256_add_epi32(_mm256_slli_epi32(magnitude, 20), _mm256_set1_epi32(120 << 23)));
  const __m256 subnormal = _mm256_mul_ps(_mm256_cvtepi32_ps(magnitude), _mm256_set1_ps(1.0f / 512.0f));
  __m256 value =
      _mm256_blendv_ps(normal, subnormal, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(8), magnitude)));
  value = _mm256_blendv_ps(value, _mm256_set1_ps(std::nanf("")),
                           _mm256_castsi256_ps(_mm256_cmpeq_epi32(magnitude, _mm256_set1_epi32(0x7f))));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(bytes, _mm256_set1_epi32(0x80)), 24);
  return _mm256_castsi256_ps(_mm256_or_si256(_mm256_castps_si256(value), sign));
}
template <class T>
inline Vec load_partial(const T* p, size_t count) {
  return load(PartialCopy<T, kLanes>(p, count).values);
}
inline void store(float* p, Vec v) {
  _mm256_storeu_ps(p, v);
}
inline void store_partial(float* p, Vec v, size_t count) {
  float lanes[kLanes];
  _mm256_storeu_ps(lanes, v);
  std::memcpy(p, lanes, count * sizeof(float));
}

inline Vec add(Vec a, Vec b) {
  return _mm256_add_ps(a, b);
}
inline Vec sub(Vec a, Vec b) {
  return _mm256_sub_ps(a, b);
}
inline Vec mul(Vec a, Vec b) {
  return _mm256_mul_ps(a, b);
}
inline Vec div(Vec a, Vec b) {
  return _mm256_div_ps(a, b);
}
inline Vec fma(Vec a, Vec b, Vec c) {
  return _mm256_fmadd_ps(a, b, c);
}
inline Vec max(Vec a, Vec b) {
  return _mm256_max_ps(a, b);
}
inline Vec min(Vec a, Vec b) {
  return _mm256_min_ps(a, b);
}
inline Vec abs(Vec a) {
  return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a);
}
inline float reduce_add(Vec v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}
inline float reduce_max(Vec v) {
  __m128 best = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  best = _mm_max_ps(best, _mm_movehl_ps(best, best));
  best = _mm_max_ss(best, _mm_movehdup_ps(best));
  return _mm_cvtss_f32(best);
}
inline Vec select_less(Vec x, Vec threshold, Vec if_less, Vec otherwise) {
  return _mm256_blendv_ps(otherwise, if_less, _mm256_cmp_ps(x, threshold, _CMP_LT_OQ));
}
inline Vec round_nearest(Vec v) {
  return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
inline Vec scale_by_pow2(Vec p, Vec n) {
  const __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
  return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23)));
}

inline void transpose(Vec rows[kLanes]) {
  // Interleave pairs, then 64-bit pairs within 128-bit lanes, then swap 128-bit halves.
  Vec t[8];
  for (int g = 0; g < 4; ++g) {
    t[2 * g] = _mm256_unpacklo_ps(rows[2 * g], rows[2 * g + 1]);
    t[2 * g + 1] = _mm256_unpackhi_ps(rows[2 * g], rows[2 * g + 1]);
  }
  Vec u[8];
  for (int half = 0; half < 2; ++half) {
    const int base = 4 * half;
    u[base + 0] = _mm256_shuffle_ps(t[base], t[base + 2], 0x44);
    u[base + 1] = _mm256_shuffle_ps(t[base], t[base + 2], 0xEE);
    u[base + 2] = _mm256_shuffle_ps(t[base + 1], t[base + 3], 0x44);
    u[base + 3] = _mm256_shuffle_ps(t[base + 1], t[base + 3], 0xEE);
  }
  for (int x = 0; x < 4; ++x) {
    rows[x] = _mm256_permute2f128_ps(u[x], u[4 + x], 0x20);
    rows[4 + x] = _mm256_permute2f128_ps(u[x], u[4 + x], 0x31);
  }
}

#else

#define FERRUM_SIMD_NAME "scalar"
inline constexpr size_t kLanes = 1;
using Vec = float;

inline Vec zero() {
  return 0.0f;
}
inline Vec broadcast(float value) {
  return value;
}
inline Vec load(const float* p) {
  return *p;
}
inline Vec load(const f16* p) {
  return to_float(*p);
}
inline Vec load(const bf16* p) {
  return to_float(*p);
}
inline Vec load(const f8e4m3* p) {
  return to_float(*p);
}
template <class T>
inline Vec load_partial(const T* p, size_t count) {
  return count == 0 ? 0.0f : load(p);
}
inline void store(float* p, Vec v) {
  *p = v;
}
inline void store_partial(float* p, Vec v, size_t count) {
  if (count != 0) *p = v;
}

inline Vec add(Vec a, Vec b) {
  return a + b;
}
inline Vec sub(Vec a, Vec b) {
  return a - b;
}
inline Vec mul(Vec a, Vec b) {
  return a * b;
}
inline Vec div(Vec a, Vec b) {
  return a / b;
}
inline Vec fma(Vec a, Vec b, Vec c) {
  return std::fma(a, b, c);
}
inline Vec max(Vec a, Vec b) {
  return std::isnan(b) ? b : (a > b ? a : b);
}
inline Vec min(Vec a, Vec b) {
  return std::isnan(b) ? b : (a < b ? a : b);
}
inline Vec abs(Vec a) {
  return std::fabs(a);
}
inline float reduce_add(Vec v) {
  return v;
}
inline float reduce_max(Vec v) {
  return v;
}
inline Vec select_less(Vec x, Vec threshold, Vec if_less, Vec otherwise) {
  return x < threshold ? if_less : otherwise;
}
inline Vec round_nearest(Vec v) {
  return std::nearbyint(v);
}
inline Vec scale_by_pow2(Vec p, Vec n) {
  return std::ldexp(p, static_cast<int>(n));
}
inline void transpose(Vec*) {}

#endif

// e^x with about 1 ulp of error: x = n ln2 + r with |r| <= ln2/2, e^r by its Taylor series to r^7
// (truncation ~5e-9), then scaled by 2^n. Inputs below -87.3 give 0 (the true value is subnormal);
// inputs above 88 saturate near FLT_MAX. NaN stays NaN.
inline Vec exp(Vec x) {
  constexpr float kLowest = -87.3f;
  const Vec clamped = min(broadcast(88.0f), max(broadcast(kLowest), x));
  const Vec n = round_nearest(mul(clamped, broadcast(1.44269504088896341f)));
  // ln 2 split in two so n * ln2_hi is exact (Cody and Waite's range reduction).
  Vec r = fma(n, broadcast(-0.693359375f), clamped);
  r = fma(n, broadcast(2.12194440e-4f), r);
  Vec p = broadcast(1.0f / 5040.0f);
  p = fma(p, r, broadcast(1.0f / 720.0f));
  p = fma(p, r, broadcast(1.0f / 120.0f));
  p = fma(p, r, broadcast(1.0f / 24.0f));
  p = fma(p, r, broadcast(1.0f / 6.0f));
  p = fma(p, r, broadcast(0.5f));
  p = fma(p, r, broadcast(1.0f));
  p = fma(p, r, broadcast(1.0f));
  return select_less(x, broadcast(kLowest), zero(), scale_by_pow2(p, n));
}

}  // namespace ferrum::cpu::simd
