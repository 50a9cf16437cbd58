// Decoding every GGUF block type against ggml's own output (fixtures/quant/gguf), bit for bit.
#include "quant/dequantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "quant/block_types.h"
#include "quant/dequantize_reference.h"
#include "quant/dequantize_simd.h"
#include "unit/quant/fixture_files.h"
#include "unit/quant/random_blocks.h"

namespace ferrum {
namespace {

constexpr size_t kFixtureRows = 4;
constexpr size_t kFixtureCols = 512;

struct FixtureType {
  const char* file_stem;
  DType dtype;
};

constexpr FixtureType kFixtureTypes[] = {
    {"Q4_0", DType::kQ4_0}, {"Q4_1", DType::kQ4_1}, {"Q5_0", DType::kQ5_0}, {"Q5_1", DType::kQ5_1},
    {"Q8_0", DType::kQ8_0}, {"Q2_K", DType::kQ2_K}, {"Q3_K", DType::kQ3_K}, {"Q4_K", DType::kQ4_K},
    {"Q5_K", DType::kQ5_K}, {"Q6_K", DType::kQ6_K},
};

// Counts values whose bits differ and reports the first few with the largest error.
void expect_bit_exact(const std::vector<float>& expected, const std::vector<float>& actual, const std::string& what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  size_t differing = 0;
  float worst = 0;
  size_t worst_index = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (float_bits(expected[i]) == float_bits(actual[i])) continue;
    ++differing;
    const float error = std::fabs(expected[i] - actual[i]);
    if (error >= worst) {
      worst = error;
      worst_index = i;
    }
  }
  EXPECT_EQ(differing, 0u) << what << ": " << differing << " of " << expected.size() << " values differ; worst at "
                           << worst_index << ": expected " << expected[worst_index] << ", got " << actual[worst_index]
                           << " (|diff| " << worst << ")";
}

TEST(BlockLayout, SizesMatchTheDtypeTable) {
  EXPECT_EQ(dtype_info(DType::kQ4_0).block_bytes, sizeof(quant::BlockQ4_0));
  EXPECT_EQ(dtype_info(DType::kQ4_1).block_bytes, sizeof(quant::BlockQ4_1));
  EXPECT_EQ(dtype_info(DType::kQ5_0).block_bytes, sizeof(quant::BlockQ5_0));
  EXPECT_EQ(dtype_info(DType::kQ5_1).block_bytes, sizeof(quant::BlockQ5_1));
  EXPECT_EQ(dtype_info(DType::kQ8_0).block_bytes, sizeof(quant::BlockQ8_0));
  EXPECT_EQ(dtype_info(DType::kQ8_1).block_bytes, sizeof(quant::BlockQ8_1));
  EXPECT_EQ(dtype_info(DType::kQ2_K).block_bytes, sizeof(quant::BlockQ2_K));
  EXPECT_EQ(dtype_info(DType::kQ3_K).block_bytes, sizeof(quant::BlockQ3_K));
  EXPECT_EQ(dtype_info(DType::kQ4_K).block_bytes, sizeof(quant::BlockQ4_K));
  EXPECT_EQ(dtype_info(DType::kQ5_K).block_bytes, sizeof(quant::BlockQ5_K));
  EXPECT_EQ(dtype_info(DType::kQ6_K).block_bytes, sizeof(quant::BlockQ6_K));
  EXPECT_EQ(dtype_info(DType::kQ8_K).block_bytes, sizeof(quant::BlockQ8_K));
}

TEST(Dequantize, EveryFixtureTypeIsBitExactWithGgml) {
  for (const FixtureType& type : kFixtureTypes) {
    SCOPED_TRACE(type.file_stem);
    const std::vector<uint8_t> blocks = quant_test::read_fixture_bytes(std::string("gguf/") + type.file_stem + ".bin");
    const std::vector<float> expected =
        quant_test::read_fixture_floats(std::string("gguf/") + type.file_stem + ".expected.f32");
    ASSERT_EQ(expected.size(), kFixtureRows * kFixtureCols);
    const size_t row_bytes = row_bytes_unchecked(type.dtype, kFixtureCols);
    ASSERT_EQ(blocks.size(), kFixtureRows * row_bytes);
    ASSERT_TRUE(can_dequantize(type.dtype));

    std::vector<float> decoded(expected.size());
    std::vector<float> decoded_reference(expected.size());
    for (size_t row = 0; row < kFixtureRows; ++row) {
      dequantize_row(type.dtype, blocks.data() + row * row_bytes, decoded.data() + row * kFixtureCols, kFixtureCols);
      quant::dequantize_blocks_reference(type.dtype, blocks.data() + row * row_bytes,
                                         decoded_reference.data() + row * kFixtureCols, kFixtureCols);
    }
    expect_bit_exact(expected, decoded, std::string(type.file_stem) + " dequantize_row");
    expect_bit_exact(expected, decoded_reference, std::string(type.file_stem) + " reference decoder");
  }
}

TEST(Dequantize, SimdKernelsMatchTheReferenceOnRandomBlocks) {
  for (DType type : {DType::kQ4_0, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K}) {
    SCOPED_TRACE(dtype_name(type));
    const size_t blocks = 64;
    const size_t n = blocks * dtype_info(type).block_elems;
    const std::vector<uint8_t> bytes = quant_test::random_blocks(type, blocks, 7);
    std::vector<float> reference(n), simd(n);
    quant::dequantize_blocks_reference(type, bytes.data(), reference.data(), n);
    if (!quant::dequantize_blocks_simd(type, bytes.data(), simd.data(), n)) {
      GTEST_SKIP() << "this build has no vector decoder for " << dtype_name(type);
    }
    expect_bit_exact(reference, simd, std::string(dtype_name(type)) + " simd vs reference");
  }
}

TEST(Dequantize, PlainFloatTypes) {
  const std::vector<float> values = {1.0f, -2.5f, 3.140625f, 0.0f, -0.0f, 65504.0f};
  std::vector<f16> halves;
  std::vector<bf16> brains;
  for (float v : values) halves.push_back(to_f16(v)), brains.push_back(to_bf16(v));
  std::vector<float> out(values.size());
  dequantize_row(DType::kF32, values.data(), out.data(), values.size());
  expect_bit_exact(values, out, "f32");
  dequantize_row(DType::kF16, halves.data(), out.data(), values.size());
  expect_bit_exact(values, out, "f16");
  dequantize_row(DType::kBF16, brains.data(), out.data(), values.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(out[i], to_float(brains[i]));
  EXPECT_FALSE(can_dequantize(DType::kI32));
  // f8_e4m3 (safetensors F8_E4M3): 0x38 = 1.0, 0xc4 = -3.0, 0x01 = 2^-9 (smallest subnormal), 0x7f = NaN.
  const uint8_t fp8[] = {0x38, 0xc4, 0x01, 0x7f};
  ASSERT_TRUE(can_dequantize(DType::kF8E4M3));
  dequantize_row(DType::kF8E4M3, fp8, out.data(), 4);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -3.0f);
  EXPECT_EQ(out[2], std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(out[3]));
}

}  // namespace
}  // namespace ferrum
