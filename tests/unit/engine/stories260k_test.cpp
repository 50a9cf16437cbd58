// End to end on a real trained model: stories260K (GGUF, F32) against llama2.c and llama.cpp outputs.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/generator.h"
#include "models/causal_lm_factory.h"
#include "tokenizer/loader.h"

namespace ferrum {
namespace {

const std::filesystem::path kStories = std::filesystem::path(FERRUM_FIXTURES_DIR) / "stories260K";

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

struct Stories {
  ModelFiles files;
  std::unique_ptr<CausalLm> model;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
};

Stories load(const std::string& which = "stories260K.gguf") {
  Stories stories;
  auto files = open_model_files((kStories / which).string());
  EXPECT_TRUE(files) << files.error().to_string();
  stories.files = std::move(*files);
  auto model = create_cpu_causal_lm(stories.files, {.max_context = 512, .max_batch_tokens = 64});
  EXPECT_TRUE(model) << model.error().to_string();
  stories.model = std::move(*model);
  auto tok = tokenizer::load_tokenizer(kStories / "stories260K.gguf");
  EXPECT_TRUE(tok) << tok.error().to_string();
  stories.tokenizer = std::move(*tok);
  return stories;
}

std::vector<int32_t> greedy(CausalLm& model, std::vector<uint32_t> prompt, size_t steps) {
  auto state = model.new_sequence(512);
  EXPECT_TRUE(state);
  std::vector<int32_t> generated;
  auto logits = model.forward(**state, prompt);
  for (size_t step = 0; step < steps && logits; ++step) {
    const auto next = static_cast<uint32_t>(std::max_element(logits->begin(), logits->end()) - logits->begin());
    generated.push_back(static_cast<int32_t>(next));
    logits = model.forward(**state, std::span(&next, 1));
  }
  EXPECT_TRUE(logits);
  return generated;
}

TEST(Stories260K, GreedyFromBosMatchesLlama2c) {
  Stories stories = load();
  ASSERT_TRUE(stories.model);
  const auto golden = read_json(kStories / "llama2c" / "golden.json");
  const auto expected = golden["greedy_ids_200"].get<std::vector<int32_t>>();
  EXPECT_EQ(greedy(*stories.model, {1}, expected.size()), expected);
}

TEST(Stories260K, LogitsMatchLlamaCppF32) {
  Stories stories = load();
  ASSERT_TRUE(stories.model);
  const auto summary = read_json(kStories / "llamacpp" / "greedy.json")[0];
  std::vector<uint32_t> ids = summary["prompt_ids"].get<std::vector<uint32_t>>();
  for (uint32_t id : summary["generated_ids"].get<std::vector<uint32_t>>()) ids.push_back(id);
  std::ifstream in(kStories / "llamacpp" / "logits.once_upon_a_time.f32kv-noflash.f32", std::ios::binary);
  std::vector<float> expected(69 * 512);
  in.read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(expected.size() * sizeof(float)));
  ASSERT_TRUE(in.good());
  ASSERT_EQ(ids.size(), 69u);

  auto state = stories.model->new_sequence(512);
  ASSERT_TRUE(state);
  auto logits = stories.model->forward_all(**state, ids);
  ASSERT_TRUE(logits) << logits.error().to_string();
  double worst = 0;
  for (size_t i = 0; i < expected.size(); ++i) worst = std::max(worst, std::fabs((double)(*logits)[i] - expected[i]));
  std::printf("stories260K: max |logit - llama.cpp f32| = %.3g over 69 positions\n", worst);
  EXPECT_LT(worst, 1e-4);
}

TEST(Stories260K, SafetensorsCopyMatchesGguf) {
  Stories gguf = load();
  Stories hf = load("stories260K-hf");
  ASSERT_TRUE(gguf.model && hf.model);
  EXPECT_EQ(greedy(*gguf.model, {1, 403, 407, 261, 378}, 32), greedy(*hf.model, {1, 403, 407, 261, 378}, 32));
}

TEST(Stories260K, GeneratorReproducesLlamaCppContinuations) {
  Stories stories = load();
  ASSERT_TRUE(stories.model && stories.tokenizer);
  Generator generator(*stories.model, *stories.tokenizer);
  for (const auto& run : read_json(kStories / "llamacpp" / "greedy.json")) {
    const std::string prompt = run["prompt"];
    const std::vector<int32_t> prompt_ids = stories.tokenizer->encode(prompt, {.add_special = true});
    EXPECT_EQ(prompt_ids, run["prompt_ids"].get<std::vector<int32_t>>()) << prompt;
    auto state = stories.model->new_sequence(512);
    ASSERT_TRUE(state);
    GenerationRequest request;
    request.prompt = prompt_ids;
    request.max_new_tokens = run["n_predict"];
    request.sampling.temperature = 0;
    std::string streamed;
    auto result = generator.generate(**state, request, [&](std::string_view text) { streamed += text; });
    ASSERT_TRUE(result) << result.error().to_string();
    EXPECT_EQ(result->tokens, run["generated_ids"].get<std::vector<int32_t>>()) << prompt;
    EXPECT_EQ(streamed, run["generated_text"].get<std::string>()) << prompt;
    EXPECT_EQ(result->finish_reason, FinishReason::kLength);
  }
}

TEST(Stories260K, StopStringEndsGenerationWithoutEmittingIt) {
  Stories stories = load();
  ASSERT_TRUE(stories.model && stories.tokenizer);
  Generator generator(*stories.model, *stories.tokenizer);
  auto state = stories.model->new_sequence(512);
  ASSERT_TRUE(state);
  GenerationRequest request;
  request.prompt = stories.tokenizer->encode("Once upon a time", {.add_special = true});
  request.max_new_tokens = 64;
  request.sampling.temperature = 0;
  request.stop_strings = {"little girl"};
  std::string streamed;
  auto result = generator.generate(**state, request, [&](std::string_view text) { streamed += text; });
  ASSERT_TRUE(result);
  EXPECT_EQ(result->finish_reason, FinishReason::kStop);
  EXPECT_EQ(streamed, ", there was a ");
}

}  // namespace
}  // namespace ferrum
