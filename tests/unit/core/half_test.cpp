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

}  // namespace
}  // namespace ferrum
