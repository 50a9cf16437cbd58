// BERT against transformers' BertModel on the hf-tiny fixture: last_hidden_state of the real tokens
// and the mean-pooled, L2-normalised sentence embedding, for a full row and a padded one.
#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "formats/hf_config.h"
#include "models/bert.h"
#include "models/safetensors_source.h"
#include "reference_fixture.h"

namespace ferrum {
namespace {

using testing::hf_tiny_dir;
using testing::max_abs_difference;

constexpr double kTolerance = 1e-4;

struct LoadedBert {
  std::unique_ptr<SafetensorsSource> source;
  std::optional<BertModel<CpuBackend>> model;
};

LoadedBert load_bert() {
  LoadedBert loaded;
  auto config = load_hf_config(hf_tiny_dir("bert") / "config.json");
  EXPECT_TRUE(config) << config.error().to_string();
  if (!config) return loaded;
  auto hparams = bert_hparams(*config);
  EXPECT_TRUE(hparams) << hparams.error().to_string();
  auto source = SafetensorsSource::open(hf_tiny_dir("bert") / "model.safetensors");
  EXPECT_TRUE(source) << source.error().to_string();
  if (!hparams || !source) return loaded;
  loaded.source = std::move(*source);
  WeightLoader<CpuBackend> loader(*loaded.source, {});
  auto model = BertModel<CpuBackend>::load(*hparams, loader);
  EXPECT_TRUE(model) << model.error().to_string();
  if (model) loaded.model.emplace(std::move(*model));
  return loaded;
}

// The reference batch: ids [2, 12] with attention_mask marking the real tokens of each row.
struct Batch {
  std::vector<uint32_t> ids, mask;
  size_t rows = 2, columns = 12;
  std::vector<uint32_t> real_tokens(size_t row) const {
    std::vector<uint32_t> tokens;
    for (size_t c = 0; c < columns; ++c) {
      if (mask[row * columns + c]) tokens.push_back(ids[row * columns + c]);
    }
    return tokens;
  }
};

Batch reference_batch() {
  Batch batch;
  auto ids = testing::reference_ids("bert", "input_ids");
  auto mask = testing::reference_ids("bert", "attention_mask");
  EXPECT_TRUE(ids && mask);
  if (ids && mask) {
    batch.ids = *ids;
    batch.mask = *mask;
  }
  return batch;
}

TEST(Bert, HiddenStatesMatchTransformers) {
  LoadedBert loaded = load_bert();
  ASSERT_TRUE(loaded.model);
  const Batch batch = reference_batch();
  auto expected = testing::reference_tensor("bert", "last_hidden_state");
  ASSERT_TRUE(expected);
  const size_t hidden = loaded.model->hparams().hidden_size;
  auto ctx = CpuBackend::new_context();
  for (size_t row = 0; row < batch.rows; ++row) {
    const std::vector<uint32_t> tokens = batch.real_tokens(row);
    auto out = CpuBackend::alloc(tokens.size() * hidden, DType::kF32);
    ASSERT_TRUE(out);
    Status status = loaded.model->encode(ctx, tokens, {}, *out);
    ASSERT_TRUE(status) << status.error().to_string();
    auto actual = CpuBackend::to_vec(*out, tokens.size() * hidden);
    ASSERT_TRUE(actual);
    // Padded positions of the reference are not outputs anyone uses; the real ones must match.
    const auto first = expected->begin() + static_cast<ptrdiff_t>(row * batch.columns * hidden);
    const std::vector<float> reference(first, first + static_cast<ptrdiff_t>(tokens.size() * hidden));
    const auto difference = max_abs_difference(*actual, reference);
    std::printf("bert row %zu (%zu tokens): max |hidden - reference| = %.3g at token %zu\n", row, tokens.size(),
                difference.max_abs, difference.worst_index / hidden);
    EXPECT_LT(difference.max_abs, kTolerance);
  }
}

TEST(Bert, MeanPooledEmbeddingsMatchTransformers) {
  LoadedBert loaded = load_bert();
  ASSERT_TRUE(loaded.model);
  const Batch batch = reference_batch();
  auto expected = testing::reference_tensor("bert", "mean_pooled_normalized");
  ASSERT_TRUE(expected);
  const size_t hidden = loaded.model->hparams().hidden_size;
  auto ctx = CpuBackend::new_context();
  for (size_t row = 0; row < batch.rows; ++row) {
    auto embedding = loaded.model->embed(ctx, batch.real_tokens(row));
    ASSERT_TRUE(embedding) << embedding.error().to_string();
    const std::vector<float> reference(expected->begin() + static_cast<ptrdiff_t>(row * hidden),
                                       expected->begin() + static_cast<ptrdiff_t>((row + 1) * hidden));
    const auto difference = max_abs_difference(*embedding, reference);
    std::printf("bert row %zu: max |embedding - reference| = %.3g\n", row, difference.max_abs);
    EXPECT_LT(difference.max_abs, kTolerance);
  }
}

// The padded row's embedding differs from one computed over its padding too: the mask matters.
TEST(Bert, PaddingTokensWouldChangeTheEmbedding) {
  LoadedBert loaded = load_bert();
  ASSERT_TRUE(loaded.model);
  const Batch batch = reference_batch();
  auto expected = testing::reference_tensor("bert", "mean_pooled_normalized");
  ASSERT_TRUE(expected);
  const size_t hidden = loaded.model->hparams().hidden_size;
  auto ctx = CpuBackend::new_context();
  const std::vector<uint32_t> with_padding(batch.ids.begin() + 12, batch.ids.end());
  auto embedding = loaded.model->embed(ctx, with_padding);
  ASSERT_TRUE(embedding);
  const std::vector<float> reference(expected->begin() + static_cast<ptrdiff_t>(hidden), expected->end());
  EXPECT_GT(max_abs_difference(*embedding, reference).max_abs, 1e-2);
}

TEST(Bert, RejectsBadInputs) {
  LoadedBert loaded = load_bert();
  ASSERT_TRUE(loaded.model);
  auto ctx = CpuBackend::new_context();
  auto too_long = loaded.model->embed(ctx, std::vector<uint32_t>(129, 5));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code(), ErrorCode::kLimitExceeded);
  auto bad_id = loaded.model->embed(ctx, std::vector<uint32_t>{1, 512});
  ASSERT_FALSE(bad_id);
  EXPECT_EQ(bad_id.error().code(), ErrorCode::kInvalidArgument);
  const std::vector<uint32_t> types = {0, 2};
  auto bad_type = loaded.model->embed(ctx, std::vector<uint32_t>{1, 2}, types);
  ASSERT_FALSE(bad_type);
  EXPECT_FALSE(loaded.model->embed(ctx, std::vector<uint32_t>{}));
}

}  // namespace
}  // namespace ferrum
