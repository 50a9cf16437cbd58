// One choice's output on its way to the client: the engine's text pieces split into reasoning,
// content and tool calls (per the request's tool mode and the model's formats), both as deltas
// for streaming and accumulated for the final message.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "server/reasoning.h"
#include "server/tool_calls.h"

namespace ferrum::server {

// How tool calls come out of this request's output.
enum class ToolMode {
  kNone,      // plain content
  kParse,     // tool_choice auto: find calls in the model's own format
  kNamed,     // tool_choice named: the (grammar-constrained) output is that function's arguments
  kRequired,  // tool_choice required: the output is a JSON array of {"name", "parameters"}
};

struct ChoiceOptions {
  bool reasoning = false;  // split <think> blocks into reasoning_content
  bool starts_in_reasoning = false;
  ToolMode tool_mode = ToolMode::kNone;
  ToolCallFormat format = ToolCallFormat::kNone;  // kParse
  std::string forced_name;                        // kNamed
};

struct ToolCallDelta {
  size_t index = 0;
  std::optional<std::string> id, name;  // in the first delta of a call
  std::string arguments;                // a fragment
};

struct ChoiceDelta {
  std::string reasoning;
  std::string content;
  std::vector<ToolCallDelta> tool_calls;

  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
};

struct ToolCallRecord {
  std::string id, name, arguments;
};

class ChoiceOutput {
 public:
  explicit ChoiceOutput(ChoiceOptions options);

  ChoiceDelta push(std::string_view text);
  ChoiceDelta finish();

  const std::string& content() const { return content_; }
  const std::string& reasoning() const { return reasoning_; }
  const std::vector<ToolCallRecord>& tool_calls() const { return calls_; }

 private:
  void add_content(ChoiceDelta& delta, std::string_view text);
  void add_call(ChoiceDelta& delta, const ParsedToolCall& call);
  void route(ChoiceDelta& delta, const ReasoningSplitter::Output& split, bool final);

  ChoiceOptions options_;
  ReasoningSplitter splitter_;
  ToolCallParser parser_;
  ForcedCallsParser forced_;
  std::string content_, reasoning_;
  std::vector<ToolCallRecord> calls_;
};

}  // namespace ferrum::server
