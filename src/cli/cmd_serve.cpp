// `ferrum serve`: the OpenAI-compatible HTTP server. It listens at once (GET /health answers 503
// "loading"), loads the model on a background thread, then serves until SIGINT / SIGTERM, when it
// stops accepting, cancels the generations in flight and exits.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "core/log.h"
#include "engine/model_aliases.h"
#include "engine/sequential_engine.h"
#include "engine/serving_engine.h"
#include "models/model_files.h"
#include "server/api_server.h"

namespace ferrum::cli {
namespace {

struct ServeFlags {
  ModelOptions model;
  SamplingFlags sampling;
  EngineFlags engine;
  bool sequential = false;  // one request at a time (families without a batched forward always are)
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::optional<std::string> api_key;
  std::vector<std::string> served_names;
  size_t max_body_mb = 32;
  size_t max_prompt_tokens = 0;
  size_t max_total_tokens = 0;
  double request_timeout_s = 600;
  double idle_timeout_s = 60;
  size_t max_connections = 16384;
  size_t handler_threads = 4;
  std::string tool_call_format = "auto";
  std::string reasoning_format = "auto";
  bool embeddings = false;  // a decoder serves /v1/embeddings instead of generating
  std::string pooling = "last";
  bool no_normalize = false;
};

// The name clients use in "model": the file name without extension for a path, else the spec.
std::string default_model_name(const std::string& spec) {
  const std::filesystem::path path(spec);
  std::error_code error;
  if (std::filesystem::exists(path, error)) {
    std::filesystem::path normalized = path.lexically_normal();
    if (normalized.filename().empty()) normalized = normalized.parent_path();
    return normalized.extension() == ".gguf" ? normalized.stem().string() : normalized.filename().string();
  }
  return spec;
}

// What `serve` holds while it runs, destroyed in reverse order of use.
struct LoadedModel {
  std::shared_ptr<ModelBundle> bundle;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<EmbeddingModel> embedder;
  std::unique_ptr<SpeechTranscriber> transcriber;
};

Expected<LoadedModel> load(const ServeFlags& flags, const std::string& spec) {
  LoadedModel loaded;
  FERRUM_ASSIGN_OR_RETURN(ModelFiles files, open_model_files(spec));
  switch (files.config.arch) {
    case ModelArch::kBert:
    case ModelArch::kClip: {
      FERRUM_ASSIGN_OR_RETURN(loaded.embedder, EmbeddingModel::open(spec));
      return loaded;
    }
    case ModelArch::kWhisper: {
      FERRUM_ASSIGN_OR_RETURN(loaded.transcriber, SpeechTranscriber::open(spec));
      return loaded;
    }
    default: break;
  }
  ModelOptions options = flags.model;
  options.model = spec;
  // The engine's limits raise what the model is loaded for (its per-step scratch and context).
  const EngineOptions engine_options = flags.engine.resolve(options);
  FERRUM_ASSIGN_OR_RETURN(ModelBundle bundle, load_model_bundle(options));
  loaded.bundle = std::make_shared<ModelBundle>(std::move(bundle));
  if (flags.embeddings) {
    FERRUM_CHECK(flags.pooling == "last" || flags.pooling == "mean", ErrorCode::kInvalidArgument, "--pooling '",
                 flags.pooling, "': use last or mean");
    const Pooling pooling = flags.pooling == "mean" ? Pooling::kMean : Pooling::kLast;
    FERRUM_ASSIGN_OR_RETURN(
        loaded.embedder,
        EmbeddingModel::from_decoder(*loaded.bundle->model, *loaded.bundle->tokenizer, pooling, !flags.no_normalize));
    return loaded;
  }
  // The batching engine (continuous batching over the paged KV cache) where the family has a
  // batched forward; otherwise, or with --sequential, one request at a time. Both speak engine.h.
  if (!flags.sequential && loaded.bundle->model->supports_paged_batches()) {
    FERRUM_ASSIGN_OR_RETURN(loaded.engine, create_engine(loaded.bundle, engine_options));
  } else {
    if (!flags.sequential) {
      FERRUM_LOG_INFO(loaded.bundle->model->info().architecture,
                      " has no batched forward yet: requests run one at a time");
    }
    loaded.engine =
        std::make_unique<SequentialEngine>(*loaded.bundle->model, *loaded.bundle->tokenizer, loaded.bundle->end_tokens);
  }
  return loaded;
}

Status serve(ServeFlags& flags) {
  FERRUM_CHECK(flags.request_timeout_s > 0 && flags.idle_timeout_s > 0, ErrorCode::kInvalidArgument,
               "--request-timeout and --idle-timeout must be positive");
  server::ApiServerOptions api_options;
  if (flags.tool_call_format != "auto") {
    api_options.tool_call_format = server::parse_tool_call_format(flags.tool_call_format);
    FERRUM_CHECK(api_options.tool_call_format.has_value(), ErrorCode::kInvalidArgument, "--tool-call-format '",
                 flags.tool_call_format, "': use auto, hermes, llama3_json, mistral or none");
  }
  if (flags.reasoning_format == "none") {
    api_options.reasoning = server::ReasoningFormat::kNone;
  } else if (flags.reasoning_format == "think") {
    api_options.reasoning = server::ReasoningFormat::kThink;
  } else {
    FERRUM_CHECK(flags.reasoning_format == "auto", ErrorCode::kInvalidArgument, "--reasoning-format '",
                 flags.reasoning_format, "': use auto, think or none");
  }
  if (!flags.api_key) {
    if (const char* key = std::getenv("FERRUM_API_KEY"); key && *key) flags.api_key = key;
  }
  FERRUM_CHECK(!flags.api_key || !flags.api_key->empty(), ErrorCode::kInvalidArgument, "--api-key is empty");
  if (flags.model.model.empty()) flags.model.model = std::string(kDefaultModelAlias);
  FERRUM_ASSIGN_OR_RETURN(const std::string spec, resolve_model_spec(flags.model.model));
  api_options.model_names = flags.served_names;
  if (api_options.model_names.empty()) api_options.model_names.push_back(default_model_name(flags.model.model));
  api_options.api_key = flags.api_key;
  api_options.request_timeout = std::chrono::milliseconds(static_cast<int64_t>(flags.request_timeout_s * 1000));
  api_options.max_prompt_tokens = flags.max_prompt_tokens;
  api_options.max_total_tokens = flags.max_total_tokens;

  // Every connection is a file descriptor: allow as many as the hard limit does.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }

  // Signals go to the thread that waits for them, never to a worker mid-step.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto api = std::make_unique<server::ApiServer>(api_options);
  http::HttpServerOptions http_options;
  http_options.host = flags.host;
  http_options.port = flags.port;
  http_options.limits.max_body_bytes = flags.max_body_mb << 20;
  http_options.idle_timeout = std::chrono::milliseconds(static_cast<int64_t>(flags.idle_timeout_s * 1000));
  http_options.max_connections = flags.max_connections;
  http_options.handler_threads = flags.handler_threads;
  http_options.error_body = server::ApiServer::http_error_body;
  http_options.error_content_type = "application/json";
  server::ApiServer* api_pointer = api.get();
  FERRUM_ASSIGN_OR_RETURN(
      std::unique_ptr<http::HttpServer> http,
      http::HttpServer::start(http_options,
                              [api_pointer](http::HttpRequest request, std::shared_ptr<http::HttpExchange> exchange) {
                                api_pointer->handle(std::move(request), std::move(exchange));
                              }));
  api->set_http_server(http.get());
  std::fprintf(stderr, "ferrum serve: listening on http://%s:%u (loading %s ...)\n", flags.host.c_str(), http->port(),
               spec.c_str());
  if (flags.host != "127.0.0.1" && flags.host != "localhost" && flags.host != "::1" && !flags.api_key) {
    std::fprintf(stderr, "ferrum serve: warning: listening beyond loopback without --api-key\n");
  }

  LoadedModel loaded;
  std::optional<Error> load_error;
  std::atomic<bool> loading{true};
  std::thread loader([&] {
    const auto start = std::chrono::steady_clock::now();
    auto result = load(flags, spec);
    if (!result) {
      load_error = std::move(result).error();
      ::kill(::getpid(), SIGTERM);  // wake the main thread, which reports the error
    } else {
      loaded = std::move(*result);
      server::ServedModel served;
      served.engine = loaded.engine.get();
      served.bundle = loaded.engine ? loaded.bundle.get() : nullptr;
      served.embedder = loaded.embedder.get();
      served.transcriber = loaded.transcriber.get();
      served.created =
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
      if (loaded.engine) api_options.default_sampling = flags.sampling.resolve(loaded.bundle->default_sampling());
      api_pointer->set_default_sampling(api_options.default_sampling);
      api_pointer->set_models(served);
      std::fprintf(stderr, "ferrum serve: ready in %.2f s, serving '%s'\n",
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                   api_options.model_names.front().c_str());
    }
    loading = false;
  });

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  if (loading) {
    std::fprintf(stderr, "ferrum serve: interrupted while loading\n");
    std::_Exit(130);
  }
  loader.join();
  if (load_error) return std::move(*load_error).with_context("loading the model");
  std::fprintf(stderr, "ferrum serve: shutting down\n");
  http->stop();  // no new requests; open streams see their clients gone
  api->shutdown(std::chrono::seconds(10));
  // The API server goes first: its watchdog may still abort requests on the engine, while the
  // engine only ever reaches the server through weak references that expire with it.
  api.reset();
  loaded.engine.reset();
  return ok();
}

}  // namespace

int run_serve(int argc, char** argv) {
  ServeFlags flags;
  ArgParser parser("ferrum serve", "[MODEL] [options]");
  parser.positional("MODEL", &flags.model.model,
                    "a .gguf, a model directory, org/name in the HF cache, or an alias; BERT / CLIP checkpoints serve "
                    "/v1/embeddings, Whisper /v1/audio/transcriptions",
                    false);
  parser.option("--host", &flags.host, "address to listen on (default 127.0.0.1: this machine only)");
  parser.option("--port", &flags.port, "TCP port (default 8080; 0 picks a free one)");
  parser.option("--api-key", &flags.api_key,
                "require 'Authorization: Bearer KEY' on every endpoint but /health (or set FERRUM_API_KEY)");
  parser.option("--served-model-name", &flags.served_names,
                "the name clients pass as \"model\" (repeatable; default: the model file's name)");
  parser.option("--max-body-mb", &flags.max_body_mb, "largest request body in MiB (default 32)");
  parser.option("--max-prompt-tokens", &flags.max_prompt_tokens, "longest prompt in tokens (default: the context)");
  parser.option("--max-total-tokens", &flags.max_total_tokens,
                "prompt + completion tokens per request (default: the context)");
  parser.option("--request-timeout", &flags.request_timeout_s,
                "seconds a generation may take before it is stopped (default 600)");
  parser.option("--idle-timeout", &flags.idle_timeout_s,
                "seconds an idle or stalled connection stays open (default 60)");
  parser.option("--max-connections", &flags.max_connections, "open connections at most (default 16384)");
  parser.option("--handler-threads", &flags.handler_threads,
                "threads that parse requests, tokenize and run embeddings / transcription (default 4)");
  parser.option("--tool-call-format", &flags.tool_call_format,
                "auto (from the chat template), hermes, llama3_json, mistral or none");
  parser.option("--reasoning-format", &flags.reasoning_format,
                "auto (on when the template knows <think>), think or none");
  parser.flag("--embeddings", &flags.embeddings,
              "serve a decoder model's pooled hidden states on /v1/embeddings instead of generating");
  parser.option("--pooling", &flags.pooling, "with --embeddings: last (token) or mean (default last)");
  parser.flag("--no-normalize", &flags.no_normalize, "with --embeddings: return the pooled vector unnormalised");
  parser.flag("--sequential", &flags.sequential,
              "run one request at a time instead of batching them (debugging, comparisons)");
  register_sampling_flags(parser, flags.sampling);
  register_model_flags(parser, flags.model);
  register_engine_flags(parser, flags.engine);
  return report_errors("serve", [&]() -> Status {
    FERRUM_TRY(parser.parse(argc, argv));
    if (parser.help_requested()) {
      std::cout << parser.usage();
      return ok();
    }
    return serve(flags);
  });
}

}  // namespace ferrum::cli
