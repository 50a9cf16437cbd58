#include "core/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace ferrum {
namespace {

TEST(Half, F16RoundTripsEveryValue) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const f16 value{static_cast<uint16_t>(bits)};
    const float widened = to_float(value);
    if (std::isnan(widened)) continue;
    EXPECT_EQ(to_f16(widened).bits, bits) << "f16 bits " << bits;
  }
}

TEST(Half, F16KnownValues) {
  EXPECT_EQ(to_f16(1.0f).bits, 0x3c00);
  EXPECT_EQ(to_f16(-2.0f).bits, 0xc000);
  EXPECT_EQ(to_f16(65504.0f).bits, 0x7bff);
  EXPECT_EQ(to_f16(1e6f).bits, 0x7c00);                    // overflow to inf
  EXPECT_EQ(to_f16(5.960464477539063e-08f).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(to_f16(2.98e-08f).bits, 0x0000);               // below half of it
  EXPECT_FLOAT_EQ(to_float(f16{0x3555}), 0.333251953125f);
  // Ties round to even: 1 + 2^-11 lies halfway between 1 and the next f16.
  EXPECT_EQ(to_f16(1.0f + std::ldexp(1.0f, -11)).bits, 0x3c00);
  EXPECT_EQ(to_f16(1.0f + 3 * std::ldexp(1.0f, -11)).bits, 0x3c02);
}

TEST(Half, Bf16RoundsToNearestEven) {
  EXPECT_EQ(to_bf16(1.0f).bits, 0x3f80);
  EXPECT_EQ(to_bf16(bits_float(0x3f808000)).bits, 0x3f80);  // tie, even stays
  EXPECT_EQ(to_bf16(bits_float(0x3f818000)).bits, 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(to_bf16(bits_float(0x3f808001)).bits, 0x3f81);
  EXPECT_TRUE(std::isnan(to_float(to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  for (uint32_t bits = 0; bits < 0x10000; bits += 7) {
    const float widened = to_float(bf16{static_cast<uint16_t>(bits)});
    if (std::isnan(widened)) continue;
    EXPECT_EQ(to_bf16(widened).bits, bits);
  }
}

// The OCP 8-bit floating point specification's e4m3 table: 1.0 = 0x38, the largest normal 448 =
// 0x7e, the smallest normal 2^-6 = 0x08, the smallest subnormal 2^-9 = 0x01, S.1111.111 NaN.
TEST(Half, F8E4M3KnownValues) {
  EXPECT_EQ(to_f8e4m3(1.0f).bits, 0x38);
  EXPECT_EQ(to_f8e4m3(-1.0f).bits, 0xb8);
  EXPECT_EQ(to_f8e4m3(448.0f).bits, 0x7e);
  EXPECT_EQ(to_f8e4m3(std::ldexp(1.0f, -6)).bits, 0x08);
  EXPECT_EQ(to_f8e4m3(std::ldexp(1.0f, -9)).bits, 0x01);
  EXPECT_EQ(to_f8e4m3(0.3125f).bits, 0x2a);  // 1.25 * 2^-2
  EXPECT_EQ(to_f8e4m3(-0.0f).bits, 0x80);
  EXPECT_EQ(to_f8e4m3(std::ldexp(1.0f, -11)).bits, 0x00);  // a quarter of the smallest subnormal
  EXPECT_FLOAT_EQ(to_float(f8e4m3{0x7e}), 448.0f);
  EXPECT_FLOAT_EQ(to_float(f8e4m3{0x01}), std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(to_float(f8e4m3{0x7f})));
  EXPECT_TRUE(std::isnan(to_float(f8e4m3{0xff})));
}

TEST(Half, F8E4M3SaturatesAndKeepsNaN) {
  EXPECT_EQ(to_f8e4m3(460.0f).bits, 0x7e);
  EXPECT_EQ(to_f8e4m3(1e6f).bits, 0x7e);
  EXPECT_EQ(to_f8e4m3(-std::numeric_limits<float>::infinity()).bits, 0xfe);
  EXPECT_EQ(to_f8e4m3(std::numeric_limits<float>::quiet_NaN()).bits & 0x7f, 0x7f);
}

TEST(Half, F8E4M3RoundTripsAndRoundsTiesToEven) {
  for (uint32_t bits = 0; bits < 0x100; ++bits) {
    const float value = to_float(f8e4m3{static_cast<uint8_t>(bits)});
    if (std::isnan(value)) continue;
    EXPECT_EQ(to_f8e4m3(value).bits, bits) << "e4m3 bits " << bits;
  }
  // Between two neighbours of the same sign: below the midpoint goes down, above goes up, the
  // midpoint itself to the even code.
  for (uint32_t bits = 0; bits < 0x7e; ++bits) {
    const float low = to_float(f8e4m3{static_cast<uint8_t>(bits)});
    const float high = to_float(f8e4m3{static_cast<uint8_t>(bits + 1)});
    const float mid = (low + high) / 2;
    EXPECT_EQ(to_f8e4m3(std::nextafter(mid, low)).bits, bits) << "below the midpoint after " << bits;
    EXPECT_EQ(to_f8e4m3(std::nextafter(mid, high)).bits, bits + 1) << "above the midpoint after " << bits;
    EXPECT_EQ(to_f8e4m3(mid).bits, (bits & 1u) ? bits + 1 : bits) << "midpoint after " << bits;
    EXPECT_EQ(to_f8e4m3(-mid).bits, 0x80u | ((bits & 1u) ? bits + 1 : bits)) << "negative midpoint after " << bits;
  }
}

}  // namespace
}  // namespace ferrum
