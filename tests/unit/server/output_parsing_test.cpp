// Splitting model output as it streams: tool calls in the three formats, reasoning blocks, and the
// SSE framing of the chunks. Every case is fed in pieces of every size, so markers split across
// pieces are covered, and must give the same result as the whole text at once.
#include <gtest/gtest.h>

#include "server/choice_output.h"
#include "server/metrics.h"
#include "server/reasoning.h"
#include "server/sse.h"
#include "server/tool_calls.h"

namespace ferrum::server {
namespace {

struct Split {
  std::string content;
  std::vector<ParsedToolCall> calls;
};

Split run_parser(ToolCallFormat format, std::string_view text, size_t step) {
  ToolCallParser parser(format);
  Split out;
  const auto add = [&](ToolCallParser::Output piece) {
    out.content += piece.content;
    for (auto& call : piece.calls) out.calls.push_back(std::move(call));
  };
  for (size_t offset = 0; offset < text.size(); offset += step) add(parser.push(text.substr(offset, step)));
  add(parser.finish());
  return out;
}

void expect_split(ToolCallFormat format, std::string_view text, std::string_view content,
                  const std::vector<std::pair<std::string, std::string>>& calls) {
  for (size_t step = 1; step <= text.size(); ++step) {
    const Split split = run_parser(format, text, step);
    EXPECT_EQ(split.content, content) << "step " << step;
    ASSERT_EQ(split.calls.size(), calls.size()) << "step " << step;
    for (size_t i = 0; i < calls.size(); ++i) {
      EXPECT_EQ(split.calls[i].name, calls[i].first);
      EXPECT_EQ(Json::parse(split.calls[i].arguments), Json::parse(calls[i].second));
    }
  }
}

TEST(ToolCalls, HermesCallsAndContent) {
  expect_split(ToolCallFormat::kHermes,
               "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
               "</tool_call>\n<tool_call>{\"name\": \"time\", \"arguments\": {}}</tool_call>",
               "Let me check.\n", {{"get_weather", R"({"city":"Paris"})"}, {"time", "{}"}});
}

TEST(ToolCalls, HermesLookalikesStayContent) {
  expect_split(ToolCallFormat::kHermes, "a <tool_ and <tool_callx> b", "a <tool_ and <tool_callx> b", {});
  expect_split(ToolCallFormat::kHermes, "x<tool_call>not json</tool_call>", "x<tool_call>not json</tool_call>", {});
  expect_split(ToolCallFormat::kHermes, "ends inside <tool_call>{\"name\": \"f\"",
               "ends inside <tool_call>{\"name\": \"f\"", {});
}

TEST(ToolCalls, Llama3Json) {
  expect_split(ToolCallFormat::kLlama3Json, R"({"name": "search", "parameters": {"q": "x; y"}})", "",
               {{"search", R"({"q":"x; y"})"}});
  expect_split(ToolCallFormat::kLlama3Json,
               R"(<|python_tag|>{"name": "a", "parameters": {}}; {"name": "b", "arguments": {"n": 1}})", "",
               {{"a", "{}"}, {"b", R"({"n":1})"}});
  expect_split(ToolCallFormat::kLlama3Json, "Plain answer {not a call}", "Plain answer {not a call}", {});
  expect_split(ToolCallFormat::kLlama3Json, "{\"not\": \"a call\"}", "{\"not\": \"a call\"}", {});
}

TEST(ToolCalls, Mistral) {
  expect_split(ToolCallFormat::kMistral, R"(Sure.[TOOL_CALLS][{"name": "f", "arguments": {"a": [1, 2]}}])", "Sure.",
               {{"f", R"({"a":[1,2]})"}});
  expect_split(ToolCallFormat::kMistral, "[TOOL_ no", "[TOOL_ no", {});
}

TEST(ToolCalls, FormatDetectionFromTemplates) {
  EXPECT_EQ(detect_tool_call_format("... <tool_call>\\n{\"name\": ..."), ToolCallFormat::kHermes);
  EXPECT_EQ(detect_tool_call_format("{{- '[TOOL_CALLS]' }}"), ToolCallFormat::kMistral);
  EXPECT_EQ(detect_tool_call_format("<|start_header_id|>ipython<|end_header_id|>"), ToolCallFormat::kLlama3Json);
  EXPECT_EQ(detect_tool_call_format("{{ messages }}"), ToolCallFormat::kNone);
}

TEST(ToolCalls, ForcedArrayStreamsEachCallWhenItCloses) {
  ForcedCallsParser parser;
  const std::string text = R"([{"name": "a", "parameters": {"s": "}]{"}}, {"name": "b", "parameters": {}}])";
  std::vector<ParsedToolCall> calls;
  for (char c : text) {
    for (auto& call : parser.push(std::string(1, c))) calls.push_back(call);
  }
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].name, "a");
  EXPECT_EQ(Json::parse(calls[0].arguments), Json::parse(R"({"s": "}]{"})"));
  EXPECT_EQ(calls[1].name, "b");
}

TEST(ToolCalls, IdsAreUnique) {
  const std::string a = new_tool_call_id();
  EXPECT_TRUE(a.starts_with("call_"));
  EXPECT_EQ(a.size(), 29u);
  EXPECT_NE(a, new_tool_call_id());
}

