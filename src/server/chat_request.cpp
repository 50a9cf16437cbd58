#include "server/chat_request.h"

#include <algorithm>
#include <cctype>

#include "server/tool_calls.h"

namespace ferrum::server {
namespace {

bool valid_function_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

// A message's content as text: a string, or the concatenated text of a list of parts.
ApiResult<Json> content_text(const Json& content, const std::string& where) {
  if (content.is_null()) return Json("");
  if (content.is_string()) return content;
  if (!content.is_array()) return invalid_request("'" + where + "' must be a string or an array of parts", where);
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      return invalid_request("'" + at + "' must be an object with a 'type'", at);
    }
    const std::string type = part["type"].get<std::string>();
    if (type != "text") {
      return invalid_request("'" + at + ".type' is '" + type + "': this model takes text parts only", at + ".type");
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      return invalid_request("'" + at + ".text' must be a string", at + ".text");
    }
    text += part["text"].get<std::string>();
  }
  return Json(text);
}

ApiResult<Json> normalize_tool_calls(const Json& calls, const std::string& where) {
  if (!calls.is_array()) return invalid_request("'" + where + "' must be an array", where);
  Json normalized = Json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const Json& call = calls[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) {
      return invalid_request("'" + at + "' must be an object with a 'function'", at);
    }
    const Json& function = call["function"];
    if (!function.contains("name") || !function["name"].is_string()) {
      return invalid_request("'" + at + ".function.name' must be a string", at + ".function.name");
    }
    Json arguments = function.contains("arguments") ? function["arguments"] : Json::object();
    if (arguments.is_string()) {
      // Templates print arguments with tojson; an object prints as JSON, a string would be quoted.
      Json parsed = Json::parse(arguments.get<std::string>(), nullptr, false);
      if (!parsed.is_discarded()) arguments = std::move(parsed);
    }
    Json entry = {{"id", call.contains("id") ? call["id"] : Json(new_tool_call_id())},
                  {"type", "function"},
                  {"function", {{"name", function["name"]}, {"arguments", std::move(arguments)}}}};
    normalized.push_back(std::move(entry));
  }
  return normalized;
}

}  // namespace

const Json* ChatRequest::tool_parameters(std::string_view name) const {
  if (!tools.is_array()) return nullptr;
  for (const Json& tool : tools) {
    const Json& function = tool["function"];
    if (function["name"].get<std::string>() == name) {
      return function.contains("parameters") ? &function["parameters"] : nullptr;
    }
  }
  return nullptr;
}

ApiResult<ResponseFormat> parse_response_format(const Json* value) {
  ResponseFormat format;
  if (!value) return format;
  if (!value->is_object() || !value->contains("type") || !(*value)["type"].is_string()) {
    return invalid_request("'response_format' must be an object with a 'type'", "response_format");
  }
  const std::string type = (*value)["type"].get<std::string>();
  if (type == "text") return format;
  if (type == "json_object") {
    format.kind = ResponseFormatKind::kJsonObject;
    return format;
  }
  if (type != "json_schema") {
    return invalid_request("'response_format.type' must be text, json_object or json_schema", "response_format.type");
  }
  const auto spec = value->find("json_schema");
  if (spec == value->end() || !spec->is_object()) {
    return invalid_request("'response_format.json_schema' must be an object", "response_format.json_schema");
  }
  const auto schema = spec->find("schema");
  if (schema == spec->end() || !(schema->is_object() || schema->is_boolean())) {
    return invalid_request("'response_format.json_schema.schema' must be a JSON schema object",
                           "response_format.json_schema.schema");
  }
  format.kind = ResponseFormatKind::kJsonSchema;
  format.schema = *schema;
  return format;
}

