// Which tokens of which sequences run in the next step, in the manner of vLLM's v1 scheduler: there
// are no separate prefill and decode phases, only a per-step token budget spent on every sequence's
// "tokens not yet in the cache" (one for a decode, a chunk of the prompt for a prefill).
//
// Each step:
//   1. Running sequences, oldest first, each take min(what they need, budget left) tokens: decodes
//      take one, a prompt too long for the budget continues as a chunk next step (chunked prefill).
//      When the block pool cannot hold a sequence's new tokens, the most recently admitted running
//      sequence is preempted (its blocks freed, its progress dropped, back to the front of the
//      waiting queue to be recomputed later) until the tokens fit, or the sequence itself was the
//      one preempted. Running out of blocks is never an error.
//   2. If nothing was preempted, waiting sequences are admitted first come first served while the
//      budget lasts, fewer than max_num_seqs run, and the pool has room: each first takes whatever
//      full blocks of its tokens the prefix cache holds and computes only the rest.
// A sequence always has at least one token computed in its admitting step (a fully cached prompt
// recomputes its last token, whose logits it needs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "engine/kv_cache_manager.h"

namespace ferrum {

// What the scheduler knows of a request: its tokens (prompt, then what it has generated) and how
// many of them are in the cache.
struct EngineSequence {
  uint64_t id = 0;
  std::vector<int32_t> tokens;
  size_t prompt_len = 0;
  size_t num_computed = 0;          // leading tokens whose K / V are in the cache
  size_t cached_prompt_tokens = 0;  // prompt tokens its first admission found in the prefix cache
  bool admitted = false;            // has been admitted at least once
  size_t preemptions = 0;
  SequenceBlocks blocks;
};

struct SchedulerConfig {
  size_t max_num_seqs = 256;
  size_t max_num_batched_tokens = 2048;
  size_t max_model_len = 4096;
  bool chunked_prefill = true;  // off: a prompt that does not fit the step's budget waits
};

// `count` tokens of `seq` from position `first` run this step.
struct ScheduledChunk {
  EngineSequence* seq = nullptr;
  size_t first = 0;
  size_t count = 0;
  // The chunk reaches the end of the sequence's tokens, so its last row's logits are sampled
  // (true until the sampled token is appended).
  bool samples() const { return first + count == seq->tokens.size(); }
};

struct SchedulerOutput {
  std::vector<ScheduledChunk> chunks;  // running sequences first, then newly admitted ones
  std::vector<BlockCopy> copies;       // copy-on-write, to run before the forward
  size_t num_tokens = 0;
  size_t preemptions = 0;
  uint64_t prefix_queried_tokens = 0;  // tokens looked up in the prefix cache at admission
  uint64_t prefix_hit_tokens = 0;      // of which found cached
  bool empty() const { return chunks.empty(); }
};

class Scheduler {
 public:
  Scheduler(SchedulerConfig config, KvCacheManager& kv);

  const SchedulerConfig& config() const { return config_; }
  // Queues a new sequence at the back of the waiting queue.
  void add(EngineSequence* seq);
  // Takes a finished or aborted sequence out of the queues and frees its blocks.
  void remove(EngineSequence* seq);
  SchedulerOutput schedule();
  // The step ran: the scheduled tokens are in the cache.
  void commit(const SchedulerOutput& output);

  size_t num_running() const { return running_.size(); }
  size_t num_waiting() const { return waiting_.size(); }
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }

 private:
  // Frees the most recently admitted running sequence and puts it back at the front of the queue.
  void preempt_last(SchedulerOutput& output);

  SchedulerConfig config_;
  KvCacheManager& kv_;
  std::vector<EngineSequence*> running_;  // admission order
  std::deque<EngineSequence*> waiting_;
  std::vector<BlockId> hits_;
};

}  // namespace ferrum
