#include "server/generation_job.h"

#include <malloc.h>
#include <algorithm>
#include <cstdio>

#include <random>

#include "core/log.h"
#include "server/api_error.h"
#include "server/sse.h"

namespace ferrum::server {
namespace {

constexpr int kClientClosedRequest = 499;  // nginx's status for a client that left before the answer

std::string random_id(std::string_view prefix) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%016llx%08llx", static_cast<unsigned long long>(random()),
                static_cast<unsigned long long>(random() & 0xffffffffu));
  return std::string(prefix) + buffer;
}

double seconds(Clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}

std::string finish_reason_text(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength:
    case FinishReason::kContextFull: return "length";
    case FinishReason::kCancelled: return "stop";
  }
  return "stop";
}

}  // namespace

JobRegistry::JobRegistry() : watchdog_([this] { watch(); }) {}

JobRegistry::~JobRegistry() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  watchdog_.join();
}

void JobRegistry::add(std::shared_ptr<GenerationJob> job) {
  std::lock_guard lock(mutex_);
  jobs_.emplace(job.get(), std::move(job));
  busy_since_trim_ = true;
  wake_.notify_all();  // its deadline may come before the one the watchdog sleeps towards
}

void JobRegistry::remove(const GenerationJob* job) {
  std::shared_ptr<GenerationJob> released;  // destroyed outside the lock
  std::lock_guard lock(mutex_);
  if (auto it = jobs_.find(job); it != jobs_.end()) {
    released = std::move(it->second);
    jobs_.erase(it);
  }
}

size_t JobRegistry::size() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

void JobRegistry::cancel_all() {
  std::vector<std::shared_ptr<GenerationJob>> jobs;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, job] : jobs_) jobs.push_back(job);
  }
  for (const auto& job : jobs) job->expire();
}

void JobRegistry::watch() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Sleep until the earliest deadline (so sub-second timeouts are honoured), at most 250 ms.
    Clock::time_point wake_at = Clock::now() + std::chrono::milliseconds(250);
    for (const auto& [key, job] : jobs_) wake_at = std::min(wake_at, job->deadline());
    wake_.wait_until(lock, wake_at);
    const Clock::time_point now = Clock::now();
    std::vector<std::shared_ptr<GenerationJob>> late;
    for (const auto& [key, job] : jobs_) {
      if (job->deadline() <= now) late.push_back(job);
    }
    lock.unlock();
    for (const auto& job : late) job->expire();
    late.clear();
    lock.lock();
    // After a burst, hand the freed heap back to the system: glibc keeps it otherwise, and the
    // server's resident size would stay at its peak for good.
    if (jobs_.empty() && busy_since_trim_) {
      busy_since_trim_ = false;
      lock.unlock();
      malloc_trim(0);
      lock.lock();
    }
  }
}

GenerationJob::GenerationJob(JobEnvironment& env, JobSpec spec, std::shared_ptr<http::HttpExchange> exchange)
    : env_(env),
      spec_(std::move(spec)),
      exchange_(std::move(exchange)),
      logprobs_(env.vocab),
      id_(random_id(spec_.kind == ApiKind::kChat ? "chatcmpl-" : "cmpl-")),
      created_(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                   .count()),
      deadline_(spec_.arrival + env.request_timeout) {
  for (size_t i = 0; i < spec_.choices.size(); ++i) {
    choices_.emplace_back(spec_.kind == ApiKind::kChat ? spec_.choice_options : ChoiceOptions{});
    choices_.back().logprobs =
        spec_.kind == ApiKind::kChat ? Json{{"content", Json::array()}} : LogprobFormatter::empty_completion_logprobs();
  }
}

void GenerationJob::start(JobEnvironment& env, JobSpec spec, std::shared_ptr<http::HttpExchange> exchange) {
  auto job = std::make_shared<GenerationJob>(env, std::move(spec), exchange);
  const std::weak_ptr<GenerationJob> weak = job;
  {
    std::lock_guard lock(job->mutex_);
    for (size_t i = 0; i < job->spec_.choices.size(); ++i) {
      EngineRequest request = std::move(job->spec_.choices[i].request);
      request.on_event = [weak] {
        if (auto alive = weak.lock()) alive->notify();
      };
      auto stream = env.engine.submit(std::move(request));
      if (!stream) {
        for (RequestId id : job->request_ids_) env.engine.abort(id);
        const ApiError error = from_error(stream.error(), job->spec_.kind == ApiKind::kChat ? "messages" : "prompt");
        exchange->respond(error.status, "application/json", error.to_json());
        env.metrics.count_request(job->spec_.endpoint, error.status);
        return;  // the aborted streams end unread; their events go nowhere
      }
      job->request_ids_.push_back((*stream)->id());
      job->choices_[i].stream = std::move(*stream);
    }
    env.registry.add(job);
    env.metrics.set_in_flight(env.registry.size());
    exchange->on_disconnect([weak] {
      if (auto alive = weak.lock()) alive->cancel();
    });
    if (job->spec_.stream) {
      exchange->start_stream(200, "text/event-stream", {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}});
      for (size_t i = 0; i < job->choices_.size(); ++i) {
        if (job->spec_.kind == ApiKind::kChat) {
          job->send_chunk(Json{{"index", i},
                               {"delta", {{"role", "assistant"}, {"content", ""}}},
                               {"logprobs", nullptr},
                               {"finish_reason", nullptr}});
        } else if (!job->spec_.choices[i].echo.empty()) {
          job->send_chunk(Json{
              {"index", i}, {"text", job->spec_.choices[i].echo}, {"logprobs", nullptr}, {"finish_reason", nullptr}});
        }
      }
    }
    job->started_ = true;
  }
  job->notify();
}

