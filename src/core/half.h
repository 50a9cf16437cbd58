// IEEE binary16 (f16), bfloat16 and OCP float8 e4m3 storage types with exact scalar conversions.
// Rounding to these types is round-to-nearest-even, as PyTorch and ggml do it.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace ferrum {

struct f16 {
  uint16_t bits;
};
struct bf16 {
  uint16_t bits;
};
// OCP float8 e4m3 ("e4m3fn"): exponent bias 7, no infinities, S.1111.111 is NaN, largest 448.
struct f8e4m3 {
  uint8_t bits;
};
inline constexpr float kF8E4M3Max = 448.0f;

inline uint32_t float_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

inline float bits_float(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

inline float to_float(bf16 value) {
  return bits_float(static_cast<uint32_t>(value.bits) << 16);
}

inline bf16 to_bf16(float value) {
  uint32_t bits = float_bits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it quiet, never round it to infinity
    return bf16{static_cast<uint16_t>((bits >> 16) | 0x40u)};
  }
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return bf16{static_cast<uint16_t>((bits + rounding) >> 16)};
}

inline float to_float(f16 value) {
  const uint32_t sign = static_cast<uint32_t>(value.bits & 0x8000u) << 16;
  const uint32_t exponent = (value.bits >> 10) & 0x1fu;
  uint32_t mantissa = value.bits & 0x3ffu;
  if (exponent == 0x1f) return bits_float(sign | 0x7f800000u | (mantissa << 13));  // inf / NaN
  if (exponent != 0) return bits_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0) return bits_float(sign);
  // Subnormal: value = mantissa * 2^-24.
  int shift = 0;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    ++shift;
  }
  mantissa &= 0x3ffu;
  return bits_float(sign | static_cast<uint32_t>(113 - shift) << 23 | (mantissa << 13));
}

inline f16 to_f16(float value) {
  const uint32_t bits = float_bits(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits > 0x7f800000u) return f16{static_cast<uint16_t>(sign | 0x7e00u)};   // NaN
  if (abs_bits >= 0x477ff000u) return f16{static_cast<uint16_t>(sign | 0x7c00u)};  // overflow: inf
  if (abs_bits < 0x38800000u) {
    // Result is subnormal or zero: scale into the subnormal grid and round to nearest even.
    if (abs_bits < 0x33000000u) return f16{sign};  // below half the smallest subnormal
    const uint32_t exponent = abs_bits >> 23;
    const uint32_t mantissa = (abs_bits & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exponent;  // 14..24
    uint32_t half = mantissa >> shift;
    const uint32_t remainder = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (remainder > halfway || (remainder == halfway && (half & 1u))) ++half;
    return f16{static_cast<uint16_t>(sign | half)};
  }
  uint32_t rebased = abs_bits - (112u << 23);
  const uint32_t rounding = 0xfffu + ((rebased >> 13) & 1u);
  rebased += rounding;
  return f16{static_cast<uint16_t>(sign | (rebased >> 13))};
}

inline float to_float(f8e4m3 value) {
  const float sign = (value.bits & 0x80u) ? -1.0f : 1.0f;
  const int exponent = (value.bits >> 3) & 0xf;
  const int mantissa = value.bits & 0x7;
  if (exponent == 0xf && mantissa == 0x7) return std::nanf("");
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -9);
  return sign * std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent - 7);
}

// Rounds to nearest even and saturates: magnitudes past 448 (infinities too) become +-448, as CUDA's
// __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3) does; NaN stays NaN.
inline f8e4m3 to_f8e4m3(float value) {
  const uint32_t bits = float_bits(value);
  const auto sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits > 0x7f800000u) return f8e4m3{static_cast<uint8_t>(sign | 0x7fu)};
  if (abs_bits >= float_bits(kF8E4M3Max)) return f8e4m3{static_cast<uint8_t>(sign | 0x7eu)};
  if (abs_bits < 0x3c800000u) {
    // Below 2^-6, the smallest normal: multiples of 2^-9 (the scaling is exact; 8 * 2^-9 is 2^-6's code).
    return f8e4m3{static_cast<uint8_t>(sign | static_cast<uint8_t>(std::nearbyint(bits_float(abs_bits) * 512.0f)))};
  }
  // Normal: rebias the exponent (127 -> 7) and round the 23-bit mantissa to 3 bits; a carry moves
  // into the exponent, and nothing below 448 rounds past it.
  uint32_t code = ((abs_bits >> 23) - 120u) << 3 | ((abs_bits >> 20) & 0x7u);
  const uint32_t remainder = abs_bits & 0xfffffu;
  if (remainder > 0x80000u || (remainder == 0x80000u && (code & 1u))) ++code;
  return f8e4m3{static_cast<uint8_t>(sign | code)};
}

}  // namespace ferrum
