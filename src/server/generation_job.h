// One chat or text completion request in flight: its n engine requests, the event drains that turn
// their events into SSE chunks or a final JSON body, cancellation when the client disconnects or
// the request times out, and the request's metrics.
//
// Events arrive without a thread per request: the engine calls each request's on_event hook, which
// schedules a drain of the job on the pump queue; a drain reads every ready event with next(0).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/engine.h"
#include "server/choice_output.h"
#include "server/http/http_server.h"
#include "server/http/work_queue.h"
#include "server/logprobs_json.h"
#include "server/metrics.h"

namespace ferrum::server {

using Clock = std::chrono::steady_clock;

class GenerationJob;

// Holds the jobs in flight (keeping them alive) and times out those past their deadline.
class JobRegistry {
 public:
  JobRegistry();
  ~JobRegistry();
  void add(std::shared_ptr<GenerationJob> job);
  void remove(const GenerationJob* job);
  size_t size() const;
  // Cancels every job (server shutdown).
  void cancel_all();

 private:
  void watch();
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::unordered_map<const GenerationJob*, std::shared_ptr<GenerationJob>> jobs_;
  bool stopping_ = false;
  bool busy_since_trim_ = false;
  std::thread watchdog_;
};

// What every job needs from the server.
struct JobEnvironment {
  Engine& engine;
  const tokenizer::Vocab& vocab;
  ServerMetrics& metrics;
  http::WorkQueue& pump;
  JobRegistry& registry;
  std::chrono::milliseconds request_timeout{600'000};
  // Control tokens the tool-call parser must see as text ([TOOL_CALLS], <|python_tag|>).
  std::unordered_map<int32_t, std::string> marker_tokens;
};

enum class ApiKind { kChat, kCompletion };

struct ChoiceRequest {
  EngineRequest request;
  std::string echo;           // completions with echo: the prompt text, printed first
  bool counts_prompt = true;  // the first choice of each prompt adds its tokens to usage
};

struct JobSpec {
  ApiKind kind = ApiKind::kChat;
  std::string endpoint;  // for metrics
  std::string model;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  ChoiceOptions choice_options;
  std::vector<ChoiceRequest> choices;
  Clock::time_point arrival = Clock::now();
};

class GenerationJob : public std::enable_shared_from_this<GenerationJob> {
 public:
  // Submits every choice and answers on `exchange` (errors included).
  static void start(JobEnvironment& env, JobSpec spec, std::shared_ptr<http::HttpExchange> exchange);

  GenerationJob(JobEnvironment& env, JobSpec spec, std::shared_ptr<http::HttpExchange> exchange);

  Clock::time_point deadline() const { return deadline_; }
  // Stops generating: the request ends with a timeout error.
  void expire();

 private:
  struct Choice {
    std::unique_ptr<RequestStream> stream;
    ChoiceOutput output;
    bool finished = false;
    std::string finish_reason;
    size_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
    size_t text_length = 0;  // completions: output bytes so far (for text_offset)
    Json logprobs;           // chat: {"content": [...]}; completions: the four lists
    std::optional<Clock::time_point> first_token, last_token;
    explicit Choice(ChoiceOptions options) : output(std::move(options)) {}
  };

  void notify();
  void drain();
  void handle(size_t index, RequestEvent& event);
  void fail(const Error& error);
  void cancel();
  void complete();

  Json chunk(Json choices) const;
  Json usage() const;
  Json chat_delta(const ChoiceDelta& delta, bool first) const;
  void send_chunk(Json choice);
  void respond_final();

  JobEnvironment& env_;
  JobSpec spec_;
  std::shared_ptr<http::HttpExchange> exchange_;
  LogprobFormatter logprobs_;
  std::string id_;
  int64_t created_ = 0;
  Clock::time_point deadline_;
  std::vector<RequestId> request_ids_;  // fixed once started; read without the lock by cancel()

  std::mutex mutex_;
  std::vector<Choice> choices_;
  std::optional<Error> error_;
  std::atomic<bool> drain_scheduled_{false};
  std::atomic<bool> expired_{false};
  bool completed_ = false;
  bool started_ = false;
};

}  // namespace ferrum::server
