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

// llama-quantize's description of its 2- and 3-bit mixes (quant_recipe.h), tensor by tensor.
TEST(QuantRecipeAtRealShapes, ThreeAndTwoBitMixesAsLlamaQuantizeDescribesThem) {
  const auto type_of = [](quant::QuantRecipe recipe, const char* name) {
    const quant::TensorSlot slot = quant::classify_tensor(name, 2, false);
    return quant::recipe_tensor_type(recipe, slot, 4096, 32);
  };
  using quant::QuantRecipe;
  for (const char* name : {"blk.5.attn_v.weight", "blk.5.attn_output.weight", "blk.0.ffn_down.weight"}) {
    EXPECT_EQ(type_of(QuantRecipe::kQ3_K_M, name), DType::kQ4_K) << name;
  }
  for (const char* name : {"blk.5.attn_q.weight", "blk.5.attn_k.weight", "blk.9.ffn_gate.weight", "blk.9.ffn_up.weight",
                           "token_embd.weight"}) {
    EXPECT_EQ(type_of(QuantRecipe::kQ3_K_M, name), DType::kQ3_K) << name;
    EXPECT_EQ(type_of(QuantRecipe::kQ2_K, name), DType::kQ2_K) << name;
  }
  EXPECT_EQ(type_of(QuantRecipe::kQ2_K, "blk.5.attn_v.weight"), DType::kQ4_K);
  EXPECT_EQ(type_of(QuantRecipe::kQ2_K, "blk.5.ffn_down.weight"), DType::kQ4_K);
  EXPECT_EQ(type_of(QuantRecipe::kQ2_K, "blk.5.attn_output.weight"), DType::kQ2_K);
  EXPECT_EQ(type_of(QuantRecipe::kQ3_K_M, "output.weight"), DType::kQ6_K);
  EXPECT_EQ(type_of(QuantRecipe::kQ2_K, "output.weight"), DType::kQ6_K);
  EXPECT_EQ(*quant::parse_quant_recipe("q3_k_m"), QuantRecipe::kQ3_K_M);
  EXPECT_EQ(quant::gguf_file_type(QuantRecipe::kQ2_K), 10u);  // llama.cpp's LLAMA_FTYPE_MOSTLY_Q2_K
  // The published Llama-3.1-8B Q3_K_M files are 3.74 GiB (4.02 GB); the documented mix, without
  // llama.cpp's first-layer refinements, lands half a percent below.
  EXPECT_NEAR(recipe_bytes("llama3.1-8b", QuantRecipe::kQ3_K_M) / kGiB, 3.72, 0.01);
}

// The legacy recipes put their type on every weight matrix but the output one (Q6_K), and carry
// llama.cpp's LLAMA_FTYPE_MOSTLY_* numbers.
TEST(QuantRecipeAtRealShapes, LegacyRecipesKeepOneTypeButTheOutput) {
  using quant::QuantRecipe;
  const struct {
    QuantRecipe recipe;
    DType type;
    uint32_t file_type;
  } recipes[] = {{QuantRecipe::kQ4_0, DType::kQ4_0, 2},
                 {QuantRecipe::kQ4_1, DType::kQ4_1, 3},
                 {QuantRecipe::kQ5_0, DType::kQ5_0, 8},
                 {QuantRecipe::kQ5_1, DType::kQ5_1, 9}};
  for (const auto& [recipe, type, file_type] : recipes) {
    SCOPED_TRACE(quant::quant_recipe_name(recipe));
    EXPECT_EQ(*quant::parse_quant_recipe(std::string(quant::quant_recipe_name(recipe))), recipe);
    EXPECT_EQ(quant::gguf_file_type(recipe), file_type);
    for (const char* name : {"blk.0.attn_q.weight", "blk.5.attn_v.weight", "blk.0.ffn_down.weight",
                             "blk.9.ffn_up.weight", "token_embd.weight"}) {
      EXPECT_EQ(quant::recipe_tensor_type(recipe, quant::classify_tensor(name, 2, false), 4096, 32), type) << name;
    }
    EXPECT_EQ(quant::recipe_tensor_type(recipe, quant::classify_tensor("output.weight", 2, false), 4096, 32),
              DType::kQ6_K);
  }
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
