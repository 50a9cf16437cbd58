// Request parsing and validation: every malformed field is a 400 naming the parameter, and valid
// requests come out normalized for the chat template.
#include <gtest/gtest.h>

#include "server/api_server.h"
#include "server/chat_request.h"
#include "server/generation_params.h"

namespace ferrum::server {
namespace {

constexpr size_t kVocab = 512;

ApiResult<ChatRequest> parse_chat(const char* body_text) {
  return parse_chat_request(Json::parse(body_text), SamplingParams{}, kVocab);
}

void expect_param_error(const char* body_text, const std::string& param) {
  auto parsed = parse_chat(body_text);
  ASSERT_FALSE(parsed) << body_text;
  EXPECT_EQ(parsed.error().status, 400);
  EXPECT_EQ(parsed.error().param.value_or("<none>"), param) << parsed.error().message;
  // The error body is the OpenAI shape.
  const Json body = Json::parse(parsed.error().to_json());
  EXPECT_EQ(body["error"]["param"], param);
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
}

TEST(ChatRequest, ValidRequestIsNormalized) {
  auto parsed = parse_chat(R"({
    "model": "m", "temperature": 0.5, "top_k": 5, "min_p": 0.1, "repetition_penalty": 1.1, "seed": 7, "n": 2,
    "max_completion_tokens": 20, "stop": ["\n\n", "END"], "logprobs": true, "top_logprobs": 3,
    "stream": true, "stream_options": {"include_usage": true}, "logit_bias": {"17": -100},
    "messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "42"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "tool_choice": {"type": "function", "function": {"name": "f"}}})");
  ASSERT_TRUE(parsed) << parsed.error().message;
  const ChatRequest& request = *parsed;
  EXPECT_FLOAT_EQ(request.params.sampling.temperature, 0.5f);
  EXPECT_EQ(request.params.sampling.top_k, 5);
  EXPECT_TRUE(request.params.sampling.has_seed);
  EXPECT_EQ(request.params.n, 2u);
  EXPECT_EQ(request.params.max_tokens.value_or(0), 20u);
  EXPECT_EQ(request.params.stop.size(), 2u);
  EXPECT_TRUE(request.params.include_usage);
  EXPECT_EQ(request.params.sampling.logit_bias.at(17), -100.0f);
  EXPECT_EQ(request.top_logprobs, 3u);
  EXPECT_EQ(request.messages[0]["role"], "system");
  EXPECT_EQ(request.messages[1]["content"], "hi there");
  EXPECT_EQ(request.messages[2]["content"], "");
  EXPECT_EQ(request.messages[2]["tool_calls"][0]["function"]["arguments"], Json::parse(R"({"x": 1})"));
  EXPECT_EQ(request.messages[3]["tool_call_id"], "call_1");
  EXPECT_EQ(request.tool_choice.kind, ToolChoiceKind::kNamed);
  EXPECT_EQ(request.tool_choice.name, "f");
}

TEST(ChatRequest, ToolChoiceDefaultsFollowTools) {
  auto without = parse_chat(R"({"messages": [{"role": "user", "content": "x"}]})");
  ASSERT_TRUE(without);
  EXPECT_EQ(without->tool_choice.kind, ToolChoiceKind::kNone);
  auto with = parse_chat(R"({"messages": [{"role": "user", "content": "x"}],
                            "tools": [{"type": "function", "function": {"name": "g"}}]})");
  ASSERT_TRUE(with);
  EXPECT_EQ(with->tool_choice.kind, ToolChoiceKind::kAuto);
}

TEST(ChatRequest, EveryBadFieldNamesItsParameter) {
  const std::pair<const char*, std::string> cases[] = {
      {R"({"messages": "hi"})", "messages"},
      {R"({"messages": []})", "messages"},
      {R"({"messages": [{"content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "wizard", "content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user"}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})",
       "messages[0].content[0].type"},
      {R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})", "temperature"},
      {R"({"messages": [{"role": "user", "content": "x"}], "temperature": 3})", "temperature"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_p": 0})", "top_p"},
      {R"({"messages": [{"role": "user", "content": "x"}], "n": 0})", "n"},
      {R"({"messages": [{"role": "user", "content": "x"}], "n": 1.5})", "n"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": -1})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": "9"})", "max_completion_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": 3})", "stop"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": [""]})", "stop"},
      {R"({"messages": [{"role": "user", "content": "x"}], "seed": "x"})", "seed"},
      {R"({"messages": [{"role": "user", "content": "x"}], "presence_penalty": 2.5})", "presence_penalty"},
      {R"({"messages": [{"role": "user", "content": "x"}], "logit_bias": {"999999": 1}})", "logit_bias"},
      {R"({"messages": [{"role": "user", "content": "x"}], "logit_bias": {"1": 500}})", "logit_bias"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", "top_logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21})", "top_logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": true}})",
       "stream_options"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stream": true, "stream_options": {"include_usage": 1}})",
       "stream_options.include_usage"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})", "tools[0]"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "a b"}}]})",
       "tools[0].function.name"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"})", "tool_choice"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "maybe",
           "tools": [{"type": "function", "function": {"name": "a"}}]})",
       "tool_choice"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "function", "function": {"name": "b"}},
           "tools": [{"type": "function", "function": {"name": "a"}}]})",
       "tool_choice"},
      {R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}})",
       "response_format.type"},
      {R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema"}})",
       "response_format.json_schema"},
      {R"({"messages": [{"role": "user", "content": "x"}], "functions": []})", "functions"},
  };
  for (const auto& [body, param] : cases) expect_param_error(body, param);
}

TEST(JsonBody, MalformedBodiesAre400) {
  for (const char* body : {"", "{", "[1, 2]", "\"text\"", "{\"a\": 1,}", "{\"a\": \"\xff\"}"}) {
    auto parsed = parse_json_object(body);
    ASSERT_FALSE(parsed) << body;
    EXPECT_EQ(parsed.error().status, 400);
  }
}

TEST(ApiKey, ConstantTimeCompare) {
  EXPECT_TRUE(ApiServer::constant_time_equals("secret", "secret"));
  EXPECT_FALSE(ApiServer::constant_time_equals("secret", "secreT"));
  EXPECT_FALSE(ApiServer::constant_time_equals("secret", "secret2"));
  EXPECT_FALSE(ApiServer::constant_time_equals("", "x"));
  EXPECT_TRUE(ApiServer::constant_time_equals("", ""));
}

}  // namespace
}  // namespace ferrum::server
