// The sequential engine on a real trained model (stories260K): greedy output equals llama.cpp's,
// the cached prefix is reused, stop strings cut the text, aborts end queued and running requests,
// logprobs are consistent, and a grammar constraint shapes the output.
#include "engine/sequential_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "engine/model_bundle.h"
#include "grammar/automaton.h"
#include "grammar/grammar_constraint.h"
#include "grammar/json_grammar.h"

namespace ferrum {
namespace {

const std::filesystem::path kStories = std::filesystem::path(FERRUM_FIXTURES_DIR) / "stories260K";
const std::vector<int32_t> kOnceUponATime = {1, 403, 407, 261, 378};

class SequentialEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ModelOptions options;
    options.model = (kStories / "stories260K.gguf").string();
    options.context = 256;
    auto bundle = load_model_bundle(options);
    ASSERT_TRUE(bundle) << bundle.error().to_string();
    bundle_ = new ModelBundle(std::move(*bundle));
  }
  static void TearDownTestSuite() {
    delete bundle_;
    bundle_ = nullptr;
  }
  void SetUp() override {
    engine_ = std::make_unique<SequentialEngine>(*bundle_->model, *bundle_->tokenizer, bundle_->end_tokens);
  }

  EngineRequest greedy(size_t max_new_tokens) const {
    EngineRequest request;
    request.prompt = kOnceUponATime;
    request.sampling.temperature = 0;
    request.max_new_tokens = max_new_tokens;
    return request;
  }

  struct Collected {
    std::vector<int32_t> tokens;
    std::string text;
    RequestEvent last;
    size_t events = 0;
  };
  static Collected collect(RequestStream& stream) {
    Collected out;
    for (;;) {
      std::optional<RequestEvent> event = stream.next(std::chrono::seconds(30));
      EXPECT_TRUE(event.has_value()) << "no event within 30 s";
      if (!event) return out;
      ++out.events;
      out.tokens.insert(out.tokens.end(), event->tokens.begin(), event->tokens.end());
      out.text += event->text;
      if (event->finished) {
        out.last = std::move(*event);
        return out;
      }
    }
  }

  static ModelBundle* bundle_;
  std::unique_ptr<SequentialEngine> engine_;
};

ModelBundle* SequentialEngineTest::bundle_ = nullptr;

std::vector<int32_t> llama_cpp_greedy_ids() {
  std::ifstream in(kStories / "llamacpp" / "greedy.json");
  const nlohmann::json cases = nlohmann::json::parse(in);
  return cases[0]["generated_ids"].get<std::vector<int32_t>>();
}

