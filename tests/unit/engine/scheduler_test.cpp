// The scheduler without a model: the token budget and chunked prefill, max_num_seqs, preemption by
// recompute when blocks run out, prefix-cache admission, and block accounting after every step.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <memory>
#include <numeric>

namespace ferrum {
namespace {

class SchedulerTest : public ::testing::Test {
 protected:
  void make(size_t num_blocks, size_t block_size, SchedulerConfig config, bool prefix_caching = true) {
    kv_ = std::make_unique<KvCacheManager>(num_blocks, block_size, prefix_caching);
    scheduler_ = std::make_unique<Scheduler>(config, *kv_);
  }

  EngineSequence* add(size_t prompt_len, int32_t first_token = 1) {
    auto seq = std::make_unique<EngineSequence>();
    seq->id = sequences_.size();
    seq->tokens.resize(prompt_len);
    std::iota(seq->tokens.begin(), seq->tokens.end(), first_token);
    seq->prompt_len = prompt_len;
    scheduler_->add(seq.get());
    sequences_.push_back(std::move(seq));
    return sequences_.back().get();
  }

  // One step: schedule, check the budget and the blocks, commit, and give every sampled sequence
  // a new token.
  SchedulerOutput step() {
    SchedulerOutput output = scheduler_->schedule();
    size_t tokens = 0;
    for (const ScheduledChunk& chunk : output.chunks) {
      tokens += chunk.count;
      EXPECT_GT(chunk.count, 0u);
      // Every scheduled token has a slot in the sequence's blocks.
      EXPECT_GE(chunk.seq->blocks.table.size() * kv_->block_size(), chunk.first + chunk.count);
    }
    EXPECT_EQ(tokens, output.num_tokens);
    EXPECT_LE(tokens, scheduler_->config().max_num_batched_tokens);
    EXPECT_LE(scheduler_->num_running(), scheduler_->config().max_num_seqs);
    scheduler_->commit(output);
    for (const ScheduledChunk& chunk : output.chunks) {
      if (chunk.samples()) chunk.seq->tokens.push_back(1000 + static_cast<int32_t>(chunk.seq->tokens.size()));
    }
    return output;
  }

  void remove_all() {
    for (auto& seq : sequences_) scheduler_->remove(seq.get());
    EXPECT_EQ(kv_->pool().num_used(), 0u) << "every block must be free once no sequence holds it";
  }

