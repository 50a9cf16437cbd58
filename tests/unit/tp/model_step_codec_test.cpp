// The steps rank 0 broadcasts: every kind survives encode / decode with its fields (the batched
// kinds with their whole ForwardBatch), and malformed bytes are refused, never half-read.
#include <gtest/gtest.h>

#include "engine/tensor_parallel_steps.h"

namespace ferrum {
namespace {

ForwardBatch sample_batch() {
  ForwardBatch batch;
  batch.tokens = {5, 6, 7};
  batch.positions = {0, 1, 4};
  batch.slot_mapping = {0, 1, 9};
  batch.query_start = {0, 2, 3};
  batch.context_lens = {2, 5};
  batch.max_blocks_per_seq = 2;
  batch.block_tables = {0, -1, 2, 3};
  batch.logits_rows = {1, 2};
  return batch;
}

TEST(ModelStepCodec, EveryKindRoundTrips) {
  for (uint8_t k = static_cast<uint8_t>(ModelStep::Kind::kNewSequence);
       k <= static_cast<uint8_t>(ModelStep::Kind::kForwardGreedy); ++k) {
    const auto kind = static_cast<ModelStep::Kind>(k);
    const bool batched = kind == ModelStep::Kind::kForwardBatch || kind == ModelStep::Kind::kForwardBatchArgmax ||
                         kind == ModelStep::Kind::kForwardBatchSample;
    ModelStep step{.kind = kind, .id = 42, .value = 7, .value2 = 9, .dtype = 3, .tokens = {1, 2, 3}};
    if (batched) step.batch = sample_batch();
    auto decoded = decode_model_step(encode_model_step(step));
    ASSERT_TRUE(decoded) << "kind " << int(k) << ": " << decoded.error().to_string();
    EXPECT_EQ(decoded->kind, kind);
    EXPECT_EQ(decoded->id, 42u);
    EXPECT_EQ(decoded->value, 7u);
    EXPECT_EQ(decoded->value2, 9u);
    EXPECT_EQ(decoded->dtype, 3u);
    EXPECT_EQ(decoded->tokens, step.tokens);
    const ForwardBatch& b = decoded->batch;
    const ForwardBatch& e = step.batch;
    EXPECT_EQ(b.tokens, e.tokens) << "kind " << int(k);
    EXPECT_EQ(b.positions, e.positions);
    EXPECT_EQ(b.slot_mapping, e.slot_mapping);
    EXPECT_EQ(b.query_start, e.query_start);
    EXPECT_EQ(b.context_lens, e.context_lens);
    EXPECT_EQ(b.block_tables, e.block_tables);
    EXPECT_EQ(b.max_blocks_per_seq, e.max_blocks_per_seq);
    EXPECT_EQ(b.logits_rows, e.logits_rows);
  }
}

TEST(ModelStepCodec, RefusesUnknownKindsTruncationAndTrailingBytes) {
  const ModelStep step{.kind = ModelStep::Kind::kForwardBatchSample, .id = 1, .batch = sample_batch()};
  std::vector<uint8_t> bytes = encode_model_step(step);

  std::vector<uint8_t> unknown = bytes;
  unknown[0] = static_cast<uint8_t>(ModelStep::Kind::kForwardGreedy) + 1;
  EXPECT_FALSE(decode_model_step(unknown));
  unknown[0] = 0;
  EXPECT_FALSE(decode_model_step(unknown));

  for (size_t cut : {size_t{0}, size_t{1}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_FALSE(decode_model_step(std::span(bytes.data(), cut))) << "cut at " << cut;
  }
  bytes.push_back(0);
  EXPECT_FALSE(decode_model_step(bytes));
}

}  // namespace
}  // namespace ferrum