TEST_F(SequentialEngineTest, GreedyMatchesLlamaCppAndReusesThePrefix) {
  std::atomic<int> notifications{0};
  EngineRequest request = greedy(24);
  request.on_event = [&] { ++notifications; };
  auto stream = engine_->submit(request);
  ASSERT_TRUE(stream) << stream.error().to_string();
  const Collected first = collect(**stream);
  const std::vector<int32_t> expected = llama_cpp_greedy_ids();
  ASSERT_EQ(first.tokens, std::vector<int32_t>(expected.begin(), expected.begin() + 24));
  EXPECT_EQ(first.last.finish_reason, FinishReason::kLength);
  EXPECT_EQ(first.last.completion_tokens, 24u);
  EXPECT_EQ(first.last.prompt_tokens, 5u);
  EXPECT_TRUE(first.text.starts_with(", there was a little girl named Lily.")) << first.text;
  // The hook runs after each event is queued, so the last call may land just after the consumer
  // has read the final event.
  for (int wait = 0; wait < 100 && notifications.load() < static_cast<int>(first.events); ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(notifications.load(), static_cast<int>(first.events));

  // The same prompt again: all but its last token come from the cache, and the output is the same.
  auto again = engine_->submit(greedy(24));
  ASSERT_TRUE(again);
  const Collected second = collect(**again);
  EXPECT_EQ(second.tokens, first.tokens);
  EXPECT_EQ(second.last.cached_prompt_tokens, 4u);
  const EngineStats stats = engine_->stats();
  EXPECT_EQ(stats.prefix_cache_hits, 4u);
  EXPECT_EQ(stats.generated_tokens, 48u);
}

TEST_F(SequentialEngineTest, StopStringEndsTheTextBeforeIt) {
  EngineRequest request = greedy(40);
  request.stop_strings = {"Lily"};
  auto stream = engine_->submit(request);
  ASSERT_TRUE(stream);
  const Collected out = collect(**stream);
  EXPECT_EQ(out.text, ", there was a little girl named ");
  EXPECT_EQ(out.last.finish_reason, FinishReason::kStop);
}

TEST_F(SequentialEngineTest, LogprobsOfGreedyChoicesAreTheBest) {
  EngineRequest request = greedy(6);
  request.logprobs = true;
  request.top_logprobs = 3;
  auto stream = engine_->submit(request);
  ASSERT_TRUE(stream);
  for (;;) {
    std::optional<RequestEvent> event = (*stream)->next(std::chrono::seconds(30));
    ASSERT_TRUE(event);
    if (event->finished) break;
    ASSERT_EQ(event->chosen_logprobs.size(), 1u);
    ASSERT_EQ(event->top_logprobs.size(), 1u);
    const auto& top = event->top_logprobs[0];
    ASSERT_EQ(top.size(), 3u);
    EXPECT_EQ(top[0].token, event->tokens[0]);
    EXPECT_FLOAT_EQ(top[0].logprob, event->chosen_logprobs[0].logprob);
    EXPECT_GE(top[0].logprob, top[1].logprob);
    EXPECT_GE(top[1].logprob, top[2].logprob);
    EXPECT_LE(top[0].logprob, 0.0f);
  }
}

TEST_F(SequentialEngineTest, AbortEndsQueuedAndRunningRequests) {
  auto running = engine_->submit(greedy(200));
  auto queued = engine_->submit(greedy(200));
  ASSERT_TRUE(running && queued);
  engine_->abort((*queued)->id());
  const Collected queued_out = collect(**queued);
  EXPECT_EQ(queued_out.last.finish_reason, FinishReason::kCancelled);
  EXPECT_TRUE(queued_out.tokens.empty());
  engine_->abort((*running)->id());
  const Collected running_out = collect(**running);
  EXPECT_EQ(running_out.last.finish_reason, FinishReason::kCancelled);
  EXPECT_LT(running_out.tokens.size(), 200u);
  EXPECT_EQ(engine_->stats().running + engine_->stats().waiting, 0u);
}

TEST_F(SequentialEngineTest, InvalidRequestsAreRefusedAtSubmit) {
  EngineRequest empty = greedy(4);
  empty.prompt.clear();
  EXPECT_FALSE(engine_->submit(empty));
  EngineRequest outside = greedy(4);
  outside.prompt.push_back(100000);
  EXPECT_FALSE(engine_->submit(outside));
  EngineRequest too_long = greedy(4);
  too_long.prompt.assign(300, 403);
  auto refused = engine_->submit(too_long);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kLimitExceeded);
  EngineRequest bad_sampling = greedy(4);
  bad_sampling.sampling.top_p = 2;
  EXPECT_FALSE(engine_->submit(bad_sampling));
}

TEST_F(SequentialEngineTest, GrammarConstraintShapesTheOutput) {
  auto grammar = grammar::json_schema_grammar(nlohmann::ordered_json::parse(
      R"({"type": "object", "properties": {"name": {"type": "string", "enum": ["Lily", "Ben"]},
          "age": {"type": "integer", "minimum": 1, "maximum": 9}}, "required": ["name", "age"],
          "additionalProperties": false})"));
  ASSERT_TRUE(grammar) << grammar.error().to_string();
  auto automaton = grammar::compile(*grammar);
  ASSERT_TRUE(automaton);
  auto masks = std::make_shared<grammar::GrammarTokenMasks>(
      std::make_shared<const grammar::Automaton>(std::move(*automaton)),
      std::make_shared<const grammar::TokenTrie>(grammar::TokenTrie::from_vocab(bundle_->tokenizer->vocab())));
  EngineRequest request = greedy(60);
  request.constraint = std::make_shared<grammar::GrammarConstraint>(masks, bundle_->end_tokens);
  auto stream = engine_->submit(request);
  ASSERT_TRUE(stream);
  const Collected out = collect(**stream);
  EXPECT_EQ(out.last.finish_reason, FinishReason::kStop) << out.text;
  const auto parsed = nlohmann::json::parse(out.text, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << out.text;
  EXPECT_TRUE(parsed["name"] == "Lily" || parsed["name"] == "Ben") << out.text;
  EXPECT_GE(parsed["age"].get<int>(), 1);
  EXPECT_LE(parsed["age"].get<int>(), 9);
}

}  // namespace
}  // namespace ferrum
