// The serving engine without its thread: requests in, one step() at a time, events out through
// each request's sink. A step schedules (scheduler.h), runs the batch's copy-on-write block copies
// and one forward over the paged cache, then samples every sequence whose tokens are all computed
// and turns the tokens into events with the rules Generator uses (output_processor.h).
//
// Everything here runs on the caller's thread (the engine's step loop, or a test driving it);
// only validate() may be called from elsewhere.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/engine.h"
#include "engine/engine_options.h"
#include "engine/kv_cache_manager.h"
#include "engine/output_processor.h"
#include "engine/sampling.h"
#include "engine/scheduler.h"
#include "models/causal_lm.h"
#include "tokenizer/vocab.h"

namespace ferrum {

// Receives one request's events, on the thread that runs step().
using EventSink = std::function<void(RequestEvent&&)>;

inline constexpr size_t kMaxTopLogprobs = 20;

class EngineCore {
 public:
  // `vocab` may be null (no text in the events); `end_tokens` end generation unless ignore_eos.
  static Expected<std::unique_ptr<EngineCore>> create(CausalLm& model, const tokenizer::Vocab* vocab,
                                                      std::unordered_set<int32_t> end_tokens,
                                                      const EngineOptions& options);

  // Checks a request against the model and the limits; safe from any thread.
  Status validate(const EngineRequest& request) const;
  // Queues a request (checked as validate) whose events go to `sink`.
  Status add_request(RequestId id, EngineRequest request, EventSink sink);
  // Ends a request with kCancelled and frees its blocks; unknown or finished ids are ignored.
  void abort(RequestId id);
  void abort_all();
  // Schedules and runs one step. A failed forward fails the requests in its batch (their sinks get
  // the error) and is returned; the engine itself keeps going.
  Status step();

  bool has_work() const { return scheduler_.has_work(); }
  EngineStats stats() const;
  size_t max_context() const { return resolved_.options.max_model_len; }
  const ResolvedEngineOptions& options() const { return resolved_; }
  const BlockPool& block_pool() const { return kv_.pool(); }

 private:
  using Clock = std::chrono::steady_clock;

  struct Request {
    RequestId id = 0;
    EngineRequest request;
    EngineSequence seq;
    Sampler sampler;
    OutputProcessor output;
    EventSink sink;
    Clock::time_point arrival;
    std::optional<Clock::time_point> first_scheduled;
    std::optional<Clock::time_point> first_token;

    Request(RequestId id, EngineRequest r, EventSink s, const tokenizer::Vocab* vocab, OutputRules rules);
  };

  EngineCore(CausalLm& model, const tokenizer::Vocab* vocab, std::unordered_set<int32_t> end_tokens,
             ResolvedEngineOptions resolved, std::unique_ptr<PagedKvStore> cache);

  Status run_step();
  void build_batch(const SchedulerOutput& scheduled);
  // The chosen token's log-probability and the top ones, for a request that asks for them.
  struct TokenLogprobs {
    TokenLogprob chosen;
    std::vector<TokenLogprob> top;
  };
  // Samples the request's next token from its logits row on the host, then accept()s it.
  void sample(Request& request, std::span<const float> logits);
  // Applies a sampled token with its log-probabilities (when asked for) and emits the event.
  void accept(Request& request, int32_t token, std::optional<TokenLogprobs> logprobs);
  // Row `row`'s log-probabilities from the device's picks (batch_top per row), when its request asks.
  std::optional<TokenLogprobs> picked_logprobs(const BatchPicks& picks, size_t row, size_t batch_top) const;
  // Greedy, with no penalty, bias, constraint or log-probabilities: the device's argmax alone.
  static bool is_plain_greedy(const EngineRequest& request);
  // This step's device picking for the sampled rows (one uniform from each drawing request's
  // sampler, the penalties and bias as adjustments, the log-probabilities asked for), or null when
  // some row needs its logits on the host.
  const BatchSampling* device_sampling();
  void finish(Request& request, RequestEvent event, FinishReason reason);
  void fail(Request& request, const Error& error);
  void release(Request& request);

  CausalLm& model_;
  const tokenizer::Vocab* vocab_;
  std::unordered_set<int32_t> end_tokens_;
  ResolvedEngineOptions resolved_;
  std::unique_ptr<PagedKvStore> cache_;
  KvCacheManager kv_;
  Scheduler scheduler_;
  std::unordered_map<RequestId, std::unique_ptr<Request>> requests_;
  ForwardBatch batch_;
  std::vector<Request*> sampled_;          // the request of each logits row
  std::vector<RowSampling> row_sampling_;  // device_sampling()'s rows, adjustments and request
  std::vector<LogitAdjustment> adjustments_;
  BatchSampling batch_sampling_;
  LogitAdjuster adjuster_;
  std::vector<float> row_;
  EngineStats stats_;
};

}  // namespace ferrum