void GenerationJob::notify() {
  if (drain_scheduled_.exchange(true)) return;
  env_.pump.post([self = shared_from_this()] { self->drain(); });
}

void GenerationJob::cancel() {
  for (RequestId id : request_ids_) env_.engine.abort(id);
}

void GenerationJob::expire() {
  if (expired_.exchange(true)) return;
  cancel();
}

void GenerationJob::drain() {
  drain_scheduled_ = false;
  std::lock_guard lock(mutex_);
  if (!started_ || completed_) return;
  bool all_finished = true;
  for (size_t i = 0; i < choices_.size(); ++i) {
    Choice& choice = choices_[i];
    while (!choice.finished) {
      std::optional<RequestEvent> event = choice.stream->next(std::chrono::milliseconds(0));
      if (!event) break;
      handle(i, *event);
    }
    all_finished &= choice.finished;
  }
  if (all_finished) complete();
}

void GenerationJob::fail(const Error& error) {
  if (!error_) error_ = error;
  cancel();
}

void GenerationJob::handle(size_t index, RequestEvent& event) {
  Choice& choice = choices_[index];
  const Clock::time_point now = Clock::now();
  if (event.error) {
    choice.finished = true;
    fail(*event.error);
    return;
  }
  if (!event.tokens.empty()) {
    if (!choice.first_token) {
      choice.first_token = now;
      const bool first_of_request = std::none_of(choices_.begin(), choices_.end(), [&](const Choice& other) {
        return &other != &choice && other.first_token;
      });
      if (first_of_request) env_.metrics.observe_time_to_first_token(seconds(now - spec_.arrival));
    } else {
      env_.metrics.observe_inter_token_latency(seconds(now - *choice.last_token));
    }
    choice.last_token = now;
  }
  std::string text = std::move(event.text);
  for (int32_t token : event.tokens) {
    if (auto marker = env_.marker_tokens.find(token); marker != env_.marker_tokens.end()) text += marker->second;
  }
  ChoiceDelta delta = choice.output.push(text);
  if (event.finished) {
    ChoiceDelta rest = choice.output.finish();
    delta.reasoning += rest.reasoning;
    delta.content += rest.content;
    for (ToolCallDelta& call : rest.tool_calls) delta.tool_calls.push_back(std::move(call));
  }

  Json event_logprobs = nullptr;
  if (spec_.logprobs && !event.chosen_logprobs.empty()) {
    if (spec_.kind == ApiKind::kChat) {
      Json entries = Json::array();
      logprobs_.append_chat(event, entries);
      for (const Json& entry : entries) choice.logprobs["content"].push_back(entry);
      event_logprobs = Json{{"content", std::move(entries)}};
    } else {
      event_logprobs = LogprobFormatter::empty_completion_logprobs();
      logprobs_.append_completion(event, choice.text_length, event_logprobs);
      for (const char* list : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
        for (const Json& entry : event_logprobs[list]) choice.logprobs[list].push_back(entry);
      }
    }
  }
  choice.text_length += delta.content.size();

  Json finish_reason = nullptr;
  if (event.finished) {
    choice.finished = true;
    choice.prompt_tokens = event.prompt_tokens;
    choice.completion_tokens = event.completion_tokens;
    choice.cached_tokens = event.cached_prompt_tokens;
    choice.finish_reason = finish_reason_text(event.finish_reason.value_or(FinishReason::kStop));
    if (!choice.output.tool_calls().empty() && choice.finish_reason == "stop") choice.finish_reason = "tool_calls";
    finish_reason = choice.finish_reason;
    if (choice.first_token && choice.completion_tokens > 1) {
      env_.metrics.observe_time_per_output_token(seconds(*choice.last_token - *choice.first_token) /
                                                 static_cast<double>(choice.completion_tokens - 1));
    }
  }
  if (!spec_.stream || error_ || expired_) return;
  if (delta.empty() && event_logprobs.is_null() && finish_reason.is_null()) return;
  if (spec_.kind == ApiKind::kChat) {
    send_chunk(Json{{"index", index},
                    {"delta", chat_delta(delta, false)},
                    {"logprobs", std::move(event_logprobs)},
                    {"finish_reason", std::move(finish_reason)}});
  } else {
    send_chunk(Json{{"index", index},
                    {"text", delta.content},
                    {"logprobs", std::move(event_logprobs)},
                    {"finish_reason", std::move(finish_reason)}});
  }
}

