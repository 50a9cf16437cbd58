// `ferrum quantize` end to end: hf-tiny checkpoints written as GGUF by quantize_model, read back with
// GgufFile and loaded with open_model_files + create_cpu_causal_lm, their logits compared with the
// same checkpoint's bf16 weights run by ferrum and with transformers' reference logits, both under
// the tolerance below.
//
// Tolerances, relative to max |logit| of the bf16 model (random weights: 0.6 to 1 here):
//   F16 / BF16 recipes: the bf16 weights survive exactly (f16 holds every bf16 value of this range)
//     -> 1e-5, f32 arithmetic only.
//   Q8_0: 8-bit weights (a step of 1/127 of each block's largest value), and the CPU's integer
//     kernels round the activations to 8 bits too -> 2e-2; Gemma 3 (embeddings scaled by
//     sqrt(hidden), sandwich norms) measures 4.1e-2 -> 6e-2.
//   Q4_K_M: the hf-tiny rows (64, 160, 176 values) are not whole 256-value super-blocks, so the
//     recipe falls back to Q5_0 / Q8_0 / F16 (checked below) -> 8e-2.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "formats/gguf_file.h"
#include "models/causal_lm_factory.h"
#include "models/quantize_model.h"
#include "reference_fixture.h"

namespace ferrum {
namespace {

using testing::hf_tiny_dir;
using testing::max_abs_difference;

std::filesystem::path scratch_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("ferrum-quantize-test-" + name);
}

Expected<std::vector<float>> logits_of(const std::filesystem::path& model, const std::vector<uint32_t>& ids) {
  FERRUM_ASSIGN_OR_RETURN(ModelFiles files, open_model_files(model.string()));
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> lm, create_cpu_causal_lm(files, ModelRuntimeOptions{}));
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<SequenceState> state, lm->new_sequence(ids.size()));
  return lm->forward_all(*state, ids);
}

Expected<QuantizeReport> quantize(const std::filesystem::path& input, const std::filesystem::path& output,
                                  quant::QuantRecipe recipe) {
  QuantizeOptions options;
  options.input = input;
  options.output = output;
  options.recipe = recipe;
  options.threads = 2;
  return quantize_model(options);
}

struct Case {
  std::string model;
  std::string type;
  double tolerance;
};

class QuantizeHfTiny : public ::testing::TestWithParam<Case> {};

TEST_P(QuantizeHfTiny, LogitsFollowTheBf16Model) {
  const Case& c = GetParam();
  auto ids = testing::reference_ids(c.model, "input_ids");
  ASSERT_TRUE(ids);
  auto recipe = quant::parse_quant_recipe(c.type);
  ASSERT_TRUE(recipe);
  const std::filesystem::path out = scratch_file(c.model + "-" + c.type + ".gguf");
  auto report = quantize(hf_tiny_dir(c.model), out, *recipe);
  ASSERT_TRUE(report) << report.error().to_string();

  auto file = GgufFile::open(out);  // what was written reads back
  ASSERT_TRUE(file) << file.error().to_string();
  EXPECT_EQ(file->tensors().size(), report->tensors);
  auto bf16 = logits_of(hf_tiny_dir(c.model), *ids);
  auto quantized = logits_of(out, *ids);
  ASSERT_TRUE(bf16) << bf16.error().to_string();
  ASSERT_TRUE(quantized) << quantized.error().to_string();
  auto transformers = testing::reference_tensor(c.model, "logits");
  ASSERT_TRUE(transformers);
  const double error = max_abs_difference(*quantized, *bf16).max_abs;
  const double error_vs_transformers = max_abs_difference(*quantized, *transformers).max_abs;
  double largest = 0;
  for (float logit : *bf16) largest = std::max(largest, static_cast<double>(std::fabs(logit)));
  double largest_transformers = 0;
  for (float logit : *transformers) {
    largest_transformers = std::max(largest_transformers, static_cast<double>(std::fabs(logit)));
  }
  std::printf("%-12s %-7s max |logit - bf16 model| = %.3g = %.3g of max |logit| %.3g; vs transformers %.3g = %.3g\n",
              c.model.c_str(), c.type.c_str(), error, error / largest, largest, error_vs_transformers,
              error_vs_transformers / largest_transformers);
  EXPECT_LT(error, c.tolerance * largest);
  // The same bound against the reference no one here wrote: ferrum's bf16 model is within 1e-6
  // of it, so the quantization error is all that should show.
  EXPECT_LT(error_vs_transformers, c.tolerance * largest_transformers);
  std::filesystem::remove(out);
}

