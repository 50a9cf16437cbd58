// An Engine that runs one request at a time on a worker thread, over the single-sequence CausalLm:
// queued requests wait their turn in arrival order. It keeps the KV cache of the last sequence and
// reuses the longest common prefix of the next prompt (a one-entry prefix cache), which is what makes
// multi-turn chats cheap. It is the fallback behind the Engine API and what the server tests run on;
// the batching engine replaces it where throughput matters.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "engine/engine.h"
#include "models/causal_lm.h"
#include "tokenizer/tokenizer.h"

namespace ferrum {

class SequentialEngine final : public Engine {
 public:
  // `end_tokens` end generation unless a request sets ignore_eos. The model and tokenizer must
  // outlive the engine; the engine is the model's only user while it exists.
  SequentialEngine(CausalLm& model, const tokenizer::Tokenizer& tokenizer, std::unordered_set<int32_t> end_tokens);
  ~SequentialEngine() override;
  SequentialEngine(const SequentialEngine&) = delete;
  SequentialEngine& operator=(const SequentialEngine&) = delete;

  Expected<std::unique_ptr<RequestStream>> submit(EngineRequest request) override;
  void abort(RequestId id) override;
  EngineStats stats() const override;
  size_t max_context() const override;

  // Notional KV block size for stats(): this engine holds one contiguous cache, reported in blocks
  // of this many tokens so the metrics read like the paged engine's.
  static constexpr size_t kStatsBlockTokens = 16;

 private:
  struct Job;
  class Stream;

  void worker_loop();
  // The job's final event (its error, if generation failed), which the worker delivers once the
  // job no longer counts as running; generate streams the events before it.
  RequestEvent run(Job& job);
  Expected<RequestEvent> generate(Job& job);

  CausalLm& model_;
  const tokenizer::Tokenizer& tokenizer_;
  const std::unordered_set<int32_t> end_tokens_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::shared_ptr<Job> running_;
  bool stopping_ = false;
  RequestId next_id_ = 1;
  EngineStats counters_;  // running / waiting / kv filled in by stats()
  size_t cached_tokens_in_state_ = 0;

  // Owned by the worker thread.
  std::unique_ptr<SequenceState> state_;
  std::vector<int32_t> state_tokens_;  // what state_ holds, for prefix reuse

  std::thread worker_;
};

}  // namespace ferrum
