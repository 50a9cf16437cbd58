// Quantizer quality against ggml's reference quantizer on fixtures/quant/gguf/input.f32: ggml's own
// round trip is <TYPE>.expected.f32 (dequantized <TYPE>.bin), ours is quantize_row + dequantize_row.
#include "quant/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "quant/block_types.h"
#include "quant/dequantize.h"
#include "unit/quant/fixture_files.h"

namespace ferrum {
namespace {

constexpr size_t kRows = 4;
constexpr size_t kCols = 512;
// Ratios are of sums of squares that ours and ggml's compute in different orders.
constexpr double kRatioSlack = 1e-6;

struct QuantizedType {
  const char* fixture_stem;  // nullptr: ggml made no fixture for it
  DType dtype;
};

constexpr QuantizedType kWeightTypes[] = {
    {"Q8_0", DType::kQ8_0}, {"Q4_0", DType::kQ4_0}, {"Q4_1", DType::kQ4_1}, {"Q5_0", DType::kQ5_0},
    {"Q5_1", DType::kQ5_1}, {"Q2_K", DType::kQ2_K}, {"Q3_K", DType::kQ3_K}, {"Q4_K", DType::kQ4_K},
    {"Q5_K", DType::kQ5_K}, {"Q6_K", DType::kQ6_K},
};

std::vector<float> round_trip(DType type, const std::vector<float>& input, size_t rows, size_t cols,
                              const float* importance = nullptr) {
  const size_t row_bytes = row_bytes_unchecked(type, cols);
  std::vector<uint8_t> packed(rows * row_bytes);
  ThreadPool pool(2);
  const Status status = quantize_tensor(type, input.data(), rows, cols, packed.data(), pool, importance);
  EXPECT_TRUE(status) << status.error().to_string();
  std::vector<float> decoded(rows * cols);
  for (size_t row = 0; row < rows; ++row) {
    dequantize_row(type, packed.data() + row * row_bytes, decoded.data() + row * cols, cols);
  }
  return decoded;
}

double rmse(const std::vector<float>& a, const std::vector<float>& b, size_t begin, size_t end) {
  double sum = 0;
  for (size_t i = begin; i < end; ++i) sum += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
  return std::sqrt(sum / static_cast<double>(end - begin));
}

TEST(Quantize, RoundTripErrorIsNoWorseThanGgml) {
  const std::vector<float> input = quant_test::read_fixture_floats("gguf/input.f32");
  ASSERT_EQ(input.size(), kRows * kCols);
  std::printf("%-5s %12s %12s %8s   per-row ratios (rows x0.01, x0.1, x1, x10)\n", "type", "ferrum RMSE", "ggml RMSE",
              "ratio");
  for (const QuantizedType& type : kWeightTypes) {
    SCOPED_TRACE(type.fixture_stem);
    const std::vector<float> ggml =
        quant_test::read_fixture_floats(std::string("gguf/") + type.fixture_stem + ".expected.f32");
    const std::vector<float> ours = round_trip(type.dtype, input, kRows, kCols);
    const double ours_rmse = rmse(input, ours, 0, input.size());
    const double ggml_rmse = rmse(input, ggml, 0, input.size());
    std::string per_row;
    for (size_t row = 0; row < kRows; ++row) {
      const double row_ratio =
          rmse(input, ours, row * kCols, (row + 1) * kCols) / rmse(input, ggml, row * kCols, (row + 1) * kCols);
      char text[16];
      std::snprintf(text, sizeof text, " %.4f", row_ratio);
      per_row += text;
      EXPECT_LE(row_ratio, 1.0 + kRatioSlack) << "row " << row;
    }
    std::printf("%-5s %12.6g %12.6g %8.4f  %s\n", type.fixture_stem, ours_rmse, ggml_rmse, ours_rmse / ggml_rmse,
                per_row.c_str());
    EXPECT_LE(ours_rmse / ggml_rmse, 1.0 + kRatioSlack);
  }
}

std::vector<float> gaussian(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> values(count);
  for (float& value : values) value = normal(rng);
  return values;
}

TEST(Quantize, TensorIsRowByRowAndThreadCountIndependent) {
  const size_t rows = 7, cols = 512;
  const std::vector<float> input = gaussian(rows * cols, 3);
  for (DType type : {DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
    const size_t row_bytes = row_bytes_unchecked(type, cols);
    std::vector<uint8_t> serial(rows * row_bytes), parallel(rows * row_bytes);
    for (size_t row = 0; row < rows; ++row) {
      ASSERT_TRUE(quantize_row(type, input.data() + row * cols, serial.data() + row * row_bytes, cols));
    }
    ThreadPool pool(3);
    ASSERT_TRUE(quantize_tensor(type, input.data(), rows, cols, parallel.data(), pool));
    EXPECT_EQ(serial, parallel) << dtype_name(type);
  }
}

TEST(Quantize, ImportanceWeightsLowerTheWeightedError) {
  const size_t cols = 1024;
  const std::vector<float> input = gaussian(cols, 5);
  std::vector<float> importance(cols);
  std::mt19937 rng(9);
  for (float& weight : importance) weight = std::exp(std::normal_distribution<float>(0, 2)(rng));
  for (const QuantizedType& type : kWeightTypes) {
    const auto weighted_error = [&](const std::vector<float>& decoded) {
      double sum = 0;
      for (size_t i = 0; i < cols; ++i) sum += importance[i] * (input[i] - decoded[i]) * (input[i] - decoded[i]);
      return sum;
    };
    const double plain = weighted_error(round_trip(type.dtype, input, 1, cols));
    const double guided = weighted_error(round_trip(type.dtype, input, 1, cols, importance.data()));
    EXPECT_LT(guided, plain) << type.fixture_stem;
  }
}

TEST(Quantize, ZerosStayZeroAndBadSizesFail) {
  const std::vector<float> zeros(512, 0.0f);
  for (const QuantizedType& type : kWeightTypes) {
    const std::vector<float> decoded = round_trip(type.dtype, zeros, 1, 512);
    for (float value : decoded) ASSERT_EQ(value, 0.0f) << type.fixture_stem;
  }
  std::vector<uint8_t> buffer(1024);
  const Status status = quantize_row(DType::kQ4_K, zeros.data(), buffer.data(), 100);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().to_string().find("100 values of q4_K are not a whole number of 256-value blocks"),
            std::string::npos)
      << status.error().to_string();
  EXPECT_FALSE(quantize_row(DType::kI8, zeros.data(), buffer.data(), 32));
}

TEST(Quantize, ActivationFormatsKeepTheirSums) {
  const std::vector<float> input = gaussian(256, 11);
  quant::BlockQ8_1 q8_1[8];
  ASSERT_TRUE(quantize_row(DType::kQ8_1, input.data(), q8_1, 256));
  for (const auto& block : q8_1) {
    int sum = 0;
    for (int8_t q : block.qs) sum += q;
    EXPECT_EQ(block.s.bits, to_f16(to_float(block.d) * static_cast<float>(sum)).bits);
  }
  quant::BlockQ8_K q8_k;
  ASSERT_TRUE(quantize_row(DType::kQ8_K, input.data(), &q8_k, 256));
  for (size_t group = 0; group < 16; ++group) {
    int sum = 0;
    for (size_t i = 0; i < 16; ++i) sum += q8_k.qs[16 * group + i];
    EXPECT_EQ(q8_k.bsums[group], sum);
  }
  std::vector<float> decoded(256);
  dequantize_row(DType::kQ8_K, &q8_k, decoded.data(), 256);
  EXPECT_LT(rmse(input, decoded, 0, 256), 0.01);
}

}  // namespace
}  // namespace ferrum