INSTANTIATE_TEST_SUITE_P(Recipes, QuantizeHfTiny,
                         ::testing::Values(Case{"llama3", "BF16", 1e-5}, Case{"llama3", "Q8_0", 2e-2},
                                           Case{"llama3", "Q4_K_M", 8e-2}, Case{"qwen3", "F16", 1e-5},
                                           Case{"qwen3", "Q8_0", 2e-2}, Case{"qwen3", "Q4_K_M", 8e-2},
                                           Case{"qwen2", "Q8_0", 2e-2}, Case{"mistral_swa", "Q8_0", 2e-2},
                                           Case{"gemma3", "BF16", 1e-5}, Case{"gemma3", "Q8_0", 6e-2}),
                         [](const auto& info) { return info.param.model + "_" + info.param.type; });

TEST(Quantize, TensorTypesFollowTheRecipe) {
  const std::filesystem::path out = scratch_file("qwen3-q4km.gguf");
  ASSERT_TRUE(quantize(hf_tiny_dir("qwen3"), out, quant::QuantRecipe::kQ4_K_M));
  auto file = GgufFile::open(out);
  ASSERT_TRUE(file);
  for (const GgufTensorInfo& info : file->tensors()) {
    const size_t cols = static_cast<size_t>(info.shape[info.shape.rank() - 1]);
    const quant::TensorSlot slot = quant::classify_tensor(info.name, info.shape.rank(), true);
    EXPECT_EQ(info.dtype, quant::recipe_tensor_type(quant::QuantRecipe::kQ4_K_M, slot, cols, 3)) << info.name;
    if (info.shape.rank() == 1) {
      EXPECT_EQ(info.dtype, DType::kF32) << info.name;
    }
  }
  // Tied embeddings: token_embd is the output and gets Q6_K's fallback (rows of 64: Q8_0).
  EXPECT_EQ(file->find_tensor("token_embd.weight")->dtype, DType::kQ8_0);
  EXPECT_EQ(file->find_tensor("output.weight"), nullptr);
  std::filesystem::remove(out);
}

TEST(Quantize, RecipeOnFullSizeRows) {
  // Llama-3.2-1B shapes: 16 layers, rows of 2048 / 8192.
  using quant::QuantRecipe;
  const auto type = [](std::string_view name, size_t cols, bool tied = true) {
    return quant::recipe_tensor_type(QuantRecipe::kQ4_K_M, quant::classify_tensor(name, 2, tied), cols, 16);
  };
  EXPECT_EQ(type("token_embd.weight", 2048), DType::kQ6_K);
  EXPECT_EQ(type("token_embd.weight", 2048, false), DType::kQ4_K);
  EXPECT_EQ(type("blk.0.attn_v.weight", 2048), DType::kQ6_K);
  EXPECT_EQ(type("blk.2.attn_v.weight", 2048), DType::kQ4_K);
  EXPECT_EQ(type("blk.4.ffn_down.weight", 8192), DType::kQ6_K);
  EXPECT_EQ(type("blk.5.ffn_down.weight", 8192), DType::kQ4_K);
  EXPECT_EQ(type("blk.15.ffn_down.weight", 8192), DType::kQ6_K);
  EXPECT_EQ(type("blk.3.attn_q.weight", 2048), DType::kQ4_K);
  EXPECT_EQ(quant::recipe_tensor_type(QuantRecipe::kQ8_0, quant::classify_tensor("blk.0.attn_norm.weight", 1, true),
                                      2048, 16),
            DType::kF32);
}

TEST(Quantize, GgufToGgufRequantizes) {
  const std::filesystem::path q8 = scratch_file("llama3-q8.gguf");
  const std::filesystem::path q4 = scratch_file("llama3-q8-to-q4km.gguf");
  ASSERT_TRUE(quantize(hf_tiny_dir("llama3"), q8, quant::QuantRecipe::kQ8_0));
  auto report = quantize(q8, q4, quant::QuantRecipe::kQ4_K_M);
  ASSERT_TRUE(report) << report.error().to_string();
  auto source = GgufFile::open(q8);
  auto written = GgufFile::open(q4);
  ASSERT_TRUE(source && written);
  // Every metadata key but the file type carries over.
  for (const GgufKeyValue& entry : source->metadata()) {
    EXPECT_NE(written->find(entry.key), nullptr) << entry.key;
  }
  EXPECT_EQ(*written->get_uint("general.file_type"), quant::gguf_file_type(quant::QuantRecipe::kQ4_K_M));
  auto ids = testing::reference_ids("llama3", "input_ids");
  auto bf16 = logits_of(hf_tiny_dir("llama3"), *ids);
  auto requantized = logits_of(q4, *ids);
  ASSERT_TRUE(bf16 && requantized) << (requantized ? "" : requantized.error().to_string());
  const double error = max_abs_difference(*requantized, *bf16).max_abs;
  double largest = 0;
  for (float logit : *bf16) largest = std::max(largest, static_cast<double>(std::fabs(logit)));
  std::printf("llama3 Q8_0 -> Q4_K_M: max |logit - bf16 model| = %.3g = %.3g of max |logit|\n", error, error / largest);
  EXPECT_LT(error, 8e-2 * largest);
  std::filesystem::remove(q8);
  std::filesystem::remove(q4);
}

}  // namespace
}  // namespace ferrum
