// GPTQ and AWQ unpacking against the peer-produced fixtures (fixtures/quant/gptq, fixtures/quant/awq):
// the dequantized weight must equal w_ref bit for bit, and malformed tensors must give clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/half.h"
#include "quant/awq.h"
#include "quant/gptq.h"
#include "unit/quant/fixture_files.h"
#include "unit/quant/safetensors_fixture.h"

namespace ferrum {
namespace {

using quant::AwqParams;
using quant::AwqTensors;
using quant::GptqParams;
using quant::GptqTensors;
using quant_test::read_safetensors_fixture;
using quant_test::SafetensorsFixture;

nlohmann::json read_cases(const std::string& folder) {
  const std::vector<uint8_t> bytes = quant_test::read_fixture_bytes(folder + "/cases.json");
  return nlohmann::json::parse(bytes.begin(), bytes.end()).at("cases");
}

size_t count_bit_differences(const std::vector<float>& expected, const std::vector<float>& actual, float& worst) {
  size_t differing = 0;
  worst = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (float_bits(expected[i]) == float_bits(actual[i])) continue;
    ++differing;
    worst = std::max(worst, std::fabs(expected[i] - actual[i]));
  }
  return differing;
}

// y = x @ W^T in double, compared with the fixture's y_ref (float64 product cast to f32).
void expect_matches_y_ref(const SafetensorsFixture& fixture, const std::vector<float>& weight, size_t k_count,
                          size_t n_count) {
  const std::vector<float> x = fixture.at("x").as_floats();
  const std::vector<float> y_ref = fixture.at("y_ref").as_floats();
  const size_t m_count = x.size() / k_count;
  ASSERT_EQ(y_ref.size(), m_count * n_count);
  double worst = 0;
  for (size_t m = 0; m < m_count; ++m) {
    for (size_t n = 0; n < n_count; ++n) {
      double sum = 0;
      for (size_t k = 0; k < k_count; ++k) sum += static_cast<double>(x[m * k_count + k]) * weight[n * k_count + k];
      worst = std::max(worst, std::fabs(sum - y_ref[m * n_count + n]) / std::max(1.0, std::fabs(sum)));
    }
  }
  EXPECT_LT(worst, 1e-6) << "worst relative |y - y_ref|";
}

GptqTensors gptq_tensors(const SafetensorsFixture& fixture) {
  return {fixture.at("qweight").view(), fixture.at("qzeros").view(), fixture.at("scales").view(),
          fixture.at("g_idx").view()};
}

GptqParams gptq_params(const nlohmann::json& gptq_case) {
  GptqParams params;
  params.bits = gptq_case.at("bits").get<uint32_t>();
  params.group_size = *quant::gptq_group_size_from_config(gptq_case.at("group_size").get<int64_t>());
  params.sym = gptq_case.at("sym").get<bool>();
  params.desc_act = gptq_case.at("desc_act").get<bool>();
  return params;
}

TEST(Gptq, EveryFixtureCaseEqualsWRefBitForBit) {
  const nlohmann::json cases = read_cases("gptq");
  ASSERT_EQ(cases.size(), 6u);
  for (const auto& gptq_case : cases) {
    const std::string file = gptq_case.at("file").get<std::string>();
    SCOPED_TRACE(file);
    const SafetensorsFixture fixture = read_safetensors_fixture(file);
    const GptqParams params = gptq_params(gptq_case);
    const auto shape = quant::validate_gptq(params, gptq_tensors(fixture));
    ASSERT_TRUE(shape) << shape.error().to_string();
    EXPECT_EQ(shape->in_features, gptq_case.at("K").get<size_t>());
    EXPECT_EQ(shape->out_features, gptq_case.at("N").get<size_t>());

    std::vector<float> weight(shape->in_features * shape->out_features);
    const Status status = quant::dequantize_gptq(params, gptq_tensors(fixture), weight);
    ASSERT_TRUE(status) << status.error().to_string();
    float worst = 0;
    EXPECT_EQ(count_bit_differences(fixture.at("w_ref").as_floats(), weight, worst), 0u) << "worst |diff| " << worst;
    expect_matches_y_ref(fixture, weight, shape->in_features, shape->out_features);
  }
}

TEST(Gptq, WithoutGIdxUsesConsecutiveGroups) {
  const SafetensorsFixture fixture = read_safetensors_fixture("gptq/gptq_4bit_g32_asym.safetensors");
  GptqParams params;
  params.group_size = 32;
  params.sym = false;
  GptqTensors tensors = gptq_tensors(fixture);
  tensors.g_idx = TensorView();
  std::vector<float> weight(256 * 128);
  ASSERT_TRUE(quant::dequantize_gptq(params, tensors, weight));
  float worst = 0;
  EXPECT_EQ(count_bit_differences(fixture.at("w_ref").as_floats(), weight, worst), 0u);
}

TEST(Gptq, V2CheckpointsStoreTheZeroItself) {
  // One 8x8 4-bit layer, scale 1, every q = 9 and every stored zero = 7.
  const std::vector<int32_t> qweight(8, static_cast<int32_t>(0x99999999u));
  const std::vector<int32_t> qzeros = {0x77777777};
  const std::vector<f16> scales(8, to_f16(1.0f));
  GptqTensors tensors{TensorView(qweight.data(), DType::kI32, {1, 8}), TensorView(qzeros.data(), DType::kI32, {1, 1}),
                      TensorView(scales.data(), DType::kF16, {1, 8}), TensorView()};
  GptqParams params;
  params.group_size = 0;
  std::vector<float> weight(64);
  ASSERT_TRUE(quant::dequantize_gptq(params, tensors, weight));
  EXPECT_EQ(weight[0], 1.0f);  // v1: zero = 7 + 1
  params.format = quant::GptqCheckpointFormat::kV2;
  ASSERT_TRUE(quant::dequantize_gptq(params, tensors, weight));
  EXPECT_EQ(weight[63], 2.0f);  // v2: zero = 7
}

// Runs validate_gptq on the g128 fixture after `mutate` and returns the error text ("" on success).
template <class Mutate>
std::string gptq_error_after(Mutate&& mutate) {
  const SafetensorsFixture fixture = read_safetensors_fixture("gptq/gptq_4bit_g128_sym_desc_act.safetensors");
  GptqParams params;
  params.desc_act = true;
  GptqTensors tensors = gptq_tensors(fixture);
  std::vector<int32_t> g_idx(256, 0);
  mutate(params, tensors, g_idx);
  const auto shape = quant::validate_gptq(params, tensors);
  return shape ? "" : shape.error().to_string();
}

TEST(Gptq, RejectsInconsistentTensorsWithClearErrors) {
  const auto contains = [](const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  };
  EXPECT_EQ(gptq_error_after([](auto&, auto&, auto&) {}), "");

  std::string error = gptq_error_after([](GptqParams& params, auto&, auto&) { params.bits = 8; });
  EXPECT_TRUE(contains(error, "gptq scales has shape [2, 128], expected [1, 128] (in_features 128 / group_size 128"))
      << error;
  error = gptq_error_after([](GptqParams& params, auto&, auto&) { params.bits = 3; });
  EXPECT_TRUE(contains(error, "bits = 3")) << error;
  error = gptq_error_after([](GptqParams& params, auto&, auto&) { params.group_size = 64; });
  EXPECT_TRUE(contains(error, "gptq scales has shape [2, 128], expected [4, 128]")) << error;
  error = gptq_error_after([](GptqParams& params, auto&, auto&) { params.group_size = 100; });
  EXPECT_TRUE(contains(error, "in_features 256 (qweight rows 32 * 8) is not a multiple of group_size 100")) << error;
  error = gptq_error_after([](auto&, GptqTensors& tensors, auto&) { tensors.g_idx = TensorView(); });
  EXPECT_TRUE(contains(error, "desc_act is set but g_idx is missing")) << error;
  error = gptq_error_after([](auto&, GptqTensors& tensors, std::vector<int32_t>& g_idx) {
    g_idx[77] = 2;
    tensors.g_idx = TensorView(g_idx.data(), DType::kI32, {256});
  });
  EXPECT_TRUE(contains(error, "g_idx[77] = 2 is outside the 2 groups")) << error;
  error = gptq_error_after([](auto&, GptqTensors& tensors, std::vector<int32_t>& g_idx) {
    tensors.g_idx = TensorView(g_idx.data(), DType::kI32, {128});
  });
  EXPECT_TRUE(contains(error, "g_idx has shape [128], expected [256]")) << error;
  error = gptq_error_after([](auto&, GptqTensors& tensors, auto&) {
    tensors.qweight = TensorView(tensors.qweight.data(), DType::kF32, tensors.qweight.shape());
  });
  EXPECT_TRUE(contains(error, "gptq qweight has dtype f32, expected i32")) << error;
  error = gptq_error_after([](auto&, GptqTensors& tensors, auto&) {
    tensors.qweight = TensorView(tensors.qweight.data(), DType::kI32, {16, 128});  // K = 128 now
  });
  EXPECT_TRUE(contains(error, "gptq scales has shape [2, 128], expected [1, 128]")) << error;

  const SafetensorsFixture fixture = read_safetensors_fixture("gptq/gptq_4bit_g128_sym.safetensors");
  std::vector<float> too_small(100);
  const Status status = quant::dequantize_gptq(GptqParams{}, gptq_tensors(fixture), too_small);
  ASSERT_FALSE(status);
  EXPECT_TRUE(contains(status.error().to_string(), "output holds 100 floats, expected 128 x 256"));
  EXPECT_FALSE(quant::gptq_group_size_from_config(0));
  EXPECT_EQ(*quant::gptq_group_size_from_config(-1), 0u);
}

TEST(Awq, EveryFixtureCaseEqualsWRefBitForBit) {
  const nlohmann::json cases = read_cases("awq");
  ASSERT_EQ(cases.size(), 2u);
  for (const auto& awq_case : cases) {
    const std::string file = awq_case.at("file").get<std::string>();
    SCOPED_TRACE(file);
    const SafetensorsFixture fixture = read_safetensors_fixture(file);
    AwqParams params;
    params.bits = awq_case.at("bits").get<uint32_t>();
    params.group_size = awq_case.at("group_size").get<size_t>();
    const AwqTensors tensors{fixture.at("qweight").view(), fixture.at("qzeros").view(), fixture.at("scales").view()};
    const auto shape = quant::validate_awq(params, tensors);
    ASSERT_TRUE(shape) << shape.error().to_string();
    EXPECT_EQ(shape->in_features, awq_case.at("K").get<size_t>());
    EXPECT_EQ(shape->out_features, awq_case.at("N").get<size_t>());

    std::vector<float> weight(shape->in_features * shape->out_features);
    const Status status = quant::dequantize_awq(params, tensors, weight);
    ASSERT_TRUE(status) << status.error().to_string();
    float worst = 0;
    EXPECT_EQ(count_bit_differences(fixture.at("w_ref").as_floats(), weight, worst), 0u) << "worst |diff| " << worst;
    expect_matches_y_ref(fixture, weight, shape->in_features, shape->out_features);
  }
}

TEST(Awq, RejectsInconsistentTensorsWithClearErrors) {
  const SafetensorsFixture fixture = read_safetensors_fixture("awq/awq_4bit_g128.safetensors");
  const AwqTensors tensors{fixture.at("qweight").view(), fixture.at("qzeros").view(), fixture.at("scales").view()};
  const auto error_for = [&](const AwqParams& params, const AwqTensors& candidate) {
    const auto shape = quant::validate_awq(params, candidate);
    return shape ? std::string() : shape.error().to_string();
  };
  AwqParams params;
  EXPECT_EQ(error_for(params, tensors), "");
  params.group_size = 64;
  EXPECT_NE(error_for(params, tensors).find("awq scales has shape [2, 128], expected [4, 128]"), std::string::npos);
  params = AwqParams{};
  params.bits = 8;
  EXPECT_NE(error_for(params, tensors).find("4 bits only"), std::string::npos);
  AwqTensors swapped = tensors;
  swapped.qweight = TensorView(tensors.qweight.data(), DType::kI32, {16, 256});  // a GPTQ-style [K/8, N] reading
  EXPECT_NE(error_for(AwqParams{}, swapped).find("in_features 16 (qweight rows) is not a multiple of group_size 128"),
            std::string::npos)
      << error_for(AwqParams{}, swapped);
}

}  // namespace
}  // namespace ferrum
