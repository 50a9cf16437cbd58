// Qwen3-MoE and DeepSeek V3 against HF transformers' float32 logits of the hf-tiny fixtures:
// full forward, cached decode (prompt in uneven chunks, then token by token), greedy continuation.
// Each family also gets a sensitivity check: a deliberately wrong variant (no top-k
// renormalisation; rope dims left interleaved) must miss the reference by far more than the
// tolerance, so the comparisons can fail.
#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "decoder_checks.h"
#include "formats/hf_config.h"
#include "models/deepseek_v3_impl.h"
#include "models/qwen3_moe_impl.h"
#include "models/safetensors_source.h"
#include "reference_fixture.h"

namespace ferrum {
namespace {

using testing::hf_tiny_dir;

template <class Model>
struct Loaded {
  std::unique_ptr<SafetensorsSource> source;
  std::optional<Model> model;
};

template <class Model, class HParams>
Loaded<Model> load(const std::string& name, size_t max_batch_tokens,
                   Expected<HParams> (*hparams_of)(const ModelConfig&), void (*adjust)(HParams&) = nullptr) {
  Loaded<Model> loaded;
  auto config = load_hf_config(hf_tiny_dir(name) / "config.json");
  EXPECT_TRUE(config) << config.error().to_string();
  if (!config) return loaded;
  auto hparams = hparams_of(*config);
  EXPECT_TRUE(hparams) << hparams.error().to_string();
  if (!hparams) return loaded;
  if (adjust) adjust(*hparams);
  auto source = SafetensorsSource::open(hf_tiny_dir(name) / "model.safetensors");
  EXPECT_TRUE(source) << source.error().to_string();
  if (!source) return loaded;
  loaded.source = std::move(*source);
  WeightLoader<CpuBackend> loader(*loaded.source, {});
  auto model = Model::load(*hparams, loader, max_batch_tokens, 128);
  EXPECT_TRUE(model) << model.error().to_string();
  if (model) loaded.model.emplace(std::move(*model));
  return loaded;
}

using Qwen3Moe = Qwen3MoeModel<CpuBackend>;
using DeepseekV3 = DeepseekV3Model<CpuBackend>;

Loaded<Qwen3Moe> load_qwen3_moe(size_t max_batch_tokens, void (*adjust)(Qwen3MoeHParams&) = nullptr) {
  return load<Qwen3Moe>("qwen3_moe", max_batch_tokens, &qwen3_moe_hparams, adjust);
}
Loaded<DeepseekV3> load_deepseek_v3(size_t max_batch_tokens, void (*adjust)(DeepseekV3HParams&) = nullptr) {
  return load<DeepseekV3>("deepseek_v3", max_batch_tokens, &deepseek_v3_hparams, adjust);
}

TEST(Qwen3Moe, FullForwardMatchesTransformers) {
  auto loaded = load_qwen3_moe(64);
  ASSERT_TRUE(loaded.model);
  testing::expect_full_forward_matches("qwen3_moe", *loaded.model);
}

TEST(Qwen3Moe, CachedDecodeMatchesFullForward) {
  auto loaded = load_qwen3_moe(7);  // the prompt runs in uneven chunks
  ASSERT_TRUE(loaded.model);
  testing::expect_cached_decode_matches("qwen3_moe", *loaded.model);
}

TEST(Qwen3Moe, GreedyContinuationMatchesTransformers) {
  auto loaded = load_qwen3_moe(64);
  ASSERT_TRUE(loaded.model);
  testing::expect_greedy_continuation_matches("qwen3_moe", *loaded.model);
}

TEST(Qwen3Moe, WithoutRenormalisedWeightsTheLogitsDiffer) {
  auto loaded = load_qwen3_moe(64, [](Qwen3MoeHParams& hp) { hp.moe.routing.normalize_weights = false; });
  ASSERT_TRUE(loaded.model);
  const double error = testing::full_forward_error("qwen3_moe", *loaded.model);
  std::printf("qwen3_moe without norm_topk_prob: max |logit - reference| = %.3g\n", error);
  EXPECT_GT(error, 100 * testing::kLogitTolerance);
}

TEST(DeepseekV3, FullForwardMatchesTransformers) {
  auto loaded = load_deepseek_v3(64);
  ASSERT_TRUE(loaded.model);
  testing::expect_full_forward_matches("deepseek_v3", *loaded.model);
}

TEST(DeepseekV3, CachedDecodeMatchesFullForward) {
  auto loaded = load_deepseek_v3(7);
  ASSERT_TRUE(loaded.model);
  testing::expect_cached_decode_matches("deepseek_v3", *loaded.model);
}

TEST(DeepseekV3, GreedyContinuationMatchesTransformers) {
  auto loaded = load_deepseek_v3(64);
  ASSERT_TRUE(loaded.model);
  testing::expect_greedy_continuation_matches("deepseek_v3", *loaded.model);
}

TEST(DeepseekV3, WithRopeDimsLeftInterleavedTheLogitsDiffer) {
  auto loaded = load_deepseek_v3(64, [](DeepseekV3HParams& hp) { hp.attention.rope_interleaved = false; });
  ASSERT_TRUE(loaded.model);
  const double error = testing::full_forward_error("deepseek_v3", *loaded.model);
  std::printf("deepseek_v3 without the rope reorder: max |logit - reference| = %.3g\n", error);
  EXPECT_GT(error, 10 * testing::kLogitTolerance);
}

// What the fixture's routing exercises: each DeepSeek-specific step, left out, moves the logits.
TEST(DeepseekV3, EachRoutingStepMatters) {
  const auto error_with = [](void (*adjust)(DeepseekV3HParams&)) {
    auto loaded = load_deepseek_v3(64, adjust);
    return loaded.model ? testing::full_forward_error("deepseek_v3", *loaded.model) : 0.0;
  };
  const double no_groups = error_with([](DeepseekV3HParams& hp) { hp.moe.routing.num_groups = 1; });
  const double no_bias = error_with([](DeepseekV3HParams& hp) { hp.moe.has_selection_bias = false; });
  const double no_scaling = error_with([](DeepseekV3HParams& hp) { hp.moe.routing.routed_scaling_factor = 1.0f; });
  const double no_mscale = error_with([](DeepseekV3HParams& hp) { hp.attention.scale = 1.0f / std::sqrt(24.0f); });
  std::printf("deepseek_v3 without group limit %.3g, selection bias %.3g, routed scaling %.3g, mscale^2 %.3g\n",
              no_groups, no_bias, no_scaling, no_mscale);
  for (double error : {no_groups, no_bias, no_scaling, no_mscale}) EXPECT_GT(error, 10 * testing::kLogitTolerance);
}

TEST(DeepseekV3, LatentCacheStaysInTheActivationDtype) {
  auto loaded = load_deepseek_v3(8);
  ASSERT_TRUE(loaded.model);
  auto state = loaded.model->new_state(16, DType::kBF16);
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().code(), ErrorCode::kUnsupported);
}

TEST(DeepseekV3, AttentionScaleCarriesYarnMscaleSquared) {
  RopeScaling yarn;
  yarn.type = RopeType::kYarn;
  yarn.factor = 40.0;
  yarn.mscale_all_dim = 1.0;
  const double mscale = 0.1 * std::log(40.0) + 1.0;
  EXPECT_NEAR(deepseek_attention_scale(192, yarn), mscale * mscale / std::sqrt(192.0), 1e-7);
  yarn.mscale_all_dim = 0.0;  // transformers skips the correction when mscale_all_dim is 0
  EXPECT_NEAR(deepseek_attention_scale(192, yarn), 1 / std::sqrt(192.0), 1e-7);
}

}  // namespace
}  // namespace ferrum