std::pair<std::string, std::string> run_splitter(bool starts_inside, std::string_view text, size_t step) {
  ReasoningSplitter splitter(starts_inside);
  std::string reasoning, content;
  for (size_t offset = 0; offset < text.size(); offset += step) {
    auto out = splitter.push(text.substr(offset, step));
    reasoning += out.reasoning;
    content += out.content;
  }
  auto out = splitter.finish();
  return {reasoning + out.reasoning, content + out.content};
}

TEST(Reasoning, SplitsThinkBlocksAtEverySplit) {
  const struct {
    bool starts_inside;
    std::string text, reasoning, content;
  } cases[] = {
      {false, "<think>\nweigh it</think>\n\nThe answer.", "weigh it", "The answer."},
      {false, "  <think>a</thi</think>b", "a</thi", "b"},
      {false, "No thinking here.", "", "No thinking here."},
      {false, " <thin", "", " <thin"},
      {true, "\nstill thinking", "still thinking", ""},
      {true, "done</think>\n\nanswer <think> kept", "done", "answer <think> kept"},
  };
  for (const auto& c : cases) {
    for (size_t step = 1; step <= c.text.size(); ++step) {
      const auto [reasoning, content] = run_splitter(c.starts_inside, c.text, step);
      EXPECT_EQ(reasoning, c.reasoning) << c.text << " step " << step;
      EXPECT_EQ(content, c.content) << c.text << " step " << step;
    }
  }
  EXPECT_TRUE(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n"));
  EXPECT_FALSE(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
}

TEST(ChoiceOutput, ReasoningThenToolCall) {
  ChoiceOutput output({.reasoning = true, .tool_mode = ToolMode::kParse, .format = ToolCallFormat::kHermes});
  std::string content, reasoning;
  size_t call_deltas = 0;
  for (const char* piece :
       {"<think>plan", "</think>ok ", "<tool_", "call>{\"name\": \"f\", \"arguments\": {}}", "</tool_call>"}) {
    ChoiceDelta delta = output.push(piece);
    content += delta.content;
    reasoning += delta.reasoning;
    call_deltas += delta.tool_calls.size();
  }
  call_deltas += output.finish().tool_calls.size();
  EXPECT_EQ(reasoning, "plan");
  EXPECT_EQ(content, "ok ");
  EXPECT_EQ(call_deltas, 1u);
  ASSERT_EQ(output.tool_calls().size(), 1u);
  EXPECT_EQ(output.tool_calls()[0].name, "f");
}

TEST(ChoiceOutput, NamedCallStreamsArguments) {
  ChoiceOutput output({.tool_mode = ToolMode::kNamed, .forced_name = "lookup"});
  ChoiceDelta first = output.push("{\"q\":");
  ASSERT_EQ(first.tool_calls.size(), 1u);
  EXPECT_EQ(first.tool_calls[0].name.value_or(""), "lookup");
  EXPECT_EQ(first.tool_calls[0].arguments, "{\"q\":");
  ChoiceDelta second = output.push("1}");
  ASSERT_EQ(second.tool_calls.size(), 1u);
  EXPECT_FALSE(second.tool_calls[0].id.has_value());
  EXPECT_EQ(output.tool_calls()[0].arguments, "{\"q\":1}");
}

TEST(Sse, Framing) {
  EXPECT_EQ(sse_event(R"({"a":1})"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sse_event("two\nlines"), "data: two\ndata: lines\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
}

}  // namespace
}  // namespace ferrum::server

namespace ferrum::server {
namespace {

TEST(Metrics, PrometheusTextFormat) {
  ServerMetrics metrics;
  metrics.count_request("/v1/chat/completions", 200);
  metrics.count_request("/v1/chat/completions", 200);
  metrics.count_request("/v1/chat/completions", 400);
  metrics.count_tokens(10, 5);
  metrics.observe_time_to_first_token(0.003);
  metrics.observe_time_to_first_token(0.5);
  EngineStats stats;
  stats.waiting = 3;
  stats.kv_blocks_used = 4;
  stats.kv_blocks_total = 16;
  stats.prefix_cache_hits = 7;
  const std::string text = metrics.render(stats, 2);
  EXPECT_NE(text.find("ferrum_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("ferrum_requests_total{endpoint=\"/v1/chat/completions\",status=\"400\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("ferrum_generation_tokens_total 5\n"), std::string::npos);
  // Cumulative buckets: 3 ms falls in le=0.005 and everything above, 0.5 s from le=0.5 on.
  EXPECT_NE(text.find("ferrum_time_to_first_token_seconds_bucket{le=\"0.0025\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("ferrum_time_to_first_token_seconds_bucket{le=\"0.005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("ferrum_time_to_first_token_seconds_bucket{le=\"0.5\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("ferrum_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("ferrum_time_to_first_token_seconds_count 2\n"), std::string::npos);
  EXPECT_NE(text.find("ferrum_requests_waiting 3\n"), std::string::npos);
  EXPECT_NE(text.find("ferrum_kv_cache_usage_ratio 0.25\n"), std::string::npos);
  EXPECT_NE(text.find("ferrum_prefix_cache_hits_total 7\n"), std::string::npos);
  EXPECT_NE(text.find("ferrum_http_connections 2\n"), std::string::npos);
  // Every sample line belongs to a metric announced with # TYPE.
  EXPECT_NE(text.find("# TYPE ferrum_time_to_first_token_seconds histogram\n"), std::string::npos);
  EXPECT_EQ(metrics.render(std::nullopt, 0).find("ferrum_requests_waiting"), std::string::npos);
}

}  // namespace
}  // namespace ferrum::server
