// The serving engine's API: what the HTTP server (and `run`, `bench-serve`) talk to. Requests go in
// with their sampling parameters; each produces a stream of events on its own thread-safe queue.
// The engine owns all KV state (the block manager) and the step loop; callers never see either.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/finish_reason.h"
#include "engine/sampling.h"

namespace ferrum {

using RequestId = uint64_t;

struct EngineRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  size_t max_new_tokens = 256;
  std::vector<std::string> stop_strings;
  std::vector<int32_t> stop_tokens;  // besides the model's end-of-generation tokens
  bool ignore_eos = false;
  size_t top_logprobs = 0;  // > 0: report the log-probability of the chosen token and the top n
  bool logprobs = false;    // report the chosen token's log-probability
  // Token-level constraint applied before sampling (grammar-constrained decoding); may be null.
  std::shared_ptr<class TokenConstraint> constraint;
  // Called by the engine after it queues each event of this request (from the engine's thread, no
  // engine lock held), so an event-driven consumer such as the HTTP server can drain next(0) without
  // parking a thread per request. Must be cheap and must not block; may be empty.
  std::function<void()> on_event;
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
};

// Where a request's time went, in seconds from its submission (in the final event).
struct RequestMetrics {
  double queue_seconds = 0;        // until its first step was scheduled
  double first_token_seconds = 0;  // until its first generated token (time to first token)
  double total_seconds = 0;        // until it finished
  size_t preemptions = 0;          // times its KV blocks were taken back and later recomputed
};

// One step's output for a request: new tokens (usually one), their text as it completes, and
// at the end the finish reason and counts.
struct RequestEvent {
  std::vector<int32_t> tokens;
  std::string text;                           // completed UTF-8 text of these tokens (stop strings held back / cut)
  std::vector<TokenLogprob> chosen_logprobs;  // one per token when asked
  std::vector<std::vector<TokenLogprob>> top_logprobs;  // one list per token when asked
  bool finished = false;
  std::optional<FinishReason> finish_reason;
  std::optional<Error> error;  // the request failed (finished is then true)
  size_t prompt_tokens = 0;    // in the final event
  size_t completion_tokens = 0;
  size_t cached_prompt_tokens = 0;        // prompt tokens served from the prefix cache
  std::optional<RequestMetrics> metrics;  // in the final event
};

// Constrains which tokens may come next (JSON schema grammars, tool-call formats).
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Sets the logits of forbidden tokens to -inf, given the tokens generated so far.
  virtual void mask(std::span<float> logits) = 0;
  // Records the chosen token; false if it violates the constraint (the request then fails).
  virtual bool accept(int32_t token) = 0;
  // True when the constrained output is complete and only end-of-generation may follow.
  virtual bool complete() const = 0;
};

struct EngineStats {
  size_t running = 0;
  size_t waiting = 0;
  size_t kv_blocks_total = 0;
  size_t kv_blocks_used = 0;
  uint64_t prefix_cache_queries = 0;  // prompt tokens looked up
  uint64_t prefix_cache_hits = 0;     // prompt tokens found cached
  uint64_t preemptions = 0;
  uint64_t prompt_tokens = 0;
  uint64_t generated_tokens = 0;
  size_t kv_blocks_cached = 0;       // blocks the prefix cache can hand out again (some may be in use)
  size_t kv_block_size = 0;          // tokens per block
  uint64_t device_drawn_tokens = 0;  // sampled (not greedy) tokens drawn on the device by sample_rows
  uint64_t steps = 0;                // forward steps run
  double step_seconds = 0;           // time spent in steps
  double model_seconds = 0;          // of which inside the model's batched forward (the rest is host work)
};

class RequestStream {
 public:
  virtual ~RequestStream() = default;
  virtual RequestId id() const = 0;
  // Blocks until the next event (or the timeout); nullopt on timeout.
  virtual std::optional<RequestEvent> next(std::chrono::milliseconds timeout) = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  // Validates and queues a request (errors: prompt too long for the context, bad sampling params).
  virtual Expected<std::unique_ptr<RequestStream>> submit(EngineRequest request) = 0;
  // Stops a request and frees its KV blocks; its stream ends with FinishReason::kCancelled.
  virtual void abort(RequestId id) = 0;
  virtual EngineStats stats() const = 0;
  virtual size_t max_context() const = 0;
};

}  // namespace ferrum
