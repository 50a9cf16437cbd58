#include "engine/sequential_engine.h"

#include <algorithm>

#include "engine/stop_conditions.h"
#include "tokenizer/detokenizer.h"

namespace ferrum {
namespace {

size_t blocks_for(size_t tokens) {
  return (tokens + SequentialEngine::kStatsBlockTokens - 1) / SequentialEngine::kStatsBlockTokens;
}

// The n best entries of a log-probability row, best first, lowest id first among equals.
std::vector<TokenLogprob> top_entries(std::span<const float> logprobs, size_t n) {
  std::vector<int32_t> ids(logprobs.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  n = std::min(n, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(n), ids.end(), [&](int32_t a, int32_t b) {
    return logprobs[a] > logprobs[b] || (logprobs[a] == logprobs[b] && a < b);
  });
  std::vector<TokenLogprob> top;
  top.reserve(n);
  for (size_t i = 0; i < n; ++i) top.push_back({ids[i], logprobs[ids[i]]});
  return top;
}

}  // namespace

// The event queue of one request, shared by the engine (producer) and the stream (consumer).
struct EventQueue {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<RequestEvent> events;
  std::function<void()> on_event;

  void push(RequestEvent event) {
    {
      std::lock_guard lock(mutex);
      events.push_back(std::move(event));
    }
    ready.notify_one();
    if (on_event) on_event();
  }
};

struct SequentialEngine::Job {
  RequestId id = 0;
  EngineRequest request;
  std::shared_ptr<EventQueue> events;
  std::atomic<bool> cancelled{false};
};

class SequentialEngine::Stream final : public RequestStream {
 public:
  Stream(RequestId id, std::shared_ptr<EventQueue> events) : id_(id), events_(std::move(events)) {}
  RequestId id() const override { return id_; }
  std::optional<RequestEvent> next(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(events_->mutex);
    if (!events_->ready.wait_for(lock, timeout, [&] { return !events_->events.empty(); })) return std::nullopt;
    RequestEvent event = std::move(events_->events.front());
    events_->events.pop_front();
    return event;
  }

 private:
  RequestId id_;
  std::shared_ptr<EventQueue> events_;
};

SequentialEngine::SequentialEngine(CausalLm& model, const tokenizer::Tokenizer& tokenizer,
                                   std::unordered_set<int32_t> end_tokens)
    : model_(model), tokenizer_(tokenizer), end_tokens_(std::move(end_tokens)) {
  counters_.kv_blocks_total = blocks_for(model_.info().max_context);
  worker_ = std::thread([this] { worker_loop(); });
}

SequentialEngine::~SequentialEngine() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (running_) running_->cancelled = true;
  }
  wake_.notify_all();
  worker_.join();
  // Requests still queued end as cancelled, so no consumer waits forever.
  for (const std::shared_ptr<Job>& job : queue_) {
    RequestEvent event;
    event.finished = true;
    event.finish_reason = FinishReason::kCancelled;
    job->events->push(std::move(event));
  }
}

size_t SequentialEngine::max_context() const {
  return model_.info().max_context;
}

Expected<std::unique_ptr<RequestStream>> SequentialEngine::submit(EngineRequest request) {
  const size_t vocab_size = model_.info().vocab_size;
  FERRUM_TRY(validate_sampling_params(request.sampling, vocab_size));
  FERRUM_CHECK(!request.prompt.empty(), ErrorCode::kInvalidArgument, "the prompt is empty");
  FERRUM_CHECK(request.prompt.size() < max_context(), ErrorCode::kLimitExceeded, "the prompt has ",
               request.prompt.size(), " tokens; the context holds ", max_context(), " (prompt and output together)");
  for (int32_t token : request.prompt) {
    FERRUM_CHECK(token >= 0 && static_cast<size_t>(token) < vocab_size, ErrorCode::kInvalidArgument, "prompt token ",
                 token, " is outside the vocabulary of ", vocab_size);
  }
  auto job = std::make_shared<Job>();
  job->events = std::make_shared<EventQueue>();
  job->events->on_event = std::move(request.on_event);
  job->request = std::move(request);
  {
    std::lock_guard lock(mutex_);
    FERRUM_CHECK(!stopping_, ErrorCode::kCancelled, "the engine is shutting down");
    job->id = next_id_++;
    queue_.push_back(job);
  }
  wake_.notify_one();
  return std::unique_ptr<RequestStream>(new Stream(job->id, job->events));
}

void SequentialEngine::abort(RequestId id) {
  std::shared_ptr<Job> removed;
  {
    std::lock_guard lock(mutex_);
    if (running_ && running_->id == id) {
      running_->cancelled = true;
      return;
    }
    const auto it = std::find_if(queue_.begin(), queue_.end(), [&](const auto& job) { return job->id == id; });
    if (it == queue_.end()) return;
    removed = *it;
    queue_.erase(it);
  }
  RequestEvent event;
  event.finished = true;
  event.finish_reason = FinishReason::kCancelled;
  event.prompt_tokens = removed->request.prompt.size();
  removed->events->push(std::move(event));
}

EngineStats SequentialEngine::stats() const {
  std::lock_guard lock(mutex_);
  EngineStats stats = counters_;
  stats.running = running_ ? 1 : 0;
  stats.waiting = queue_.size();
  stats.kv_blocks_used = blocks_for(cached_tokens_in_state_);
  return stats;
}

