// The Q4_K_M / Q8_0 recipes reproduce llama.cpp's file sizes for real shapes (the anchors in
// ../shared/anchors: Llama-3.2-1B Q4_K_M 763 MiB, Q8_0 1.22 GiB; Llama-3.1-8B Q4_K_M 4.58 GiB).
#include <gtest/gtest.h>

#include "quant/quant_recipe.h"
#include "synth/model_presets.h"
#include "synth/weight_plan.h"

namespace ferrum {
namespace {

double recipe_bytes(const char* preset_name, quant::GgufFileType file_type) {
  const synth::ModelPreset* preset = *synth::find_preset(preset_name);
  quant::QuantRecipeModel model;
  model.num_layers = preset->num_layers;
  model.has_output_tensor = !preset->tie_word_embeddings;
  model.num_experts = preset->num_experts;
  model.llama_70b_class = preset->family == synth::PresetFamily::kLlama && preset->num_layers == 80;
  double bytes = 0;
  for (const synth::PlannedTensor& tensor : synth::plan_weights(*preset, synth::WeightLayout::kGguf)) {
    auto type = quant::gguf_recipe_type(file_type, tensor.name, tensor.shape, model);
    EXPECT_TRUE(type) << tensor.name;
    bytes += static_cast<double>(dtype_bytes(*type, static_cast<size_t>(tensor.shape.numel())).value_or(0));
  }
  return bytes;
}

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kGiB = kMiB * 1024.0;

TEST(QuantRecipe, Q4KMSizesMatchLlamaCppForLlama1BAnd8B) {
  EXPECT_NEAR(recipe_bytes("llama3.2-1b", quant::GgufFileType::kMostlyQ4_K_M) / kMiB, 763, 2);
  EXPECT_NEAR(recipe_bytes("llama3.2-1b", quant::GgufFileType::kMostlyQ8_0) / kGiB, 1.22, 0.01);
  EXPECT_NEAR(recipe_bytes("llama3.2-1b", quant::GgufFileType::kMostlyF16) / kGiB, 2.30, 0.01);
  EXPECT_NEAR(recipe_bytes("llama3.1-8b", quant::GgufFileType::kMostlyQ4_K_M) / kGiB, 4.58, 0.01);
  EXPECT_NEAR(recipe_bytes("llama3.1-8b", quant::GgufFileType::kMostlyQ8_0) / kGiB, 7.95, 0.01);
  EXPECT_NEAR(recipe_bytes("llama3.1-8b", quant::GgufFileType::kMostlyF16) / kGiB, 14.96, 0.01);
}

TEST(QuantRecipe, MoreBitsLayersFollowTheFirstAndLastEighthAndEveryThirdBetween) {
  std::vector<size_t> chosen;
  for (size_t layer = 0; layer < 32; ++layer) {
    if (quant::layer_gets_more_bits(layer, 32)) chosen.push_back(layer);
  }
  const std::vector<size_t> expected = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  EXPECT_EQ(chosen, expected);
}

TEST(QuantRecipe, RoutersNormsAndNarrowRowsAreHandled) {
  const quant::QuantRecipeModel model{.num_layers = 48, .has_output_tensor = true, .num_experts = 128};
  const auto type = [&](const char* name, Shape shape) {
    return *quant::gguf_recipe_type(quant::GgufFileType::kMostlyQ4_K_M, name, shape, model);
  };
  EXPECT_EQ(type("blk.3.ffn_gate_inp.weight", Shape{128, 2048}), DType::kF32);
  EXPECT_EQ(type("blk.3.attn_norm.weight", Shape{2048}), DType::kF32);
  EXPECT_EQ(type("blk.0.ffn_down_exps.weight", Shape{128, 2048, 768}), DType::kQ6_K);
  EXPECT_EQ(type("blk.7.ffn_down_exps.weight", Shape{128, 2048, 768}), DType::kQ4_K);
  // A 96-wide row is no whole K-quant super-block: the 32-wide fallbacks take over.
  EXPECT_EQ(type("blk.7.attn_q.weight", Shape{64, 96}), DType::kQ5_0);
  EXPECT_EQ(type("output.weight", Shape{64, 96}), DType::kQ8_0);
  EXPECT_EQ(type("blk.7.attn_q.weight", Shape{64, 100}), DType::kF16);
  const quant::QuantRecipeModel llama70b{.num_layers = 80, .has_output_tensor = true, .llama_70b_class = true};
  EXPECT_EQ(
      *quant::gguf_recipe_type(quant::GgufFileType::kMostlyQ4_K_M, "blk.40.attn_v.weight", Shape{1024, 8192}, llama70b),
      DType::kQ5_K);
  EXPECT_FALSE(quant::parse_gguf_file_type("q3_k_xl"));
  EXPECT_EQ(*quant::parse_gguf_file_type("q4_k_m"), quant::GgufFileType::kMostlyQ4_K_M);
}

}  // namespace
}  // namespace ferrum
