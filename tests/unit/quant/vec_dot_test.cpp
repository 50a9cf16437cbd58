// Quantized dot products: SIMD kernels against the scalar reference, and both against
// dequantize-then-dot, for every weight type.
#include "quant/vec_dot.h"
#include "quant/vec_dot_avx512.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "quant/block_types.h"
#include "quant/dequantize.h"
#include "quant/quantize.h"
#include "unit/quant/random_blocks.h"

namespace ferrum {
namespace {

constexpr size_t kCols = 1024;
constexpr size_t kRows = 16;

constexpr DType kWeightTypes[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                                  DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

std::vector<float> gaussian(size_t count, uint32_t seed, float offset = 0) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> values(count);
  for (float& value : values) value = normal(rng) + offset;
  return values;
}

std::vector<uint8_t> quantize(DType type, const std::vector<float>& values) {
  std::vector<uint8_t> packed(row_bytes_unchecked(type, values.size()));
  EXPECT_TRUE(quantize_row(type, values.data(), packed.data(), values.size()));
  return packed;
}

std::vector<float> dequantize(DType type, const uint8_t* packed, size_t n) {
  std::vector<float> values(n);
  dequantize_row(type, packed, values.data(), n);
  return values;
}

double dot(const std::vector<float>& a, const std::vector<float>& b, double* magnitude) {
  double sum = 0;
  *magnitude = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i], *magnitude += std::fabs(a[i] * b[i]);
  return sum;
}

// Errors are relative to sum |w_i a_i|, the scale of the rounding a dot product can accumulate.
// Tolerances: kernel vs reference and reference vs dequantize-then-dot differ only by f32 rounding
// of block sums (1e-5); against the unquantized activations, 8-bit activation rounding (0.5 / 127 of
// each block's max) dominates (1e-2).
TEST(VecDot, MatchesDequantizeThenDotForEveryType) {
  std::printf("%-5s %14s %14s %14s  (worst error / sum|w*a| over %zu rows of %zu)\n", "type", "simd-vs-ref",
              "ref-vs-dequant", "vs-f32-acts", kRows, kCols);
  const std::vector<float> activations = gaussian(kCols, 99, 0.3f);
  for (DType type : kWeightTypes) {
    SCOPED_TRACE(dtype_name(type));
    const DType activation_type = *vec_dot_activation_type(type);
    std::vector<uint8_t> quantized_activations(row_bytes_unchecked(activation_type, kCols));
    quantize_activation_row(activation_type, activations.data(), quantized_activations.data(), kCols);
    const std::vector<float> decoded_activations = dequantize(activation_type, quantized_activations.data(), kCols);

    double worst_simd = 0, worst_reference = 0, worst_f32 = 0;
    for (size_t row = 0; row < kRows; ++row) {
      const std::vector<uint8_t> weights = quantize(type, gaussian(kCols, 1000 + static_cast<uint32_t>(row), 0.1f));
      const std::vector<float> decoded_weights = dequantize(type, weights.data(), kCols);
      double magnitude = 0;
      const double exact = dot(decoded_weights, decoded_activations, &magnitude);
      double f32_magnitude = 0;
      const double with_f32_activations = dot(decoded_weights, activations, &f32_magnitude);

      const float reference = quant::vec_dot_reference(type, weights.data(), quantized_activations.data(), kCols);
      const float fast = vec_dot(type, weights.data(), quantized_activations.data(), kCols);
      worst_simd = std::max(worst_simd, std::fabs(fast - reference) / magnitude);
      worst_reference = std::max(worst_reference, std::fabs(reference - exact) / magnitude);
      worst_f32 = std::max(worst_f32, std::fabs(fast - with_f32_activations) / f32_magnitude);
    }
    std::printf("%-5s %14.3g %14.3g %14.3g\n", std::string(dtype_name(type)).c_str(), worst_simd, worst_reference,
                worst_f32);
    EXPECT_LT(worst_simd, 1e-5);
    EXPECT_LT(worst_reference, 1e-5);
    EXPECT_LT(worst_f32, 1e-2);
  }
}

TEST(VecDot, SimdMatchesReferenceOnRandomBlocks) {
  // Random bytes reach bit patterns quantized data rarely has (all fifth / high bits set, extreme
  // scales and mins); the SIMD kernels must agree with the reference on all of them.
  const std::vector<float> activations = gaussian(kCols, 5);
  for (DType type : kWeightTypes) {
    SCOPED_TRACE(dtype_name(type));
    const DType activation_type = *vec_dot_activation_type(type);
    std::vector<uint8_t> quantized_activations(row_bytes_unchecked(activation_type, kCols));
    quantize_activation_row(activation_type, activations.data(), quantized_activations.data(), kCols);
    const std::vector<uint8_t> weights =
        quant_test::random_blocks(type, kCols / dtype_info(type).block_elems, static_cast<uint32_t>(type));
    const std::vector<float> decoded_weights = dequantize(type, weights.data(), kCols);
    const std::vector<float> decoded_activations = dequantize(activation_type, quantized_activations.data(), kCols);
    double magnitude = 0;
    dot(decoded_weights, decoded_activations, &magnitude);
    const float reference = quant::vec_dot_reference(type, weights.data(), quantized_activations.data(), kCols);
    float fast = reference;
    if (quant::vec_dot_simd(type, weights.data(), quantized_activations.data(), kCols, fast)) {
      EXPECT_LT(std::fabs(fast - reference) / magnitude, 1e-5) << "avx2 " << fast << " vs " << reference;
    }
    float wide = reference;
    if (quant::vec_dot_avx512(type, weights.data(), quantized_activations.data(), kCols, wide)) {
      EXPECT_LT(std::fabs(wide - reference) / magnitude, 1e-5) << "avx-512 " << wide << " vs " << reference;
    }
  }
}

TEST(VecDot, OddBlockCountsMatchTheReference) {
  // Kernels that take blocks two at a time finish an odd count with a single-block tail.
  for (DType type : kWeightTypes) {
    SCOPED_TRACE(dtype_name(type));
    const size_t n = 3 * dtype_info(type).block_elems;
    const DType activation_type = *vec_dot_activation_type(type);
    std::vector<uint8_t> quantized_activations(row_bytes_unchecked(activation_type, n));
    quantize_activation_row(activation_type, gaussian(n, 17).data(), quantized_activations.data(), n);
    const std::vector<uint8_t> weights = quant_test::random_blocks(type, 3, 40 + static_cast<uint32_t>(type));
    double magnitude = 0;
    dot(dequantize(type, weights.data(), n), dequantize(activation_type, quantized_activations.data(), n), &magnitude);
    const float reference = quant::vec_dot_reference(type, weights.data(), quantized_activations.data(), n);
    EXPECT_LT(std::fabs(vec_dot(type, weights.data(), quantized_activations.data(), n) - reference) / magnitude, 1e-5);
  }
}

TEST(VecDot, Q8_0HandlesTheFullSignedRange) {
  // Weights from other producers may use -128; the SIMD kernel must still agree with the reference.
  std::vector<quant::BlockQ8_0> weights(4);
  std::vector<quant::BlockQ8_0> activations(4);
  std::mt19937 rng(1);
  for (size_t b = 0; b < weights.size(); ++b) {
    weights[b].d = to_f16(0.5f);
    activations[b].d = to_f16(0.25f);
    for (size_t j = 0; j < quant::kLegacyBlock; ++j) {
      weights[b].qs[j] = j % 3 == 0 ? int8_t{-128} : static_cast<int8_t>(rng());
      activations[b].qs[j] = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    }
  }
  const size_t n = weights.size() * quant::kLegacyBlock;
  EXPECT_EQ(vec_dot(DType::kQ8_0, weights.data(), activations.data(), n),
            quant::vec_dot_reference(DType::kQ8_0, weights.data(), activations.data(), n));
}

TEST(VecDot, UnsupportedTypesSayWhy) {
  const auto result = vec_dot_activation_type(DType::kF16);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().to_string().find("no quantized dot product for f16"), std::string::npos);
}

}  // namespace
}  // namespace ferrum
