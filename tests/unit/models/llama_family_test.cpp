// Llama-family decoders against HF transformers' float32 logits of the hf-tiny fixtures.
#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "formats/hf_config.h"
#include "models/llama_impl.h"
#include "models/safetensors_source.h"
#include "reference_fixture.h"

namespace ferrum {
namespace {

using testing::hf_tiny_dir;
using testing::max_abs_difference;

constexpr double kLogitTolerance = 1e-4;  // logits are O(1); f32 arithmetic in a different order

struct LoadedModel {
  std::unique_ptr<SafetensorsSource> source;
  std::optional<LlamaModel<CpuBackend>> model;
};

LoadedModel load(const std::string& name, size_t max_batch_tokens) {
  LoadedModel loaded;
  auto config = load_hf_config(hf_tiny_dir(name) / "config.json");
  EXPECT_TRUE(config) << config.error().to_string();
  auto hparams = llama_hparams(*config);
  EXPECT_TRUE(hparams) << hparams.error().to_string();
  auto source = SafetensorsSource::open(hf_tiny_dir(name) / "model.safetensors");
  EXPECT_TRUE(source) << source.error().to_string();
  loaded.source = std::move(*source);
  WeightLoader<CpuBackend> loader(*loaded.source, {});
  auto model = LlamaModel<CpuBackend>::load(*hparams, loader, max_batch_tokens, 128);
  EXPECT_TRUE(model) << model.error().to_string();
  if (model) loaded.model.emplace(std::move(*model));
  return loaded;
}

class LlamaFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaFamily, FullForwardMatchesTransformers) {
  const std::string name = GetParam();
  LoadedModel loaded = load(name, 64);
  ASSERT_TRUE(loaded.model);
  auto& model = *loaded.model;
  auto ids = testing::reference_ids(name, "input_ids");
  auto expected = testing::reference_tensor(name, "logits");
  ASSERT_TRUE(ids && expected);
  const size_t vocab = model.hparams().vocab_size;

  auto ctx = CpuBackend::new_context();
  auto state = model.new_state(128, CpuBackend::kActivationDType);
  ASSERT_TRUE(state);
  auto logits = CpuBackend::alloc(ids->size() * vocab, DType::kF32);
  ASSERT_TRUE(logits);
  Status status = model.forward(ctx, *ids, *state, *logits, /*all_logits=*/true);
  ASSERT_TRUE(status) << status.error().to_string();
  auto actual = CpuBackend::to_vec(*logits, ids->size() * vocab);
  ASSERT_TRUE(actual);
  const auto difference = max_abs_difference(*actual, *expected);
  std::printf("%-12s full forward: max |logit - reference| = %.3g at token %zu\n", name.c_str(), difference.max_abs,
              difference.worst_index / vocab);
  EXPECT_LT(difference.max_abs, kLogitTolerance);
}

TEST_P(LlamaFamily, CachedDecodeMatchesFullForward) {
  const std::string name = GetParam();
  // A batch limit of 7 also makes the prompt run in uneven chunks.
  LoadedModel loaded = load(name, 7);
  ASSERT_TRUE(loaded.model);
  auto& model = *loaded.model;
  auto ids = testing::reference_ids(name, "input_ids");
  auto expected = testing::reference_tensor(name, "logits");
  ASSERT_TRUE(ids && expected);
  const size_t vocab = model.hparams().vocab_size;
  auto ctx = CpuBackend::new_context();
  auto state = model.new_state(128, CpuBackend::kActivationDType);
  auto logits = CpuBackend::alloc(vocab, DType::kF32);
  ASSERT_TRUE(state && logits);

  const size_t prompt = 11;
  ASSERT_TRUE(model.forward(ctx, std::span(*ids).first(prompt), *state, *logits, false));
  double worst = 0;
  for (size_t t = prompt; t <= ids->size(); ++t) {
    auto row = CpuBackend::to_vec(*logits, vocab);
    ASSERT_TRUE(row);
    const std::vector<float> reference(expected->begin() + static_cast<ptrdiff_t>((t - 1) * vocab),
                                       expected->begin() + static_cast<ptrdiff_t>(t * vocab));
    worst = std::max(worst, max_abs_difference(*row, reference).max_abs);
    if (t == ids->size()) break;
    ASSERT_TRUE(model.forward(ctx, std::span(*ids).subspan(t, 1), *state, *logits, false));
  }
  std::printf("%-12s cached decode: max |logit - reference| = %.3g\n", name.c_str(), worst);
  EXPECT_LT(worst, kLogitTolerance);
}

TEST_P(LlamaFamily, GreedyContinuationMatchesTransformers) {
  const std::string name = GetParam();
  LoadedModel loaded = load(name, 64);
  ASSERT_TRUE(loaded.model);
  auto& model = *loaded.model;
  auto ids = testing::reference_ids(name, "input_ids");
  auto json = testing::reference_json(name);
  ASSERT_TRUE(ids && json);
  const auto expected = (*json)["greedy_continuation"].get<std::vector<uint32_t>>();
  const size_t vocab = model.hparams().vocab_size;
  auto ctx = CpuBackend::new_context();
  auto state = model.new_state(128, CpuBackend::kActivationDType);
  auto logits = CpuBackend::alloc(vocab, DType::kF32);
  ASSERT_TRUE(state && logits);
  ASSERT_TRUE(model.forward(ctx, *ids, *state, *logits, false));
  std::vector<uint32_t> generated;
  for (size_t step = 0; step < expected.size(); ++step) {
    auto row = CpuBackend::to_vec(*logits, vocab);
    ASSERT_TRUE(row);
    const uint32_t next = static_cast<uint32_t>(std::max_element(row->begin(), row->end()) - row->begin());
    generated.push_back(next);
    ASSERT_TRUE(model.forward(ctx, std::span(&next, 1), *state, *logits, false));
  }
  EXPECT_EQ(generated, expected);
}

INSTANTIATE_TEST_SUITE_P(HfTiny, LlamaFamily, ::testing::Values("llama3", "qwen2", "qwen3", "mistral_swa", "gemma3"));

}  // namespace
}  // namespace ferrum
