// convert_dense (the loader's one-pass dtype conversion of dense weights) against the two-step
// path it replaced, tensor_to_f32 then f32_to_bytes, whose rounding the rest of the tests trust.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/half.h"
#include "models/weight_loader.h"

namespace ferrum {
namespace {

// Values that exercise rounding (ties, subnormals of both halves, overflow past f16) and specials.
std::vector<float> awkward_values(size_t random_count) {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1.0f,
                               -2.5f,
                               65504.0f,
                               70000.0f,
                               1e-8f,
                               -3e-5f,
                               1.00390625f,  // a bf16 tie
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::quiet_NaN(),
                               std::numeric_limits<float>::denorm_min()};
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (size_t i = 0; i < random_count; ++i) values.push_back(normal(rng) * std::exp2(static_cast<float>(i % 40) - 20));
  return values;
}

std::vector<uint8_t> stored_as(const std::vector<float>& values, DType dtype) {
  Expected<std::vector<uint8_t>> bytes = f32_to_bytes(values, dtype);
  EXPECT_TRUE(bytes.has_value());
  return bytes ? *bytes : std::vector<uint8_t>{};
}

TEST(DenseConversion, EqualsTheTwoStepPathForEveryPlainPair) {
  const std::vector<float> values = awkward_values(300000);  // past one pool chunk
  for (DType from : {DType::kF32, DType::kF16, DType::kBF16}) {
    const std::vector<uint8_t> source = stored_as(values, from);
    const TensorView view(source.data(), from, Shape{static_cast<int64_t>(values.size())});
    for (DType to : {DType::kF32, DType::kF16, DType::kBF16}) {
      Expected<std::vector<float>> widened = tensor_to_f32(view);
      ASSERT_TRUE(widened.has_value());
      const std::vector<uint8_t> expected = stored_as(*widened, to);
      Expected<std::vector<uint8_t>> actual = convert_dense(view, to);
      ASSERT_TRUE(actual.has_value()) << actual.error().to_string();
      ASSERT_EQ(actual->size(), expected.size());
      // Byte equality, NaN payloads included.
      EXPECT_EQ(std::memcmp(actual->data(), expected.data(), expected.size()), 0)
          << dtype_name(from) << " -> " << dtype_name(to);
    }
  }
}

TEST(DenseConversion, RefusesWhatF32ToBytesRefuses) {
  const std::vector<float> values = {1.0f, 2.0f};
  const TensorView view(values.data(), DType::kF32, Shape{2});
  EXPECT_FALSE(convert_dense(view, DType::kI32).has_value());
}

}  // namespace
}  // namespace ferrum
