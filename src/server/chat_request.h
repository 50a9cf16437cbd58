// A /v1/chat/completions request, checked field by field and normalized for the chat template:
// content part lists become text, "developer" messages become "system", an assistant's tool-call
// arguments (a JSON string on the wire) become objects, as Hugging Face templates expect.
#pragma once

#include <string>

#include "server/generation_params.h"
#include "server/json_fields.h"

namespace ferrum::server {

enum class ToolChoiceKind { kNone, kAuto, kRequired, kNamed };

struct ToolChoice {
  ToolChoiceKind kind = ToolChoiceKind::kNone;
  std::string name;  // kNamed
};

enum class ResponseFormatKind { kText, kJsonObject, kJsonSchema };

struct ResponseFormat {
  ResponseFormatKind kind = ResponseFormatKind::kText;
  Json schema;  // kJsonSchema
};

struct ChatRequest {
  std::string model;
  Json messages = Json::array();
  Json tools = nullptr;  // the request's tools, as the template receives them
  ToolChoice tool_choice;
  bool parallel_tool_calls = true;  // false: "required" produces exactly one call
  ResponseFormat response_format;
  Json template_kwargs = Json::object();  // chat_template_kwargs (enable_thinking, ...)
  GenerationParams params;
  bool logprobs = false;
  size_t top_logprobs = 0;

  // The parameters schema of a tool by name, or nullptr.
  const Json* tool_parameters(std::string_view name) const;
};

ApiResult<ChatRequest> parse_chat_request(const Json& body, const SamplingParams& defaults, size_t vocab_size);

// Validates response_format (also used by /v1/completions).
ApiResult<ResponseFormat> parse_response_format(const Json* value);

}  // namespace ferrum::server
