#include "engine/scheduler.h"

#include <algorithm>

namespace ferrum {

Scheduler::Scheduler(SchedulerConfig config, KvCacheManager& kv) : config_(config), kv_(kv) {}

void Scheduler::add(EngineSequence* seq) {
  waiting_.push_back(seq);
}

void Scheduler::remove(EngineSequence* seq) {
  std::erase(running_, seq);
  std::erase(waiting_, seq);
  kv_.free(seq->blocks);
}

void Scheduler::preempt_last(SchedulerOutput& output) {
  EngineSequence* victim = running_.back();
  running_.pop_back();
  kv_.free(victim->blocks);
  victim->num_computed = 0;
  ++victim->preemptions;
  ++output.preemptions;
  waiting_.push_front(victim);
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput output;
  size_t budget = config_.max_num_batched_tokens;

  // 1. Running sequences, oldest first.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    EngineSequence* seq = running_[i];
    const size_t count = std::min(seq->tokens.size() - seq->num_computed, budget);
    bool preempted_self = false;
    while (!kv_.allocate(seq->blocks, {}, seq->num_computed, count, output.copies)) {
      const bool last = running_.back() == seq;
      preempt_last(output);
      if (last) {
        preempted_self = true;
        break;
      }
    }
    if (preempted_self) break;
    output.chunks.push_back({seq, seq->num_computed, count});
    output.num_tokens += count;
    budget -= count;
    ++i;
  }

  // 2. Waiting sequences, first come first served, unless this step had to preempt.
  while (output.preemptions == 0 && !waiting_.empty() && budget > 0 && running_.size() < config_.max_num_seqs) {
    EngineSequence* seq = waiting_.front();
    hits_.clear();
    const size_t cached = kv_.find_cached_prefix(seq->blocks, seq->tokens, hits_);
    // At least the last token is computed: its logits are what the step samples.
    const size_t computed = std::min(cached, seq->tokens.size() - 1);
    const size_t needed = seq->tokens.size() - computed;
    if (!config_.chunked_prefill && needed > budget) break;
    const size_t count = std::min(needed, budget);
    if (!kv_.allocate(seq->blocks, hits_, computed, count, output.copies)) break;
    seq->num_computed = computed;
    if (!seq->admitted) {
      seq->admitted = true;
      seq->cached_prompt_tokens = std::min(computed, seq->prompt_len);
      output.prefix_queried_tokens += seq->tokens.size();
      output.prefix_hit_tokens += computed;
    }
    waiting_.pop_front();
    running_.push_back(seq);
    output.chunks.push_back({seq, computed, count});
    output.num_tokens += count;
    budget -= count;
  }
  return output;
}

void Scheduler::commit(const SchedulerOutput& output) {
  for (const ScheduledChunk& chunk : output.chunks) {
    EngineSequence* seq = chunk.seq;
    seq->num_computed = chunk.first + chunk.count;
    kv_.commit(seq->blocks, seq->tokens, seq->num_computed);
  }
}

}  // namespace ferrum
