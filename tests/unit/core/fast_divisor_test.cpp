// FastDivisor against the hardware's division: every divisor up to 300 (the paged cache's block
// sizes) over a dense range of dividends and the top of the 31-bit range, and larger divisors.
#include "core/fast_divisor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace ferrum {
namespace {

void expect_exact(int32_t d, int32_t n) {
  const FastDivisor f = FastDivisor::of(d);
  const int32_t q = f.quotient(n);
  ASSERT_EQ(q, n / d) << n << " / " << d;
  ASSERT_EQ(f.remainder(n, q), n % d) << n << " % " << d;
}

TEST(FastDivisor, SmallDivisorsMatchDivision) {
  for (int32_t d = 1; d <= 300; ++d) {
    for (int32_t n = 0; n < 100'000; ++n) expect_exact(d, n);
    for (int32_t n = INT32_MAX - 5'000; n < INT32_MAX; ++n) expect_exact(d, n);
    expect_exact(d, INT32_MAX);
  }
}

TEST(FastDivisor, LargeDivisorsMatchDivision) {
  const std::vector<int32_t> divisors = {511, 512, 513, 4095, 65'537, 1'000'003, (1 << 30) - 1, 1 << 30, INT32_MAX};
  for (int32_t d : divisors) {
    for (int32_t n = 0; n < 10'000; ++n) expect_exact(d, n);
    for (int64_t m = 1; m * d <= INT32_MAX; m = m * 3 + 1) {
      expect_exact(d, static_cast<int32_t>(m * d - 1));
      expect_exact(d, static_cast<int32_t>(m * d));
    }
    expect_exact(d, INT32_MAX);
  }
}

}  // namespace
}  // namespace ferrum