ApiResult<ChatRequest> parse_chat_request(const Json& body, const SamplingParams& defaults, size_t vocab_size) {
  if (auto rejected = reject_unsupported_fields(body, {"functions", "function_call", "audio", "prediction"})) {
    return *rejected;
  }
  ChatRequest request;
  FERRUM_API_ASSIGN_OR_RETURN(request.params, parse_generation_params(body, defaults, vocab_size));
  FieldReader fields(body);
  if (auto model = fields.string("model")) request.model = *model;
  if (auto logprobs = fields.boolean("logprobs")) request.logprobs = *logprobs;
  if (auto top = fields.integer("top_logprobs", 0, static_cast<int64_t>(kMaxTopLogprobs))) {
    request.top_logprobs = static_cast<size_t>(*top);
    if (*top > 0 && !request.logprobs) {
      fields.fail(invalid_request("'top_logprobs' needs 'logprobs' set to true", "top_logprobs"));
    }
  }
  if (const Json* kwargs = fields.object("chat_template_kwargs")) request.template_kwargs = *kwargs;
  if (auto parallel = fields.boolean("parallel_tool_calls")) request.parallel_tool_calls = *parallel;
  if (fields.error()) return *fields.error();

  const Json* messages = fields.array("messages");
  if (fields.error()) return *fields.error();
  if (!messages || messages->empty()) return invalid_request("'messages' must be a non-empty array", "messages");
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& message = (*messages)[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!message.is_object()) return invalid_request("'" + at + "' must be an object", at);
    FieldReader message_fields(message, at + ".");
    const std::optional<std::string> role = message_fields.string("role");
    if (message_fields.error()) return *message_fields.error();
    if (!role) return invalid_request("'" + at + ".role' is required", at + ".role");
    Json normalized = Json::object();
    if (*role == "system" || *role == "developer" || *role == "user" || *role == "tool") {
      normalized["role"] = *role == "developer" ? "system" : *role;
      if (!message.contains("content") || message["content"].is_null()) {
        return invalid_request("'" + at + ".content' is required", at + ".content");
      }
    } else if (*role == "assistant") {
      normalized["role"] = "assistant";
    } else {
      return invalid_request(
          "'" + at + ".role' must be system, developer, user, assistant or tool, not '" + *role + "'", at + ".role");
    }
    FERRUM_API_ASSIGN_OR_RETURN(
        normalized["content"],
        content_text(message.contains("content") ? message["content"] : Json(nullptr), at + ".content"));
    if (auto name = message_fields.string("name")) normalized["name"] = *name;
    if (*role == "tool") {
      if (auto id = message_fields.string("tool_call_id")) normalized["tool_call_id"] = *id;
    }
    if (*role == "assistant") {
      if (auto reasoning = message_fields.string("reasoning_content")) normalized["reasoning_content"] = *reasoning;
      if (const Json* calls = message_fields.any("tool_calls")) {
        FERRUM_API_ASSIGN_OR_RETURN(normalized["tool_calls"], normalize_tool_calls(*calls, at + ".tool_calls"));
      }
    }
    if (message_fields.error()) return *message_fields.error();
    request.messages.push_back(std::move(normalized));
  }

  if (const Json* tools = fields.array("tools")) {
    request.tools = Json::array();
    for (size_t i = 0; i < tools->size(); ++i) {
      const Json& tool = (*tools)[i];
      const std::string at = "tools[" + std::to_string(i) + "]";
      if (!tool.is_object() || tool.value("type", "") != "function" || !tool.contains("function") ||
          !tool["function"].is_object()) {
        return invalid_request("'" + at + "' must be {\"type\": \"function\", \"function\": {...}}", at);
      }
      const Json& function = tool["function"];
      if (!function.contains("name") || !function["name"].is_string() ||
          !valid_function_name(function["name"].get<std::string>())) {
        return invalid_request("'" + at + ".function.name' must be 1-64 letters, digits, '_', '-' or '.'",
                               at + ".function.name");
      }
      if (function.contains("parameters") && !function["parameters"].is_object()) {
        return invalid_request("'" + at + ".function.parameters' must be a JSON schema object",
                               at + ".function.parameters");
      }
      request.tools.push_back(tool);
    }
    if (request.tools.empty()) request.tools = nullptr;
  }
  if (fields.error()) return *fields.error();

  request.tool_choice.kind = request.tools.is_array() ? ToolChoiceKind::kAuto : ToolChoiceKind::kNone;
  if (const Json* choice = fields.any("tool_choice")) {
    if (choice->is_string()) {
      const std::string value = choice->get<std::string>();
      if (value == "none") {
        request.tool_choice.kind = ToolChoiceKind::kNone;
      } else if (value == "auto") {
        request.tool_choice.kind = ToolChoiceKind::kAuto;
      } else if (value == "required") {
        request.tool_choice.kind = ToolChoiceKind::kRequired;
      } else {
        return invalid_request("'tool_choice' must be none, auto, required or a named function", "tool_choice");
      }
    } else if (choice->is_object() && choice->contains("function") && (*choice)["function"].is_object() &&
               (*choice)["function"].contains("name") && (*choice)["function"]["name"].is_string()) {
      request.tool_choice.kind = ToolChoiceKind::kNamed;
      request.tool_choice.name = (*choice)["function"]["name"].get<std::string>();
    } else {
      return invalid_request(
          "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": "
          "{\"name\": ...}}",
          "tool_choice");
    }
    const bool needs_tools =
        request.tool_choice.kind == ToolChoiceKind::kRequired || request.tool_choice.kind == ToolChoiceKind::kNamed;
    if (needs_tools && !request.tools.is_array()) {
      return invalid_request("'tool_choice' asks for a tool call but 'tools' is empty", "tool_choice");
    }
    if (request.tool_choice.kind == ToolChoiceKind::kNamed) {
      const bool known = std::any_of(request.tools.begin(), request.tools.end(), [&](const Json& tool) {
        return tool["function"]["name"] == request.tool_choice.name;
      });
      if (!known) {
        return invalid_request("'tool_choice' names '" + request.tool_choice.name + "', which is not in 'tools'",
                               "tool_choice");
      }
    }
  }
  FERRUM_API_ASSIGN_OR_RETURN(request.response_format, parse_response_format(fields.any("response_format")));
  const bool forced_tools =
      request.tool_choice.kind == ToolChoiceKind::kRequired || request.tool_choice.kind == ToolChoiceKind::kNamed;
  if (forced_tools && request.response_format.kind != ResponseFormatKind::kText) {
    return invalid_request("'response_format' cannot be combined with a required or named 'tool_choice'",
                           "response_format");
  }
  return request;
}

}  // namespace ferrum::server
