// POST /v1/chat/completions and /v1/completions: request -> prompt tokens -> engine requests (one
// per choice, each with its own grammar constraint) -> a GenerationJob that answers.
#include "server/api_server.h"
#include "tokenizer/detokenizer.h"

namespace ferrum::server {
namespace {

ApiError context_error(std::string message, const char* param) {
  ApiError error = invalid_request(std::move(message), std::string(param));
  error.code = "context_length_exceeded";
  return error;
}

}  // namespace

ApiResult<size_t> ApiServer::completion_budget(size_t prompt_tokens, std::optional<size_t> max_tokens,
                                               const char* prompt_param) const {
  const size_t context = context_length();
  const size_t max_total = options_.max_total_tokens ? std::min(options_.max_total_tokens, context) : context;
  const size_t max_prompt = options_.max_prompt_tokens ? std::min(options_.max_prompt_tokens, max_total) : max_total;
  if (prompt_tokens >= max_prompt) {
    return context_error("the prompt has " + std::to_string(prompt_tokens) + " tokens; this server accepts at most " +
                             std::to_string(max_prompt - 1) + " (and needs room for at least one generated token)",
                         prompt_param);
  }
  const size_t room = max_total - prompt_tokens;
  if (!max_tokens) return room;
  if (*max_tokens > room) {
    return context_error("this model's maximum context length is " + std::to_string(max_total) +
                             " tokens; the request asks for " + std::to_string(prompt_tokens + *max_tokens) + " (" +
                             std::to_string(prompt_tokens) + " in the prompt, " + std::to_string(*max_tokens) +
                             " to generate)",
                         "max_tokens");
  }
  return *max_tokens;
}

void ApiServer::handle_chat(const http::HttpRequest& request, const Exchange& exchange) {
  constexpr std::string_view kEndpoint = "/v1/chat/completions";
  const Clock::time_point arrival = Clock::now();
  if (!model_.engine) {
    return reply_error(exchange, kEndpoint, invalid_request("the served model does not generate text"));
  }
  const ModelBundle& bundle = *model_.bundle;
  auto body = parse_json_object(request.body);
  if (!body) return reply_error(exchange, kEndpoint, body.error());
  if (auto error = check_model_name(*body)) return reply_error(exchange, kEndpoint, *error);
  auto chat = parse_chat_request(*body, options_.default_sampling, bundle.model->info().vocab_size);
  if (!chat) return reply_error(exchange, kEndpoint, chat.error());

  chat::ChatInputs inputs;
  inputs.messages = chat->messages;
  if (chat->tool_choice.kind != ToolChoiceKind::kNone) inputs.tools = chat->tools;
  inputs.add_generation_prompt = true;
  inputs.extra_context = chat->template_kwargs;
  auto rendered = bundle.render_chat(inputs);
  if (!rendered) return reply_error(exchange, kEndpoint, from_error(rendered.error(), "messages"));
  // Templates write BOS themselves; control tokens in the rendering are real control tokens.
  std::vector<int32_t> prompt = bundle.tokenizer->encode(*rendered, {.add_special = false, .parse_special = true});
  auto budget = completion_budget(prompt.size(), chat->params.max_tokens, "messages");
  if (!budget) return reply_error(exchange, kEndpoint, budget.error());

  ChoiceOptions options;
  options.reasoning = reasoning_;
  options.starts_in_reasoning = reasoning_ && prompt_opens_reasoning(*rendered);
  switch (chat->tool_choice.kind) {
    case ToolChoiceKind::kNone: break;
    case ToolChoiceKind::kAuto:
      if (tool_format_ != ToolCallFormat::kNone) {
        options.tool_mode = ToolMode::kParse;
        options.format = tool_format_;
      }
      break;
    case ToolChoiceKind::kRequired: options.tool_mode = ToolMode::kRequired; break;
    case ToolChoiceKind::kNamed:
      options.tool_mode = ToolMode::kNamed;
      options.forced_name = chat->tool_choice.name;
      break;
  }
  // A forced call is all structure: no reasoning block before it.
  if (options.tool_mode == ToolMode::kNamed || options.tool_mode == ToolMode::kRequired) options.reasoning = false;

  JobSpec spec;
  spec.kind = ApiKind::kChat;
  spec.endpoint = kEndpoint;
  spec.model = chat->model.empty() ? options_.model_names.front() : chat->model;
  spec.stream = chat->params.stream;
  spec.include_usage = chat->params.include_usage;
  spec.logprobs = chat->logprobs;
  spec.choice_options = options;
  spec.arrival = arrival;
  for (size_t i = 0; i < chat->params.n; ++i) {
    ChoiceRequest choice;
    EngineRequest& engine_request = choice.request;
    engine_request.prompt = prompt;
    engine_request.sampling = chat->params.sampling;
    // Each choice draws its own sequence; a seeded request stays reproducible.
    if (engine_request.sampling.has_seed) engine_request.sampling.seed += i;
    engine_request.max_new_tokens = *budget;
    engine_request.stop_strings = chat->params.stop;
    engine_request.stop_tokens = chat->params.stop_token_ids;
    engine_request.ignore_eos = chat->params.ignore_eos;
    engine_request.logprobs = chat->logprobs;
    engine_request.top_logprobs = chat->top_logprobs;
    auto constraint = options.tool_mode == ToolMode::kNamed || options.tool_mode == ToolMode::kRequired
                          ? structured_->for_tool_choice(*chat)
                          : structured_->for_response_format(chat->response_format);
    if (!constraint) return reply_error(exchange, kEndpoint, constraint.error());
    engine_request.constraint = std::move(*constraint);
    choice.counts_prompt = i == 0;
    spec.choices.push_back(std::move(choice));
  }
  GenerationJob::start(*environment_, std::move(spec), exchange);
}

void ApiServer::handle_completions(const http::HttpRequest& request, const Exchange& exchange) {
  constexpr std::string_view kEndpoint = "/v1/completions";
  const Clock::time_point arrival = Clock::now();
  if (!model_.engine) {
    return reply_error(exchange, kEndpoint, invalid_request("the served model does not generate text"));
  }
  const ModelBundle& bundle = *model_.bundle;
  const size_t vocab_size = bundle.model->info().vocab_size;
  auto body = parse_json_object(request.body);
  if (!body) return reply_error(exchange, kEndpoint, body.error());
  if (auto error = check_model_name(*body)) return reply_error(exchange, kEndpoint, *error);
  if (auto rejected = reject_unsupported_fields(*body, {"suffix"})) return reply_error(exchange, kEndpoint, *rejected);
  auto params = parse_generation_params(*body, options_.default_sampling, vocab_size);
  if (!params) return reply_error(exchange, kEndpoint, params.error());
  FieldReader fields(*body);
  const bool echo = fields.boolean("echo").value_or(false);
  const std::optional<int64_t> logprobs = fields.integer("logprobs", 0, static_cast<int64_t>(kMaxTopLogprobs));
  if (auto best_of = fields.integer("best_of", 1, static_cast<int64_t>(kMaxChoices))) {
    if (static_cast<size_t>(*best_of) != params->n) {
      fields.fail(invalid_request("'best_of' other than 'n' is not supported", "best_of"));
    }
  }
  const Json* prompt_field = fields.any("prompt");
  if (fields.error()) return reply_error(exchange, kEndpoint, *fields.error());
  auto format = parse_response_format(fields.any("response_format"));
  if (!format) return reply_error(exchange, kEndpoint, format.error());

  // prompt: a string, a list of strings, a list of token ids, or a list of such lists.
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::optional<std::string>> prompt_texts;  // echo prints a text prompt as it was sent
  const auto add_ids = [&](const Json& ids) -> std::optional<ApiError> {
    std::vector<int32_t> tokens;
    for (const Json& id : ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || static_cast<size_t>(id.get<int64_t>()) >= vocab_size) {
        return invalid_request("'prompt' token ids must be integers below " + std::to_string(vocab_size), "prompt");
      }
      tokens.push_back(id.get<int32_t>());
    }
    prompts.push_back(std::move(tokens));
    prompt_texts.emplace_back();
    return std::nullopt;
  };
  const auto add_text = [&](const std::string& text) {
    prompts.push_back(bundle.tokenizer->encode(text, {.add_special = true, .parse_special = true}));
    prompt_texts.emplace_back(text);
  };
  if (!prompt_field) return reply_error(exchange, kEndpoint, invalid_request("'prompt' is required", "prompt"));
  if (prompt_field->is_string()) {
    add_text(prompt_field->get<std::string>());
  } else if (prompt_field->is_array() && !prompt_field->empty()) {
    const Json& first = (*prompt_field)[0];
    if (first.is_number_integer()) {
      if (auto error = add_ids(*prompt_field)) return reply_error(exchange, kEndpoint, *error);
    } else {
      for (const Json& entry : *prompt_field) {
        if (entry.is_string()) {
          add_text(entry.get<std::string>());
        } else if (entry.is_array()) {
          if (auto error = add_ids(entry)) return reply_error(exchange, kEndpoint, *error);
        } else {
          return reply_error(exchange, kEndpoint,
                             invalid_request("'prompt' lists must hold strings or token-id lists", "prompt"));
        }
      }
    }
  } else {
    return reply_error(exchange, kEndpoint,
                       invalid_request("'prompt' must be a string, a list of strings or token ids", "prompt"));
  }
  if (prompts.size() * params->n > kMaxChoices * 4) {
    return reply_error(exchange, kEndpoint, invalid_request("too many prompts times 'n' in one request", "prompt"));
  }