  std::unique_ptr<KvCacheManager> kv_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<std::unique_ptr<EngineSequence>> sequences_;
};

TEST_F(SchedulerTest, SpendsTheTokenBudgetOnDecodesThenChunkedPrefills) {
  make(64, 16, {.max_num_seqs = 8, .max_num_batched_tokens = 64, .max_model_len = 512});
  EngineSequence* a = add(100);
  EngineSequence* b = add(50, 500);
  EngineSequence* c = add(10, 700);

  SchedulerOutput first = step();
  ASSERT_EQ(first.chunks.size(), 1u);
  EXPECT_EQ(first.chunks[0].seq, a);
  EXPECT_EQ(first.chunks[0].count, 64u);  // the first 64 prompt tokens: a chunk
  EXPECT_FALSE(first.chunks[0].samples());

  SchedulerOutput second = step();
  ASSERT_EQ(second.chunks.size(), 2u);
  EXPECT_EQ(second.chunks[0].seq, a);
  EXPECT_EQ(second.chunks[0].count, 36u);  // the rest of a's prompt, then a samples
  EXPECT_EQ(a->tokens.size(), 101u);
  EXPECT_EQ(second.chunks[1].seq, b);
  EXPECT_EQ(second.chunks[1].count, 28u);  // what is left of the budget

  SchedulerOutput third = step();
  ASSERT_EQ(third.chunks.size(), 3u);
  EXPECT_EQ(third.chunks[0].count, 1u);   // a decodes
  EXPECT_EQ(third.chunks[1].count, 22u);  // b's last chunk
  EXPECT_EQ(third.chunks[2].seq, c);
  EXPECT_EQ(third.chunks[2].count, 10u);
  EXPECT_EQ(third.num_tokens, 33u);

  SchedulerOutput fourth = step();
  EXPECT_EQ(fourth.num_tokens, 3u);  // three decodes
  remove_all();
}

TEST_F(SchedulerTest, WithoutChunkingAPromptWaitsForAWholeBudget) {
  make(64, 16, {.max_num_seqs = 8, .max_num_batched_tokens = 64, .max_model_len = 64, .chunked_prefill = false});
  add(40);
  EngineSequence* b = add(30, 100);
  SchedulerOutput first = step();
  ASSERT_EQ(first.chunks.size(), 1u);  // b's 30 tokens do not fit the 24 left
  SchedulerOutput second = step();
  ASSERT_EQ(second.chunks.size(), 2u);
  EXPECT_EQ(second.chunks[1].seq, b);
  EXPECT_EQ(second.chunks[1].count, 30u);
  remove_all();
}

TEST_F(SchedulerTest, RunsAtMostMaxNumSeqs) {
  make(64, 16, {.max_num_seqs = 2, .max_num_batched_tokens = 256, .max_model_len = 512});
  EngineSequence* a = add(5);
  add(5);
  EngineSequence* c = add(5);
  step();
  EXPECT_EQ(scheduler_->num_running(), 2u);
  EXPECT_EQ(scheduler_->num_waiting(), 1u);
  step();
  EXPECT_EQ(scheduler_->num_running(), 2u);
  scheduler_->remove(a);  // a finishes: c takes its place
  SchedulerOutput next = step();
  EXPECT_EQ(next.chunks.back().seq, c);
  EXPECT_EQ(next.chunks.back().count, 5u);
  remove_all();
}

TEST_F(SchedulerTest, PreemptsTheNewestSequenceWhenBlocksRunOut) {
  // 6 blocks of 4 tokens; three prompts of 7 take 2 blocks each.
  make(6, 4, {.max_num_seqs = 8, .max_num_batched_tokens = 64, .max_model_len = 24});
  EngineSequence* a = add(7);
  EngineSequence* b = add(7, 100);
  EngineSequence* c = add(7, 200);
  EXPECT_EQ(step().chunks.size(), 3u);
  EXPECT_EQ(kv_->pool().num_used(), 6u);
  EXPECT_EQ(step().num_tokens, 3u);  // position 7 still fits in each second block
  // Position 8 needs a third block each: a and b get c's, c goes back to wait.
  SchedulerOutput output = step();
  EXPECT_EQ(output.preemptions, 1u);
  ASSERT_EQ(output.chunks.size(), 2u);
  EXPECT_EQ(output.chunks[0].seq, a);
  EXPECT_EQ(output.chunks[1].seq, b);
  EXPECT_EQ(c->num_computed, 0u);
  EXPECT_EQ(c->preemptions, 1u);
  EXPECT_EQ(scheduler_->num_waiting(), 1u);
  EXPECT_TRUE(c->blocks.table.empty());
  EXPECT_EQ(kv_->pool().num_used(), 6u);
  // When a finishes, c is recomputed: its prompt and the two tokens it had generated.
  scheduler_->remove(a);
  SchedulerOutput resumed = step();
  EXPECT_EQ(resumed.chunks.back().seq, c);
  EXPECT_EQ(resumed.chunks.back().first + resumed.chunks.back().count, 9u);
  remove_all();
}

TEST_F(SchedulerTest, TheNewestSequenceStepsBackItselfWhenItCannotGrow) {
  // a's prompt of 10 leaves room in its third block; b's prompt of 4 fills its only block, and the
  // pool has nothing left for b's next token: b, the newest, is preempted, a goes on.
  make(4, 4, {.max_num_seqs = 8, .max_num_batched_tokens = 64, .max_model_len = 16});
  EngineSequence* a = add(10);
  EngineSequence* b = add(4, 100);
  step();
  EXPECT_EQ(kv_->pool().num_used(), 4u);
  SchedulerOutput output = step();
  EXPECT_EQ(output.preemptions, 1u);
  ASSERT_EQ(output.chunks.size(), 1u);
  EXPECT_EQ(output.chunks[0].seq, a);
  EXPECT_EQ(b->preemptions, 1u);
  EXPECT_EQ(scheduler_->num_waiting(), 1u);
  remove_all();
}

TEST_F(SchedulerTest, AdmissionSkipsTheCachedPrefix) {
  make(32, 4, {.max_num_seqs = 8, .max_num_batched_tokens = 256, .max_model_len = 64});
  add(12);
  step();                       // a's three blocks are full and cached
  EngineSequence* b = add(11);  // b shares a's first 11 tokens: two full blocks
  SchedulerOutput output = step();
  ASSERT_EQ(output.chunks.size(), 2u);
  EXPECT_EQ(output.chunks[1].first, 8u);
  EXPECT_EQ(output.chunks[1].count, 3u);
  EXPECT_EQ(output.prefix_queried_tokens, 11u);
  EXPECT_EQ(output.prefix_hit_tokens, 8u);
  EXPECT_EQ(b->cached_prompt_tokens, 8u);
  EXPECT_TRUE(output.copies.empty());
  // The same 12 tokens as a: all cached, the last recomputed into a private copy of its block.
  EngineSequence* c = add(12);
  SchedulerOutput full = step();
  EXPECT_EQ(full.chunks.back().seq, c);
  EXPECT_EQ(full.chunks.back().first, 11u);
  EXPECT_EQ(full.chunks.back().count, 1u);
  EXPECT_EQ(full.copies.size(), 1u);
  remove_all();
}

TEST_F(SchedulerTest, NoPrefixCachingMeansNoHits) {
  make(32, 4, {.max_num_seqs = 8, .max_num_batched_tokens = 256, .max_model_len = 64}, false);
  add(12);
  step();
  add(12);
  SchedulerOutput output = step();
  EXPECT_EQ(output.chunks.back().first, 0u);
  EXPECT_EQ(output.chunks.back().count, 12u);
  remove_all();
}

}  // namespace
}  // namespace ferrum