void SequentialEngine::worker_loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      running_ = std::move(queue_.front());
      queue_.pop_front();
    }
    RequestEvent final_event = run(*running_);
    std::shared_ptr<Job> finished;
    {
      // The request stops counting as running before its consumer can see it end, so stats() read
      // after the final event never counts it.
      std::lock_guard lock(mutex_);
      finished = std::move(running_);
    }
    finished->events->push(std::move(final_event));
  }
}

RequestEvent SequentialEngine::run(Job& job) {
  Expected<RequestEvent> final_event = generate(job);
  if (final_event) return std::move(*final_event);
  // The cache may hold half a step: forget it rather than reuse it.
  if (state_) state_->truncate(0);
  state_tokens_.clear();
  {
    std::lock_guard lock(mutex_);
    cached_tokens_in_state_ = 0;
  }
  RequestEvent event;
  event.finished = true;
  event.error = final_event.error();
  event.prompt_tokens = job.request.prompt.size();
  return event;
}

Expected<RequestEvent> SequentialEngine::generate(Job& job) {
  const EngineRequest& request = job.request;
  if (!state_) {
    FERRUM_ASSIGN_OR_RETURN(state_, model_.new_sequence(max_context()));
  }
  // Reuse the cached prefix, keeping at least one prompt token to compute: its logits are needed.
  size_t common = 0;
  while (common < state_tokens_.size() && common < request.prompt.size() &&
         state_tokens_[common] == request.prompt[common]) {
    ++common;
  }
  const size_t reused = std::min(common, request.prompt.size() - 1);
  state_->truncate(reused);
  state_tokens_.assign(request.prompt.begin(), request.prompt.end());
  {
    std::lock_guard lock(mutex_);
    counters_.prefix_cache_queries += request.prompt.size();
    counters_.prefix_cache_hits += reused;
    counters_.prompt_tokens += request.prompt.size() - reused;
  }

  std::vector<uint32_t> fresh(request.prompt.begin() + static_cast<ptrdiff_t>(reused), request.prompt.end());
  FERRUM_ASSIGN_OR_RETURN(std::span<const float> logits, model_.forward(*state_, fresh));
  {
    std::lock_guard lock(mutex_);
    cached_tokens_in_state_ = state_->length();
  }

  const std::unordered_set<int32_t> stop_tokens(request.stop_tokens.begin(), request.stop_tokens.end());
  Sampler sampler(request.sampling);
  StopStringMatcher stop_strings(request.stop_strings);
  tokenizer::StreamingDetokenizer detokenizer(tokenizer_.vocab(), {.render_special = false});
  detokenizer.continue_text();
  const bool wants_logprobs = request.logprobs || request.top_logprobs > 0;
  TokenConstraint* constraint = request.constraint.get();

  std::vector<int32_t> generated;
  std::vector<float> row;
  RequestEvent final_event;
  final_event.finished = true;
  bool text_done = false;  // a stop string ended the text
  for (;;) {
    if (job.cancelled.load(std::memory_order_relaxed)) {
      final_event.finish_reason = FinishReason::kCancelled;
      break;
    }
    if (generated.size() >= request.max_new_tokens) {
      final_event.finish_reason = FinishReason::kLength;
      break;
    }
    row.assign(logits.begin(), logits.end());
    RequestEvent event;
    std::vector<float> logprobs;
    if (wants_logprobs) logprobs = log_softmax(row);
    if (constraint) constraint->mask(row);
    const int32_t token = sampler.sample(row, {request.prompt, generated});
    const bool ends = end_tokens_.contains(token) || stop_tokens.contains(token);
    if (ends && !request.ignore_eos) {
      final_event.finish_reason = FinishReason::kStop;
      break;
    }
    FERRUM_CHECK(!constraint || constraint->accept(token), ErrorCode::kInternal, "the sampled token ", token,
                 " violates the request's constraint");
    generated.push_back(token);
    event.tokens.push_back(token);
    if (wants_logprobs) {
      event.chosen_logprobs.push_back({token, logprobs[static_cast<size_t>(token)]});
      if (request.top_logprobs > 0) event.top_logprobs.push_back(top_entries(logprobs, request.top_logprobs));
    }
    FERRUM_ASSIGN_OR_RETURN(std::string piece, detokenizer.push(token));
    StopStringMatcher::Result matched = stop_strings.push(piece);
    event.text = std::move(matched.emit);
    job.events->push(std::move(event));
    if (matched.stopped) {
      final_event.finish_reason = FinishReason::kStop;
      text_done = true;
      break;
    }
    if (constraint && constraint->complete()) {
      final_event.finish_reason = FinishReason::kStop;
      break;
    }
    if (state_->length() + 1 >= state_->capacity()) {
      final_event.finish_reason = FinishReason::kContextFull;
      break;
    }
    const uint32_t next = static_cast<uint32_t>(token);
    FERRUM_ASSIGN_OR_RETURN(logits, model_.forward(*state_, std::span<const uint32_t>(&next, 1)));
    state_tokens_.push_back(token);
    std::lock_guard lock(mutex_);
    cached_tokens_in_state_ = state_->length();
  }
  if (!text_done) {
    StopStringMatcher::Result tail = stop_strings.push(detokenizer.finish());
    final_event.text = std::move(tail.emit);
    if (tail.stopped) {
      final_event.finish_reason = FinishReason::kStop;
    } else {
      final_event.text += stop_strings.flush();
    }
  }
  {
    std::lock_guard lock(mutex_);
    counters_.generated_tokens += generated.size();
  }
  final_event.prompt_tokens = request.prompt.size();
  final_event.completion_tokens = generated.size();
  final_event.cached_prompt_tokens = reused;
  return final_event;
}

}  // namespace ferrum
