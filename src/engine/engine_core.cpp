#include "engine/engine_core.h"

#include <algorithm>
#include <numeric>

#include "core/log.h"

namespace ferrum {
namespace {

double seconds_between(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// The n most likely tokens of a log-probability row, most likely first (lowest id among equals).
std::vector<TokenLogprob> top_logprobs(std::span<const float> logprobs, size_t n) {
  std::vector<int32_t> ids(logprobs.size());
  std::iota(ids.begin(), ids.end(), 0);
  n = std::min(n, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(n), ids.end(), [&](int32_t a, int32_t b) {
    return logprobs[static_cast<size_t>(a)] > logprobs[static_cast<size_t>(b)] ||
           (logprobs[static_cast<size_t>(a)] == logprobs[static_cast<size_t>(b)] && a < b);
  });
  std::vector<TokenLogprob> top;
  top.reserve(n);
  for (size_t i = 0; i < n; ++i) top.push_back({ids[i], logprobs[static_cast<size_t>(ids[i])]});
  return top;
}

}  // namespace

EngineCore::Request::Request(RequestId request_id, EngineRequest r, EventSink s, const tokenizer::Vocab* vocab,
                             OutputRules rules)
    : id(request_id),
      request(std::move(r)),
      sampler(request.sampling),
      output(vocab, std::move(rules)),
      sink(std::move(s)),
      arrival(Clock::now()) {
  seq.id = request_id;
  seq.tokens = request.prompt;
  seq.prompt_len = request.prompt.size();
}

Expected<std::unique_ptr<EngineCore>> EngineCore::create(CausalLm& model, const tokenizer::Vocab* vocab,
                                                         std::unordered_set<int32_t> end_tokens,
                                                         const EngineOptions& options) {
  FERRUM_ASSIGN_OR_RETURN(ResolvedEngineOptions resolved, resolve_engine_options(model, options));
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<PagedKvStore> cache,
                          model.new_paged_cache(resolved.num_blocks, resolved.options.block_size, resolved.kv_dtype));
  model.enable_batch_graphs(resolved.options.enable_graphs);
  const Clock::time_point warm_up_start = Clock::now();
  size_t warmed = 0;
  if (resolved.options.warm_up.value_or(model.info().device != "cpu")) {
    FERRUM_ASSIGN_OR_RETURN(warmed, model.warm_up_batches(*cache, resolved.options.max_num_batched_tokens));
  }
  if (warmed > 0) {
    FERRUM_LOG_INFO("engine: warmed up ", warmed, " step sizes in ",
                    static_cast<int>(seconds_between(warm_up_start, Clock::now()) * 1e3), " ms");
  }
  return std::unique_ptr<EngineCore>(
      new EngineCore(model, vocab, std::move(end_tokens), std::move(resolved), std::move(cache)));
}

EngineCore::EngineCore(CausalLm& model, const tokenizer::Vocab* vocab, std::unordered_set<int32_t> end_tokens,
                       ResolvedEngineOptions resolved, std::unique_ptr<PagedKvStore> cache)
    : model_(model),
      vocab_(vocab),
      end_tokens_(std::move(end_tokens)),
      resolved_(std::move(resolved)),
      cache_(std::move(cache)),
      kv_(resolved_.num_blocks, resolved_.options.block_size, resolved_.options.enable_prefix_caching),
      scheduler_(SchedulerConfig{resolved_.options.max_num_seqs, resolved_.options.max_num_batched_tokens,
                                 resolved_.options.max_model_len, resolved_.options.enable_chunked_prefill},
                 kv_) {
  stats_.kv_blocks_total = resolved_.num_blocks;
  stats_.kv_block_size = resolved_.options.block_size;
}

Status EngineCore::validate(const EngineRequest& request) const {
  const size_t vocab_size = model_.info().vocab_size;
  FERRUM_CHECK(!request.prompt.empty(), ErrorCode::kInvalidArgument, "the prompt is empty");
  FERRUM_CHECK(request.prompt.size() < max_context(), ErrorCode::kLimitExceeded, "the prompt (", request.prompt.size(),
               " tokens) does not fit the context of ", max_context(), " tokens");
  for (int32_t token : request.prompt) {
    FERRUM_CHECK(token >= 0 && static_cast<size_t>(token) < vocab_size, ErrorCode::kInvalidArgument, "prompt token ",
                 token, " is outside the vocabulary of ", vocab_size);
  }
  FERRUM_CHECK(request.top_logprobs <= kMaxTopLogprobs, ErrorCode::kInvalidArgument, "top_logprobs ",
               request.top_logprobs, " exceeds ", kMaxTopLogprobs);
  return validate_sampling_params(request.sampling, vocab_size);
}

Status EngineCore::add_request(RequestId id, EngineRequest request, EventSink sink) {
  FERRUM_TRY(validate(request));
  FERRUM_CHECK(!requests_.contains(id), ErrorCode::kInvalidArgument, "request id ", id, " is already in use");
  OutputRules rules;
  rules.stop_strings = request.stop_strings;
  rules.stop_tokens.insert(request.stop_tokens.begin(), request.stop_tokens.end());
  rules.stop_tokens.insert(end_tokens_.begin(), end_tokens_.end());
  rules.ignore_eos = request.ignore_eos;
  rules.max_new_tokens = request.max_new_tokens;
  rules.context_limit = max_context();
  auto owned = std::make_unique<Request>(id, std::move(request), std::move(sink), vocab_, std::move(rules));
  scheduler_.add(&owned->seq);
  requests_.emplace(id, std::move(owned));
  return ok();
}

void EngineCore::abort(RequestId id) {
  const auto found = requests_.find(id);
  if (found == requests_.end()) return;
  finish(*found->second, RequestEvent{}, FinishReason::kCancelled);
}

void EngineCore::abort_all() {
  std::vector<RequestId> ids;
  for (const auto& [id, request] : requests_) ids.push_back(id);
  for (RequestId id : ids) abort(id);
}

EngineStats EngineCore::stats() const {
  EngineStats stats = stats_;
  stats.running = scheduler_.num_running();
  stats.waiting = scheduler_.num_waiting();
  stats.kv_blocks_used = kv_.pool().num_used();
  stats.kv_blocks_cached = kv_.pool().num_cached();
  return stats;
}

Status EngineCore::step() {
  const Clock::time_point step_start = Clock::now();
  Status status = run_step();
  stats_.step_seconds += seconds_between(step_start, Clock::now());
  return status;
}

Status EngineCore::run_step() {
  SchedulerOutput scheduled = scheduler_.schedule();
  stats_.preemptions += scheduled.preemptions;
  stats_.prefix_cache_queries += scheduled.prefix_queried_tokens;
  stats_.prefix_cache_hits += scheduled.prefix_hit_tokens;
  if (scheduled.empty()) return ok();
  const Clock::time_point now = Clock::now();
  for (const ScheduledChunk& chunk : scheduled.chunks) {
    Request& request = *requests_.at(chunk.seq->id);
    if (!request.first_scheduled) {
      request.first_scheduled = now;
      stats_.prompt_tokens += chunk.seq->prompt_len;
    }
  }

  Status status = ok();
  for (const BlockCopy& copy : scheduled.copies) {
    status = model_.copy_block(*cache_, static_cast<size_t>(copy.from), static_cast<size_t>(copy.to));
    if (!status) break;
  }
  if (status) build_batch(scheduled);
  // When every sampled row is a plain greedy pick, the device picks it; when no row needs its
  // logits on the host (a constraint), the device applies the penalties and bias, draws, and
  // computes the log-probabilities. Either way a few numbers per row come back instead of a
  // vocabulary of logits.
  const bool argmax_on_device =
      std::all_of(sampled_.begin(), sampled_.end(), [](const Request* r) { return is_plain_greedy(r->request); });
  const BatchSampling* on_device = argmax_on_device || !status ? nullptr : device_sampling();
  Expected<std::span<const float>> logits = std::span<const float>();
  Expected<std::span<const int32_t>> ids = std::span<const int32_t>();
  Expected<BatchPicks> picks = BatchPicks{};
  if (status) {
    const Clock::time_point forward_start = Clock::now();
    if (argmax_on_device) {
      ids = model_.forward_batch_argmax(*cache_, batch_);
    } else if (on_device) {
      picks = model_.forward_batch_sample(*cache_, batch_, *on_device);
    } else {
      logits = model_.forward_batch(*cache_, batch_);
    }
    stats_.model_seconds += seconds_between(forward_start, Clock::now());
  }
  if (!status || !logits || !ids || !picks) {
    const Error error = !status ? status.error() : !logits ? logits.error() : !ids ? ids.error() : picks.error();
    for (const ScheduledChunk& chunk : scheduled.chunks) fail(*requests_.at(chunk.seq->id), error);
    return error;
  }
  ++stats_.steps;
  if (on_device) {
    stats_.device_drawn_tokens += static_cast<uint64_t>(std::count_if(
        on_device->rows.begin(), on_device->rows.end(), [](const RowSampling& row) { return row.temperature > 0.0f; }));
  }
  scheduler_.commit(scheduled);
  const size_t vocab = model_.info().vocab_size;
  for (size_t row = 0; row < sampled_.size(); ++row) {
    if (argmax_on_device) {
      accept(*sampled_[row], (*ids)[row], std::nullopt);
    } else if (on_device) {
      accept(*sampled_[row], picks->ids[row], picked_logprobs(*picks, row, on_device->top_logprobs));
    } else {
      sample(*sampled_[row], logits->subspan(row * vocab, vocab));
    }
  }
  return ok();
}

bool EngineCore::is_plain_greedy(const EngineRequest& r) {
  return r.sampling.temperature == 0.0f && !LogitAdjuster::adjusts(r.sampling) && !r.constraint && !r.logprobs &&
         r.top_logprobs == 0;
}

const BatchSampling* EngineCore::device_sampling() {
  if (!resolved_.options.device_sampling || !model_.supports_device_sampling()) return nullptr;
  // A constraint masks the logits with host state (a grammar), so its row needs them here.
  if (std::any_of(sampled_.begin(), sampled_.end(), [](const Request* r) { return r->request.constraint != nullptr; }))
    return nullptr;
  row_sampling_.clear();
  adjustments_.clear();
  batch_sampling_ = BatchSampling{};
  const size_t vocab = model_.info().vocab_size;
  for (Request* request : sampled_) {
    const EngineRequest& r = request->request;
    RowSampling row;  // greedy unless this request draws
    // sample() draws nothing for a greedy request or one at its length limit: neither does this,
    // so a seeded request takes the same uniforms on either path.
    if (r.sampling.temperature > 0.0f && !request->output.length_reached()) {
      row = request->sampler.row_sampling();
      row.uniform = static_cast<float>(request->sampler.next_uniform());
    }
    const std::span<const int32_t> all(request->seq.tokens);
    adjuster_.append(r.sampling, {all.first(request->seq.prompt_len), all.subspan(request->seq.prompt_len)}, vocab,
                     static_cast<int32_t>(row_sampling_.size()), adjustments_);
    row_sampling_.push_back(row);
    batch_sampling_.logprobs = batch_sampling_.logprobs || r.logprobs || r.top_logprobs > 0;
    batch_sampling_.top_logprobs = std::max(batch_sampling_.top_logprobs, r.top_logprobs);
  }
  batch_sampling_.rows = row_sampling_;
  batch_sampling_.adjustments = adjustments_;
  return &batch_sampling_;
}

void EngineCore::build_batch(const SchedulerOutput& scheduled) {
  batch_.clear();
  sampled_.clear();
  const size_t max_blocks = (max_context() + kv_.block_size() - 1) / kv_.block_size();
  batch_.max_blocks_per_seq = max_blocks;
  batch_.query_start.push_back(0);
  for (const ScheduledChunk& chunk : scheduled.chunks) {
    const EngineSequence& seq = *chunk.seq;
    for (size_t position = chunk.first; position < chunk.first + chunk.count; ++position) {
      batch_.tokens.push_back(static_cast<uint32_t>(seq.tokens[position]));
      batch_.positions.push_back(static_cast<uint32_t>(position));
      batch_.slot_mapping.push_back(kv_.slot(seq.blocks, position));
    }
    batch_.query_start.push_back(static_cast<int32_t>(batch_.tokens.size()));
    batch_.context_lens.push_back(static_cast<int32_t>(chunk.first + chunk.count));
    batch_.block_tables.insert(batch_.block_tables.end(), seq.blocks.table.begin(), seq.blocks.table.end());
    batch_.block_tables.resize(batch_.context_lens.size() * max_blocks, -1);
    if (chunk.samples()) {
      batch_.logits_rows.push_back(static_cast<uint32_t>(batch_.tokens.size() - 1));
      sampled_.push_back(requests_.at(seq.id).get());
    }
  }
}

void EngineCore::sample(Request& request, std::span<const float> logits) {
  if (request.output.length_reached()) {
    finish(request, RequestEvent{}, FinishReason::kLength);
    return;
  }
  const EngineRequest& r = request.request;
  row_.assign(logits.begin(), logits.end());
  if (r.constraint) r.constraint->mask(row_);
  const std::span<const int32_t> all(request.seq.tokens);
  adjustments_.clear();
  adjuster_.append(r.sampling, {all.first(request.seq.prompt_len), all.subspan(request.seq.prompt_len)}, logits.size(),
                   0, adjustments_);
  const int32_t token = request.sampler.sample_adjusted(row_, adjustments_);
  std::optional<TokenLogprobs> logprobs;
  if ((r.logprobs || r.top_logprobs > 0) && token >= 0 && static_cast<size_t>(token) < logits.size()) {
    // The model's own distribution: raw logits, before penalties, bias, constraint and temperature.
    const std::vector<float> all_logprobs = log_softmax(logits);
    logprobs = TokenLogprobs{{token, all_logprobs[static_cast<size_t>(token)]}, {}};
    if (r.top_logprobs > 0) logprobs->top = top_logprobs(all_logprobs, r.top_logprobs);
  }
  accept(request, token, std::move(logprobs));
}

std::optional<EngineCore::TokenLogprobs> EngineCore::picked_logprobs(const BatchPicks& picks, size_t row,
                                                                     size_t batch_top) const {
  const EngineRequest& r = sampled_[row]->request;
  if (!r.logprobs && r.top_logprobs == 0) return std::nullopt;
  TokenLogprobs out{{picks.ids[row], picks.chosen_logprobs[row]}, {}};
  for (size_t i = 0; i < r.top_logprobs; ++i) {
    out.top.push_back({picks.top_ids[row * batch_top + i], picks.top_logprobs[row * batch_top + i]});
  }
  return out;
}

void EngineCore::accept(Request& request, int32_t token, std::optional<TokenLogprobs> logprobs) {
  const Clock::time_point now = Clock::now();
  RequestEvent event;
  if (request.output.length_reached()) {
    finish(request, std::move(event), FinishReason::kLength);
    return;
  }
  const EngineRequest& r = request.request;
  const size_t context_after = request.seq.tokens.size() + 1;
  Expected<OutputProcessor::Update> update = request.output.accept(token, context_after);
  if (!update) {
    fail(request, update.error());
    return;
  }
  if (update->appended) {
    if (r.constraint && !r.constraint->accept(token)) {
      fail(request, Error(ErrorCode::kInvalidArgument,
                          cat("token ", token, " was sampled but the request's constraint does not accept it")));
      return;
    }
    request.seq.tokens.push_back(token);
    ++stats_.generated_tokens;
    if (!request.first_token) request.first_token = now;
    event.tokens.push_back(token);
    if (logprobs) {
      event.chosen_logprobs.push_back(logprobs->chosen);
      if (r.top_logprobs > 0) event.top_logprobs.push_back(std::move(logprobs->top));
    }
  }
  event.text = std::move(update->text);
  if (update->finish) {
    finish(request, std::move(event), *update->finish);
    return;
  }
  if (r.constraint && r.constraint->complete()) {
    finish(request, std::move(event), FinishReason::kStop);
    return;
  }
  request.sink(std::move(event));
}

void EngineCore::finish(Request& request, RequestEvent event, FinishReason reason) {
  const Clock::time_point now = Clock::now();
  event.text += request.output.finish(reason);
  event.finished = true;
  event.finish_reason = reason;
  event.prompt_tokens = request.seq.prompt_len;
  event.completion_tokens = request.output.generated();
  event.cached_prompt_tokens = request.seq.cached_prompt_tokens;
  RequestMetrics metrics;
  metrics.queue_seconds = seconds_between(request.arrival, request.first_scheduled.value_or(now));
  metrics.first_token_seconds = seconds_between(request.arrival, request.first_token.value_or(now));
  metrics.total_seconds = seconds_between(request.arrival, now);
  metrics.preemptions = request.seq.preemptions;
  event.metrics = metrics;
  EventSink sink = std::move(request.sink);
  release(request);
  sink(std::move(event));
}

void EngineCore::fail(Request& request, const Error& error) {
  RequestEvent event;
  event.finished = true;
  event.error = error;
  event.prompt_tokens = request.seq.prompt_len;
  event.completion_tokens = request.output.generated();
  EventSink sink = std::move(request.sink);
  release(request);
  sink(std::move(event));
}

void EngineCore::release(Request& request) {
  scheduler_.remove(&request.seq);
  requests_.erase(request.id);
}

}  // namespace ferrum
