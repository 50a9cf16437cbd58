#include "server/api_server.h"

#include <thread>

#include "core/log.h"
#include "tokenizer/detokenizer.h"

namespace ferrum::server {
namespace {

// Endpoint labels for metrics: known paths by name, everything else as one label, so arbitrary
// request paths cannot grow the metric set without bound.
std::string_view endpoint_label(std::string_view path) {
  static constexpr std::string_view kKnown[] = {"/v1/chat/completions",
                                                "/v1/completions",
                                                "/v1/embeddings",
                                                "/v1/audio/transcriptions",
                                                "/v1/audio/translations",
                                                "/v1/models",
                                                "/health",
                                                "/metrics",
                                                "/tokenize",
                                                "/detokenize"};
  for (std::string_view known : kKnown) {
    if (path == known) return known;
  }
  if (path.starts_with("/v1/models/")) return "/v1/models";
  return "other";
}

}  // namespace

ApiServer::ApiServer(ApiServerOptions options)
    : options_(std::move(options)), pump_(std::make_unique<http::WorkQueue>(options_.pump_threads)) {}

ApiServer::~ApiServer() {
  registry_.cancel_all();
  pump_.reset();  // runs the drains still queued
}

void ApiServer::shutdown(std::chrono::milliseconds wait) {
  registry_.cancel_all();
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (registry_.size() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void ApiServer::set_models(ServedModel model) {
  model_ = model;
  if (model_.engine && model_.bundle) {
    const ModelBundle& bundle = *model_.bundle;
    const std::string_view source = bundle.chat_template ? std::string_view(bundle.chat_template->source()) : "";
    tool_format_ = options_.tool_call_format.value_or(detect_tool_call_format(source));
    reasoning_ = options_.reasoning == ReasoningFormat::kThink ||
                 (options_.reasoning == ReasoningFormat::kAuto && source.find("<think>") != std::string_view::npos);
    environment_ = std::make_unique<JobEnvironment>(JobEnvironment{
        *model_.engine, bundle.tokenizer->vocab(), metrics_, *pump_, registry_, options_.request_timeout, {}});
    for (const std::string& marker : tool_call_marker_tokens(tool_format_)) {
      const tokenizer::TokenId id = bundle.tokenizer->vocab().find(marker);
      if (id != tokenizer::kNoToken) environment_->marker_tokens.emplace(id, marker);
    }
    structured_ = std::make_unique<StructuredOutput>(bundle.tokenizer->vocab(), bundle.end_tokens);
    FERRUM_LOG_INFO("serve: tool calls in the ", tool_call_format_name(tool_format_), " format; reasoning split ",
                    reasoning_ ? "on" : "off");
  }
  ready_ = true;
}

std::string ApiServer::http_error_body(int status, std::string_view message) {
  ApiError error = invalid_request(std::string(message));
  error.status = status;
  if (status == 413) error.code = "request_too_large";
  if (status == 408) error.type = "timeout";
  return error.to_json();
}

bool ApiServer::constant_time_equals(std::string_view a, std::string_view b) {
  // Every byte of the longer string is read whatever the contents, so timing reveals at most the
  // lengths, never how much of a guess was right.
  const size_t length = std::max(a.size(), b.size());
  unsigned char difference = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < length; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    difference |= static_cast<unsigned char>(x ^ y);
  }
  return difference == 0;
}

bool ApiServer::authorized(const http::HttpRequest& request) const {
  if (!options_.api_key) return true;
  const std::string* header = request.header("authorization");
  if (!header) return false;
  constexpr std::string_view kBearer = "Bearer ";
  if (header->size() < kBearer.size() || !http::equals_ignoring_case(header->substr(0, kBearer.size()), kBearer)) {
    return false;
  }
  return constant_time_equals(std::string_view(*header).substr(kBearer.size()), *options_.api_key);
}

void ApiServer::reply(const Exchange& exchange, std::string_view endpoint, int status, const Json& body) {
  exchange->respond(status, "application/json", dump_json(body));
  metrics_.count_request(endpoint, status);
}

void ApiServer::reply_error(const Exchange& exchange, std::string_view endpoint, const ApiError& error) {
  std::vector<http::HttpHeader> headers;
  if (error.status == 401) headers.push_back({"WWW-Authenticate", "Bearer"});
  exchange->respond(error.status, "application/json", error.to_json(), headers);
  metrics_.count_request(endpoint, error.status);
}

std::optional<ApiError> ApiServer::check_model_name(const Json& body) const {
  const auto it = body.find("model");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) return invalid_request("'model' must be a string", "model");
  // The name is only ever compared with the served names: it never reaches the file system.
  const std::string name = it->get<std::string>();
  for (const std::string& served : options_.model_names) {
    if (name == served) return std::nullopt;
  }
  return not_found("the model '" + name + "' does not exist; this server serves '" + options_.model_names.front() + "'",
                   "model_not_found");
}

void ApiServer::handle(http::HttpRequest request, std::shared_ptr<http::HttpExchange> exchange) {
  const std::string endpoint(endpoint_label(request.path));
  try {
    route(request, exchange);
  } catch (const std::exception& error) {
    // A bug, not the client's fault; the process stays up.
    FERRUM_LOG_ERROR("serve: ", request.method, " ", request.path, " threw: ", error.what());
    reply_error(exchange, endpoint, internal_error("internal error while handling the request"));
  }
}

void ApiServer::route(http::HttpRequest& request, const Exchange& exchange) {
  const std::string& path = request.path;
  const std::string_view endpoint = endpoint_label(path);
  const auto expect = [&](std::string_view method) {
    if (request.method == method) return true;
    ApiError error = invalid_request("use " + std::string(method) + " for " + path);
    error.status = 405;
    reply_error(exchange, endpoint, error);
    return false;
  };
  if (path == "/health") {
    if (!expect("GET")) return;
    if (ready_) {
      reply(exchange, endpoint, 200, {{"status", "ok"}});
    } else {
      reply(exchange, endpoint, 503, {{"status", "loading"}});
    }
    return;
  }
  if (!authorized(request)) return reply_error(exchange, endpoint, unauthorized());
  if (path == "/metrics") {
    if (!expect("GET")) return;
    std::optional<EngineStats> stats;
    if (ready_ && model_.engine) stats = model_.engine->stats();
    exchange->respond(200, "text/plain; version=0.0.4; charset=utf-8",
                      metrics_.render(stats, http_server_ ? http_server_->open_connections() : 0));
    metrics_.count_request(endpoint, 200);
    return;
  }
  const bool known = endpoint != "other";
  if (!known)
    return reply_error(exchange, endpoint, not_found("no endpoint " + request.method + " " + path, "not_found"));
  if (!ready_) {
    ApiError error{503, "server_error", "the model is still loading", std::nullopt, "model_loading"};
    return reply_error(exchange, endpoint, error);
  }
  if (endpoint == "/v1/models") {
    if (expect("GET")) handle_models(request, exchange);
  } else if (path == "/v1/chat/completions") {
    if (expect("POST")) handle_chat(request, exchange);
  } else if (path == "/v1/completions") {
    if (expect("POST")) handle_completions(request, exchange);
  } else if (path == "/v1/embeddings") {
    if (expect("POST")) handle_embeddings(request, exchange);
  } else if (path == "/v1/audio/transcriptions" || path == "/v1/audio/translations") {
    if (expect("POST")) handle_transcription(request, exchange, path == "/v1/audio/translations");
  } else if (path == "/tokenize") {
    if (expect("POST")) handle_tokenize(request, exchange);
  } else if (path == "/detokenize") {
    if (expect("POST")) handle_detokenize(request, exchange);
  }
}

size_t ApiServer::context_length() const {
  if (model_.engine) return model_.engine->max_context();
  if (model_.embedder) return model_.embedder->max_tokens();
  return 0;
}

const tokenizer::Tokenizer* ApiServer::text_tokenizer() const {
  if (model_.bundle) return model_.bundle->tokenizer.get();
  if (model_.embedder) return model_.embedder->tokenizer();
  if (model_.transcriber) return model_.transcriber->tokenizer();
  return nullptr;
}

void ApiServer::handle_models(const http::HttpRequest& request, const Exchange& exchange) {
  const auto describe = [&](const std::string& name) {
    Json entry = {{"id", name}, {"object", "model"}, {"created", model_.created}, {"owned_by", "ferrum"}};
    if (const size_t context = context_length()) entry["max_model_len"] = context;
    return entry;
  };
  if (request.path == "/v1/models") {
    Json data = Json::array();
    for (const std::string& name : options_.model_names) data.push_back(describe(name));
    return reply(exchange, "/v1/models", 200, {{"object", "list"}, {"data", std::move(data)}});
  }
  const std::string id = request.path.substr(std::string_view("/v1/models/").size());
  for (const std::string& name : options_.model_names) {
    if (name == id) return reply(exchange, "/v1/models", 200, describe(name));
  }
  reply_error(exchange, "/v1/models", not_found("the model '" + id + "' does not exist", "model_not_found"));
}

void ApiServer::handle_tokenize(const http::HttpRequest& request, const Exchange& exchange) {
  constexpr std::string_view kEndpoint = "/tokenize";
  auto body = parse_json_object(request.body);
  if (!body) return reply_error(exchange, kEndpoint, body.error());
  if (auto error = check_model_name(*body)) return reply_error(exchange, kEndpoint, *error);
  const tokenizer::Tokenizer* tokenizer = text_tokenizer();
  if (!tokenizer) return reply_error(exchange, kEndpoint, invalid_request("the served model has no tokenizer"));
  FieldReader fields(*body);
  const std::optional<std::string> prompt = fields.string("prompt");
  const Json* messages = fields.array("messages");
  const bool add_special = fields.boolean("add_special_tokens").value_or(prompt.has_value());
  const bool add_generation_prompt = fields.boolean("add_generation_prompt").value_or(true);
  const bool with_strings = fields.boolean("return_token_strs").value_or(false);
  if (fields.error()) return reply_error(exchange, kEndpoint, *fields.error());
  std::vector<int32_t> tokens;
  if (prompt) {
    tokens = tokenizer->encode(*prompt, {.add_special = add_special, .parse_special = true});
  } else if (messages) {
    if (!model_.bundle) {
      return reply_error(exchange, kEndpoint, invalid_request("'messages' needs a chat model", "messages"));
    }
    Json request_body = {{"messages", *messages}};
    auto chat = parse_chat_request(request_body, options_.default_sampling, tokenizer->vocab().size());
    if (!chat) return reply_error(exchange, kEndpoint, chat.error());
    chat::ChatInputs inputs;
    inputs.messages = chat->messages;
    inputs.add_generation_prompt = add_generation_prompt;
    auto rendered = model_.bundle->render_chat(inputs);
    if (!rendered) return reply_error(exchange, kEndpoint, from_error(rendered.error(), "messages"));
    tokens = tokenizer->encode(*rendered, {.add_special = add_special, .parse_special = true});
  } else {
    return reply_error(exchange, kEndpoint, invalid_request("give 'prompt' or 'messages'", "prompt"));
  }
  Json out = {{"count", tokens.size()}, {"max_model_len", context_length()}, {"tokens", tokens}};
  if (with_strings) {
    Json strings = Json::array();
    for (int32_t token : tokens) {
      auto piece = tokenizer::token_piece(tokenizer->vocab(), token, {.render_special = true});
      strings.push_back(piece ? *piece : std::string());
    }
    out["token_strs"] = std::move(strings);
  }
  reply(exchange, kEndpoint, 200, out);
}

void ApiServer::handle_detokenize(const http::HttpRequest& request, const Exchange& exchange) {
  constexpr std::string_view kEndpoint = "/detokenize";
  auto body = parse_json_object(request.body);
  if (!body) return reply_error(exchange, kEndpoint, body.error());
  if (auto error = check_model_name(*body)) return reply_error(exchange, kEndpoint, *error);
  const tokenizer::Tokenizer* tokenizer = text_tokenizer();
  if (!tokenizer) return reply_error(exchange, kEndpoint, invalid_request("the served model has no tokenizer"));
  FieldReader fields(*body);
  const Json* tokens = fields.array("tokens");
  if (fields.error()) return reply_error(exchange, kEndpoint, *fields.error());
  if (!tokens) return reply_error(exchange, kEndpoint, invalid_request("'tokens' is required", "tokens"));
  std::vector<tokenizer::TokenId> ids;
  for (const Json& token : *tokens) {
    if (!token.is_number_integer() || !tokenizer->vocab().contains(token.get<int32_t>()) ||
        token.get<int64_t>() != token.get<int32_t>()) {
      return reply_error(
          exchange, kEndpoint,
          invalid_request("'tokens' must be token ids below " + std::to_string(tokenizer->vocab().size()), "tokens"));
    }
    ids.push_back(token.get<int32_t>());
  }
  auto text = tokenizer::decode(tokenizer->vocab(), ids, {});
  if (!text) return reply_error(exchange, kEndpoint, from_error(text.error(), "tokens"));
  reply(exchange, kEndpoint, 200, {{"prompt", *text}});
}

}  // namespace ferrum::server
