// FLOP and byte accounting at real shapes: the parameter counts of the published models and
// gpt-fast's rule of thumb (about 2 FLOPs per parameter per token).
#include <gtest/gtest.h>

#include <fstream>

#include "bench/model_costs.h"
#include "formats/hf_config.h"
#include "synth/preset_config.h"
#include "synth/synthetic_vocab.h"
#include "temp_dir.h"

namespace ferrum {
namespace {

ModelConfig preset_config(const char* name, const std::filesystem::path& dir) {
  const synth::ModelPreset* preset = *synth::find_preset(name);
  synth::BpeVocab vocab;
  const std::filesystem::path path = dir / (std::string(name) + ".json");
  std::ofstream(path) << synth::hf_config_text(*preset, "bfloat16", synth::PackedQuant::kNone, vocab, 0);
  auto config = load_hf_config(path);
  EXPECT_TRUE(config) << config.error().message();
  return *config;
}

TEST(ModelCosts, ParameterCountsMatchThePublishedModels) {
  bench_test::TempDir dir;
  CausalLmInfo info;
  info.kv_bytes_per_token = 1;
  const auto params = [&](const char* name) {
    return bench::model_costs(preset_config(name, dir.path()), info)->parameters / 1e9;
  };
  EXPECT_NEAR(params("llama3.1-8b"), 8.03, 0.01);
  EXPECT_NEAR(params("llama3.2-1b"), 1.24, 0.01);
  EXPECT_NEAR(params("llama3.1-70b"), 70.55, 0.05);
  // One tensor-parallel rank of the 8B: half of every split matrix, the norms whole.
  EXPECT_NEAR(params("llama3.1-8b-tp2-rank"), 4.015, 0.001);
  EXPECT_NEAR(params("qwen3-8b"), 8.19, 0.01);
  EXPECT_NEAR(params("mistral-7b"), 7.25, 0.01);
  EXPECT_NEAR(params("qwen3-30b-a3b"), 30.53, 0.05);
  auto moe = bench::model_costs(preset_config("qwen3-30b-a3b", dir.path()), info);
  // "A3B": Qwen's 3.3 B also counts the embedding table, which a token reads one row of.
  EXPECT_NEAR(moe->active_parameters / 1e9, 3.04, 0.02);
}

TEST(ModelCosts, FlopsPerTokenAndBytesPerStep) {
  bench_test::TempDir dir;
  CausalLmInfo info;
  info.weight_bytes = 16'060'000'000;
  info.kv_bytes_per_token = 2 * 32 * 8 * 128 * 2;  // K and V, 32 layers, 8 heads of 128, bf16: 128 KiB
  auto costs = bench::model_costs(preset_config("llama3.1-8b", dir.path()), info);
  ASSERT_TRUE(costs);
  // Decode at position 0: every linear layer and the lm_head, ~2 x 7.5 B non-embedding parameters.
  EXPECT_NEAR(costs->decode_flops(1) / 1e9, 15.0, 0.2);
  // Attention of one query over 1000 keys: 4 x 32 heads x 128 x 1000 per layer, 32 layers.
  EXPECT_NEAR(costs->attention_flops(1000), 4.0 * 32 * 128 * 1000 * 32, 1);
  // pp512: lm_head once, attention over 1..512 keys.
  const double expected =
      512 * costs->linear_flops_per_token + costs->lm_head_flops + 4.0 * 32 * 128 * 32 * (512.0 * 513 / 2);
  EXPECT_NEAR(costs->prefill_flops(512), expected, expected * 1e-12);
  EXPECT_DOUBLE_EQ(costs->decode_bytes(100), 16'060'000'000.0 + 100.0 * 131072);
  EXPECT_DOUBLE_EQ(costs->decode_bytes(100, 4), 16'060'000'000.0 + 4 * 100.0 * 131072);
}

TEST(ModelCosts, SlidingWindowLayersStopReadingPastTheirWindow) {
  bench_test::TempDir dir;
  CausalLmInfo info;
  info.kv_bytes_per_token = 34;  // one byte per layer per key
  auto costs = bench::model_costs(preset_config("gemma3-4b", dir.path()), info);
  ASSERT_TRUE(costs);
  // 34 layers, every sixth global: 5 global layers, 29 with a 1024-token window.
  EXPECT_DOUBLE_EQ(costs->kv_bytes_read(500), 34.0 * 500);
  EXPECT_DOUBLE_EQ(costs->kv_bytes_read(4096), 5.0 * 4096 + 29.0 * 1024);
}

}  // namespace
}  // namespace ferrum
