// Per-tensor types of quant/quant_recipe.h applied to gen-model's GGUF tensor plans reproduce
// llama.cpp's file sizes at real shapes (the anchors in ../shared/anchors: Llama-3.2-1B Q4_K_M
// 763 MiB, Q8_0 1.22 GiB, F16 2.30 GiB; Llama-3.1-8B Q4_K_M 4.58 GiB, Q8_0 7.95 GiB, F16 14.96 GiB).
#include <gtest/gtest.h>

#include "quant/quant_recipe.h"
#include "synth/model_presets.h"
#include "synth/weight_plan.h"

namespace ferrum {
namespace {

double recipe_bytes(const char* preset_name, quant::QuantRecipe recipe) {
  const synth::ModelPreset* preset = *synth::find_preset(preset_name);
  double bytes = 0;
  for (const synth::PlannedTensor& tensor : synth::plan_weights(*preset, synth::WeightLayout::kGguf)) {
    const quant::TensorSlot slot =
        quant::classify_tensor(tensor.name, tensor.shape.rank(), preset->tie_word_embeddings);
    const DType type = quant::recipe_tensor_type(
        recipe, slot, static_cast<size_t>(tensor.shape[tensor.shape.rank() - 1]), preset->num_layers);
    bytes += static_cast<double>(dtype_bytes(type, static_cast<size_t>(tensor.shape.numel())).value_or(0));
  }
  return bytes;
}

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kGiB = kMiB * 1024.0;

TEST(QuantRecipeAtRealShapes, SizesMatchLlamaCppForLlama1BAnd8B) {
  EXPECT_NEAR(recipe_bytes("llama3.2-1b", quant::QuantRecipe::kQ4_K_M) / kMiB, 763, 2);
  EXPECT_NEAR(recipe_bytes("llama3.2-1b", quant::QuantRecipe::kQ8_0) / kGiB, 1.22, 0.01);
  EXPECT_NEAR(recipe_bytes("llama3.2-1b", quant::QuantRecipe::kF16) / kGiB, 2.30, 0.01);
  EXPECT_NEAR(recipe_bytes("llama3.1-8b", quant::QuantRecipe::kQ4_K_M) / kGiB, 4.58, 0.01);
  EXPECT_NEAR(recipe_bytes("llama3.1-8b", quant::QuantRecipe::kQ8_0) / kGiB, 7.95, 0.01);
  EXPECT_NEAR(recipe_bytes("llama3.1-8b", quant::QuantRecipe::kF16) / kGiB, 14.96, 0.01);
}

TEST(QuantRecipeAtRealShapes, StackedExpertsAndRoutersOfQwen3Moe) {
  const synth::ModelPreset* preset = *synth::find_preset("qwen3-30b-a3b");
  const auto type_of = [&](const char* name, Shape shape) {
    const quant::TensorSlot slot = quant::classify_tensor(name, shape.rank(), false);
    return quant::recipe_tensor_type(quant::QuantRecipe::kQ4_K_M, slot, static_cast<size_t>(shape[shape.rank() - 1]),
                                     preset->num_layers);
  };
  EXPECT_EQ(type_of("blk.3.ffn_gate_inp.weight", Shape{128, 2048}), DType::kF32);
  EXPECT_EQ(type_of("blk.0.ffn_down_exps.weight", Shape{128, 2048, 768}), DType::kQ6_K);
  EXPECT_EQ(type_of("blk.7.ffn_down_exps.weight", Shape{128, 2048, 768}), DType::kQ4_K);
  EXPECT_EQ(type_of("blk.7.ffn_up_exps.weight", Shape{128, 768, 2048}), DType::kQ4_K);
}

}  // namespace
}  // namespace ferrum
