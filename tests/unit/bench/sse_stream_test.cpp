#include <gtest/gtest.h>

#include "bench/sse_stream.h"
#include "bench/stats.h"

namespace ferrum::bench {
namespace {

std::vector<std::string> feed_in_pieces(std::string_view stream, size_t piece) {
  SseParser parser;
  std::vector<std::string> events;
  for (size_t i = 0; i < stream.size(); i += piece) {
    parser.feed(stream.substr(i, piece), [&](std::string_view data) { events.emplace_back(data); });
  }
  return events;
}

TEST(SseParser, SplitsEventsWhateverPiecesTheBytesArriveIn) {
  const std::string stream =
      ": comment\r\n"
      "event: message\r\n"
      "data: {\"a\": 1}\r\n\r\n"
      "data: first line\n"
      "data:second line\n"
      "id: 7\n\n"
      "data: [DONE]\n\n";
  const std::vector<std::string> expected = {"{\"a\": 1}", "first line\nsecond line", "[DONE]"};
  for (size_t piece : {1, 2, 5, 1000}) EXPECT_EQ(feed_in_pieces(stream, piece), expected) << piece;
}

TEST(SseParser, WaitsForTheBlankLineThatEndsAnEvent) {
  SseParser parser;
  std::vector<std::string> events;
  parser.feed("data: partial", [&](std::string_view data) { events.emplace_back(data); });
  parser.feed("\n", [&](std::string_view data) { events.emplace_back(data); });
  EXPECT_TRUE(events.empty());
  parser.feed("\n", [&](std::string_view data) { events.emplace_back(data); });
  EXPECT_EQ(events, std::vector<std::string>{"partial"});
}

TEST(OpenAiChunk, ReadsCompletionsChatUsageErrorsAndDone) {
  EXPECT_TRUE(read_openai_chunk("[DONE]", OpenAiApi::kCompletions).done);
  EXPECT_EQ(read_openai_chunk(R"({"choices": [{"text": " hi"}]})", OpenAiApi::kCompletions).text, " hi");
  EXPECT_EQ(read_openai_chunk(R"({"choices": [{"delta": {"content": "yo"}}]})", OpenAiApi::kChatCompletions).text,
            "yo");
  EXPECT_EQ(
      read_openai_chunk(R"({"choices": [{"delta": {"reasoning_content": "hm"}}]})", OpenAiApi::kChatCompletions).text,
      "hm");
  EXPECT_EQ(read_openai_chunk(R"({"choices": [{"delta": {"role": "assistant"}}]})", OpenAiApi::kChatCompletions).text,
            "");
  const OpenAiChunk usage = read_openai_chunk(
      R"({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 34}})", OpenAiApi::kCompletions);
  EXPECT_EQ(usage.prompt_tokens, 12u);
  EXPECT_EQ(usage.completion_tokens, 34u);
  EXPECT_EQ(*read_openai_chunk(R"({"error": {"message": "boom"}})", OpenAiApi::kCompletions).error, "boom");
  EXPECT_TRUE(read_openai_chunk("not json", OpenAiApi::kCompletions).error);
}

TEST(Stats, MeanSampleSdAndInterpolatedPercentiles) {
  const std::vector<double> values = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(mean(values), 2.5);
  EXPECT_NEAR(sample_sd(values), 1.2909944, 1e-6);
  EXPECT_DOUBLE_EQ(percentile(values, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile(values, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(values, 100), 4);
  EXPECT_DOUBLE_EQ(percentile(values, 99), 3.97);
  EXPECT_DOUBLE_EQ(sample_sd(std::vector<double>{5}), 0);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
}

}  // namespace
}  // namespace ferrum::bench
