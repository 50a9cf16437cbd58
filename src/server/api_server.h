// The OpenAI-compatible API over the HTTP server: routing, API-key checks, and the endpoints
//   POST /v1/chat/completions, /v1/completions     text generation (a decoder model + Engine)
//   POST /v1/embeddings                            BERT / CLIP text embeddings
//   POST /v1/audio/transcriptions, /translations   Whisper, multipart upload of WAV / FLAC / OGG
//   GET  /v1/models, /v1/models/{id}, /health, /metrics
//   POST /tokenize, /detokenize
// The server starts answering before the model is loaded (/health says 503 until set_models()), so
// orchestrators can tell "loading" from "down". docs/server.md documents every endpoint.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/encoder_models.h"
#include "engine/engine.h"
#include "engine/model_bundle.h"
#include "server/chat_request.h"
#include "server/generation_job.h"
#include "server/http/http_server.h"
#include "server/metrics.h"
#include "server/structured_output.h"
#include "server/tool_calls.h"

namespace ferrum::server {

enum class ReasoningFormat { kAuto, kNone, kThink };

struct ApiServerOptions {
  // Names clients may use in "model"; the first is the one /v1/models reports.
  std::vector<std::string> model_names;
  std::optional<std::string> api_key;
  std::chrono::milliseconds request_timeout{600'000};
  size_t max_prompt_tokens = 0;                    // 0: the model's context
  size_t max_total_tokens = 0;                     // prompt + completion; 0: the model's context
  std::optional<ToolCallFormat> tool_call_format;  // nullopt: detect from the chat template
  ReasoningFormat reasoning = ReasoningFormat::kAuto;
  SamplingParams default_sampling;
  size_t pump_threads = 2;
};

// What the server runs; exactly one of the three kinds is set.
struct ServedModel {
  Engine* engine = nullptr;  // with bundle: text generation
  const ModelBundle* bundle = nullptr;
  EmbeddingModel* embedder = nullptr;
  SpeechTranscriber* transcriber = nullptr;
  int64_t created = 0;  // load time, for /v1/models
};

class ApiServer {
 public:
  explicit ApiServer(ApiServerOptions options);
  ~ApiServer();

  // Makes the endpoints live; until then they answer 503.
  void set_models(ServedModel model);
  void set_http_server(const http::HttpServer* server) { http_server_ = server; }
  // Sampling for fields a request leaves unset (the model's defaults under the command's flags).
  void set_default_sampling(const SamplingParams& sampling) { options_.default_sampling = sampling; }
  // Cancels the generations in flight and waits up to `wait` for them to end.
  void shutdown(std::chrono::milliseconds wait);

  void handle(http::HttpRequest request, std::shared_ptr<http::HttpExchange> exchange);

  // The OpenAI error body for errors the HTTP layer answers itself (malformed requests, 413).
  static std::string http_error_body(int status, std::string_view message);
  // Compares in time independent of where the strings differ.
  static bool constant_time_equals(std::string_view a, std::string_view b);

 private:
  using Exchange = std::shared_ptr<http::HttpExchange>;

  void route(http::HttpRequest& request, const Exchange& exchange);
  void reply(const Exchange& exchange, std::string_view endpoint, int status, const Json& body);
  void reply_error(const Exchange& exchange, std::string_view endpoint, const ApiError& error);
  bool authorized(const http::HttpRequest& request) const;
  std::optional<ApiError> check_model_name(const Json& body) const;

  void handle_models(const http::HttpRequest& request, const Exchange& exchange);
  void handle_chat(const http::HttpRequest& request, const Exchange& exchange);
  void handle_completions(const http::HttpRequest& request, const Exchange& exchange);
  void handle_embeddings(const http::HttpRequest& request, const Exchange& exchange);
  void handle_transcription(const http::HttpRequest& request, const Exchange& exchange, bool translate);
  void handle_tokenize(const http::HttpRequest& request, const Exchange& exchange);
  void handle_detokenize(const http::HttpRequest& request, const Exchange& exchange);

  // Limits a prompt against the context and returns the completion budget (max_tokens).
  ApiResult<size_t> completion_budget(size_t prompt_tokens, std::optional<size_t> max_tokens,
                                      const char* prompt_param) const;
  const tokenizer::Tokenizer* text_tokenizer() const;
  size_t context_length() const;

  ApiServerOptions options_;
  ServedModel model_;
  std::atomic<bool> ready_{false};
  const http::HttpServer* http_server_ = nullptr;
  ServerMetrics metrics_;
  JobRegistry registry_;
  std::unique_ptr<http::WorkQueue> pump_;
  std::unique_ptr<JobEnvironment> environment_;
  std::unique_ptr<StructuredOutput> structured_;
  ToolCallFormat tool_format_ = ToolCallFormat::kNone;
  bool reasoning_ = false;
};

}  // namespace ferrum::server
