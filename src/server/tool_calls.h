// Tool calls in model output, in the formats models are trained to write them:
//   hermes       Qwen 2.5 / 3, Hermes:  <tool_call>{"name": "f", "arguments": {...}}</tool_call>, repeated
//   llama3_json  Llama 3.1 / 3.2:       [<|python_tag|>]{"name": "f", "parameters": {...}} (several split by ';')
//   mistral      Mistral / Nemo:        [TOOL_CALLS][{"name": "f", "arguments": {...}}, ...]
// ToolCallParser splits streamed text into content and complete calls, holding back text that
// may still turn into a call marker, so a marker never reaches the client as content.
//
// With tool_choice "required" or a named function, the server constrains the output with a
// grammar instead, in a format of its own: the named function's arguments object alone, or for
// "required" a JSON array of {"name": ..., "parameters": {...}} (ForcedCallsParser).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/json_fields.h"

namespace ferrum::server {

enum class ToolCallFormat { kNone, kHermes, kLlama3Json, kMistral };

std::string_view tool_call_format_name(ToolCallFormat format);
std::optional<ToolCallFormat> parse_tool_call_format(std::string_view name);
// The format a chat template renders tool calls in (what the model learned to write).
ToolCallFormat detect_tool_call_format(std::string_view template_source);
// Control tokens whose text the parser must see although the detokenizer drops special tokens.
std::vector<std::string> tool_call_marker_tokens(ToolCallFormat format);

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // a JSON object, as text
};

// {"name": ..., "arguments" | "parameters": {...}} -> a call; nullopt for anything else.
std::optional<ParsedToolCall> tool_call_from_json(const Json& value);

class ToolCallParser {
 public:
  explicit ToolCallParser(ToolCallFormat format) : format_(format) {}

  struct Output {
    std::string content;
    std::vector<ParsedToolCall> calls;
  };
  Output push(std::string_view text);
  // End of generation: what is still held back; a call that never closed or does not parse is
  // returned as content rather than dropped.
  Output finish();

 private:
  Output push_hermes();
  ToolCallFormat format_;
  std::string buffer_;
  enum class Mode { kStart, kContent, kCall, kTrailing } mode_ = Mode::kStart;
};

// The array of calls a "required" tool_choice grammar produces, parsed as it streams: each call is
// reported once its object closes.
class ForcedCallsParser {
 public:
  std::vector<ParsedToolCall> push(std::string_view text);

 private:
  std::string element_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
};

// "call_" and 24 random alphanumerics.
std::string new_tool_call_id();

}  // namespace ferrum::server
