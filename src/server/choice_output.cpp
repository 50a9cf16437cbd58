#include "server/choice_output.h"

namespace ferrum::server {

ChoiceOutput::ChoiceOutput(ChoiceOptions options)
    : options_(std::move(options)),
      splitter_(options_.starts_in_reasoning),
      parser_(options_.tool_mode == ToolMode::kParse ? options_.format : ToolCallFormat::kNone) {}

void ChoiceOutput::add_content(ChoiceDelta& delta, std::string_view text) {
  delta.content += text;
  content_ += text;
}

void ChoiceOutput::add_call(ChoiceDelta& delta, const ParsedToolCall& call) {
  ToolCallRecord record{new_tool_call_id(), call.name, call.arguments};
  delta.tool_calls.push_back({calls_.size(), record.id, record.name, record.arguments});
  calls_.push_back(std::move(record));
}

void ChoiceOutput::route(ChoiceDelta& delta, const ReasoningSplitter::Output& split, bool final) {
  delta.reasoning += split.reasoning;
  reasoning_ += split.reasoning;
  ToolCallParser::Output parsed = parser_.push(split.content);
  if (final) {
    ToolCallParser::Output rest = parser_.finish();
    parsed.content += rest.content;
    for (ParsedToolCall& call : rest.calls) parsed.calls.push_back(std::move(call));
  }
  add_content(delta, parsed.content);
  for (const ParsedToolCall& call : parsed.calls) add_call(delta, call);
}

ChoiceDelta ChoiceOutput::push(std::string_view text) {
  ChoiceDelta delta;
  switch (options_.tool_mode) {
    case ToolMode::kNamed: {
      // The whole output is the arguments object: stream it as argument fragments of one call.
      if (calls_.empty()) {
        calls_.push_back({new_tool_call_id(), options_.forced_name, ""});
        delta.tool_calls.push_back({0, calls_[0].id, calls_[0].name, ""});
      }
      if (!text.empty()) {
        calls_[0].arguments += text;
        if (delta.tool_calls.empty()) delta.tool_calls.push_back({0, std::nullopt, std::nullopt, ""});
        delta.tool_calls.back().arguments += text;
      }
      return delta;
    }
    case ToolMode::kRequired:
      for (const ParsedToolCall& call : forced_.push(text)) add_call(delta, call);
      return delta;
    case ToolMode::kNone:
    case ToolMode::kParse: {
      const ReasoningSplitter::Output split =
          options_.reasoning ? splitter_.push(text) : ReasoningSplitter::Output{"", std::string(text)};
      route(delta, split, false);
      return delta;
    }
  }
  return delta;
}

ChoiceDelta ChoiceOutput::finish() {
  ChoiceDelta delta;
  if (options_.tool_mode == ToolMode::kNamed) {
    if (calls_.empty()) return push("");
    return delta;
  }
  if (options_.tool_mode == ToolMode::kRequired) return delta;
  const ReasoningSplitter::Output split = options_.reasoning ? splitter_.finish() : ReasoningSplitter::Output{};
  route(delta, split, true);
  return delta;
}

}  // namespace ferrum::server