Json GenerationJob::chat_delta(const ChoiceDelta& delta, bool first) const {
  Json out = Json::object();
  if (first) out["role"] = "assistant";
  if (!delta.reasoning.empty()) out["reasoning_content"] = delta.reasoning;
  if (!delta.content.empty()) out["content"] = delta.content;
  if (!delta.tool_calls.empty()) {
    Json calls = Json::array();
    for (const ToolCallDelta& call : delta.tool_calls) {
      Json entry = {{"index", call.index}};
      Json function = Json::object();
      if (call.id) {
        entry["id"] = *call.id;
        entry["type"] = "function";
      }
      if (call.name) function["name"] = *call.name;
      function["arguments"] = call.arguments;
      entry["function"] = std::move(function);
      calls.push_back(std::move(entry));
    }
    out["tool_calls"] = std::move(calls);
  }
  return out;
}

Json GenerationJob::chunk(Json choices) const {
  Json out = {{"id", id_},
              {"object", spec_.kind == ApiKind::kChat ? "chat.completion.chunk" : "text_completion"},
              {"created", created_},
              {"model", spec_.model},
              {"choices", std::move(choices)}};
  if (spec_.include_usage) out["usage"] = nullptr;
  return out;
}

void GenerationJob::send_chunk(Json choice) {
  exchange_->send(sse_event(dump_json(chunk(Json::array({std::move(choice)})))));
}

Json GenerationJob::usage() const {
  size_t prompt = 0, completion = 0, cached = 0;
  for (size_t i = 0; i < choices_.size(); ++i) {
    if (spec_.choices[i].counts_prompt) {
      prompt += choices_[i].prompt_tokens;
      cached += choices_[i].cached_tokens;
    }
    completion += choices_[i].completion_tokens;
  }
  return Json{{"prompt_tokens", prompt},
              {"completion_tokens", completion},
              {"total_tokens", prompt + completion},
              {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

void GenerationJob::respond_final() {
  Json choices = Json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& choice = choices_[i];
    const Json logprobs = spec_.logprobs ? choice.logprobs : Json(nullptr);
    if (spec_.kind == ApiKind::kChat) {
      Json message = {{"role", "assistant"}};
      const bool has_calls = !choice.output.tool_calls().empty();
      message["content"] = choice.output.content().empty() && has_calls ? Json(nullptr) : Json(choice.output.content());
      if (!choice.output.reasoning().empty()) message["reasoning_content"] = choice.output.reasoning();
      if (has_calls) {
        Json calls = Json::array();
        for (const ToolCallRecord& call : choice.output.tool_calls()) {
          calls.push_back({{"id", call.id},
                           {"type", "function"},
                           {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
        }
        message["tool_calls"] = std::move(calls);
      }
      choices.push_back({{"index", i},
                         {"message", std::move(message)},
                         {"logprobs", logprobs},
                         {"finish_reason", choice.finish_reason}});
    } else {
      choices.push_back({{"index", i},
                         {"text", spec_.choices[i].echo + choice.output.content()},
                         {"logprobs", logprobs},
                         {"finish_reason", choice.finish_reason}});
    }
  }
  const Json body = {{"id", id_},
                     {"object", spec_.kind == ApiKind::kChat ? "chat.completion" : "text_completion"},
                     {"created", created_},
                     {"model", spec_.model},
                     {"choices", std::move(choices)},
                     {"usage", usage()}};
  exchange_->respond(200, "application/json", dump_json(body));
}

namespace {
// "0.05 s", "600 s": the timeout as the user gave it.
std::string seconds_text(std::chrono::milliseconds duration) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", static_cast<double>(duration.count()) / 1000.0);
  return text;
}
}  // namespace

void GenerationJob::complete() {
  completed_ = true;
  int status = 200;
  std::optional<ApiError> failure;
  if (error_) {
    failure = from_error(*error_);
  } else if (expired_) {
    failure = ApiError{408, "timeout",
                       "the request exceeded the server's request timeout of " + seconds_text(env_.request_timeout),
                       std::nullopt, "request_timeout"};
  }
  if (exchange_->client_gone()) {
    status = kClientClosedRequest;
  } else if (failure) {
    status = failure->status;
    if (spec_.stream) {
      exchange_->send(sse_event(failure->to_json()));
      exchange_->send(sse_done());
      exchange_->end_stream();
    } else {
      exchange_->respond(failure->status, "application/json", failure->to_json());
    }
  } else if (spec_.stream) {
    if (spec_.include_usage) {
      Json last = chunk(Json::array());
      last["usage"] = usage();
      exchange_->send(sse_event(dump_json(last)));
    }
    exchange_->send(sse_done());
    exchange_->end_stream();
  } else {
    respond_final();
  }
  if (status != 200 && failure) FERRUM_LOG_INFO("request ", id_, " failed: ", failure->message);
  const Json totals = usage();
  env_.metrics.count_tokens(totals["prompt_tokens"].get<size_t>(), totals["completion_tokens"].get<size_t>());
  env_.metrics.observe_request_latency(seconds(Clock::now() - spec_.arrival));
  env_.metrics.count_request(spec_.endpoint, status);
  env_.registry.remove(this);
  env_.metrics.set_in_flight(env_.registry.size());
}

}  // namespace ferrum::server