  JobSpec spec;
  spec.kind = ApiKind::kCompletion;
  spec.endpoint = kEndpoint;
  FieldReader names(*body);
  spec.model = names.string("model").value_or(options_.model_names.front());
  spec.stream = params->stream;
  spec.include_usage = params->include_usage;
  spec.logprobs = logprobs.has_value();
  spec.arrival = arrival;
  for (size_t p = 0; p < prompts.size(); ++p) {
    const std::vector<int32_t>& prompt = prompts[p];
    if (prompt.empty()) return reply_error(exchange, kEndpoint, invalid_request("a prompt is empty", "prompt"));
    auto budget = completion_budget(prompt.size(), params->max_tokens, "prompt");
    if (!budget) return reply_error(exchange, kEndpoint, budget.error());
    std::string echo_text;
    if (echo && prompt_texts[p]) {
      echo_text = *prompt_texts[p];
    } else if (echo) {
      // Token ids read back as a tokenizer's own decode would (no dummy-prefix space).
      auto text =
          tokenizer::decode(bundle.tokenizer->vocab(), prompt, {.render_special = false, .sentencepiece_rules = true});
      if (text) echo_text = *text;
    }
    for (size_t i = 0; i < params->n; ++i) {
      ChoiceRequest choice;
      EngineRequest& engine_request = choice.request;
      engine_request.prompt = prompt;
      engine_request.sampling = params->sampling;
      if (engine_request.sampling.has_seed) engine_request.sampling.seed += i;
      engine_request.max_new_tokens = *budget;
      engine_request.stop_strings = params->stop;
      engine_request.stop_tokens = params->stop_token_ids;
      engine_request.ignore_eos = params->ignore_eos;
      engine_request.logprobs = logprobs.has_value();
      engine_request.top_logprobs = static_cast<size_t>(logprobs.value_or(0));
      auto constraint = structured_->for_response_format(*format);
      if (!constraint) return reply_error(exchange, kEndpoint, constraint.error());
      engine_request.constraint = std::move(*constraint);
      choice.echo = echo_text;
      choice.counts_prompt = i == 0;
      spec.choices.push_back(std::move(choice));
    }
  }
  GenerationJob::start(*environment_, std::move(spec), exchange);
}

}  // namespace ferrum::server
