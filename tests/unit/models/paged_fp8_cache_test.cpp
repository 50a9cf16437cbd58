// The paged KV cache in f8_e4m3 (a scale per token and head) against HF transformers' float32
// logits of every decoder family's hf-tiny fixture, through the batched path (paged_logits.h:
// most logits read K / V back from the pools); every position's logits are compared. f32 pools reproduce HF to f32
// rounding; e4m3 keeps 4 significant bits per value, which moves these O(1) logits by a few hundredths.
#include <gtest/gtest.h>

#include <cstdio>

#include "models/causal_lm_factory.h"
#include "models/model_files.h"
#include "paged_logits.h"
#include "reference_fixture.h"

namespace ferrum {
namespace {

constexpr double kF32PoolTolerance = 1e-4;
constexpr double kF8PoolTolerance = 5e-2;

std::unique_ptr<CausalLm> load_tiny(const std::string& name) {
  auto files = open_model_files(testing::hf_tiny_dir(name).string());
  EXPECT_TRUE(files) << files.error().to_string();
  if (!files) return nullptr;
  auto model = create_cpu_causal_lm(*files, {.max_context = 128, .max_batch_tokens = 64});
  EXPECT_TRUE(model) << model.error().to_string();
  return model ? std::move(*model) : nullptr;
}

class PagedFp8Cache : public ::testing::TestWithParam<std::string> {};

TEST_P(PagedFp8Cache, LogitsStayNearTransformers) {
  const std::string name = GetParam();
  auto model = load_tiny(name);
  ASSERT_TRUE(model);
  auto ids = testing::reference_ids(name, "input_ids");
  auto expected = testing::reference_tensor(name, "logits");
  ASSERT_TRUE(ids && expected);

  auto exact = testing::paged_logits(*model, *ids, DType::kF32);
  ASSERT_TRUE(exact) << exact.error().to_string();
  auto fp8 = testing::paged_logits(*model, *ids, DType::kF8E4M3);
  ASSERT_TRUE(fp8) << fp8.error().to_string();
  ASSERT_EQ(fp8->size(), expected->size());

  const testing::Difference f32_pool = testing::max_abs_difference(*exact, *expected);
  const testing::Difference f8_pool = testing::max_abs_difference(*fp8, *expected);
  EXPECT_LT(f32_pool.max_abs, kF32PoolTolerance) << name << " with f32 pools, at " << f32_pool.worst_index;
  EXPECT_LT(f8_pool.max_abs, kF8PoolTolerance) << name << " with e4m3 pools, at " << f8_pool.worst_index;
  // The e4m3 pools must really round: a difference of nothing would mean they were not used.
  EXPECT_GT(f8_pool.max_abs, 10 * f32_pool.max_abs) << name;
  std::printf("%s: max |logit - HF| %.2e with f32 pools, %.2e with e4m3 pools\n", name.c_str(), f32_pool.max_abs,
              f8_pool.max_abs);
}

INSTANTIATE_TEST_SUITE_P(HfTiny, PagedFp8Cache,
                         ::testing::Values("llama3", "qwen3", "qwen2", "mistral_swa", "gemma3", "qwen3_moe",
                                           "deepseek_v3"));

}  // namespace
}  // namespace ferrum
