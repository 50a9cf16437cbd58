// The threaded engine on a real model with a real tokenizer (stories260K): many requests submitted
// at once stream the same tokens, text and finish reasons that Generator gives each one alone
// (greedy, stop strings, seeded sampling), dropping a stream aborts its request, and the stats add up.
#include "engine/serving_engine.h"

#include <gtest/gtest.h>

#include <thread>

#include "engine/generator.h"
#include "engine/stop_conditions.h"
#include "models/causal_lm_factory.h"
#include "tokenizer/loader.h"

namespace ferrum {
namespace {

const std::filesystem::path kStories = std::filesystem::path(FERRUM_FIXTURES_DIR) / "stories260K";

std::shared_ptr<ModelBundle> load_stories() {
  auto bundle = std::make_shared<ModelBundle>();
  auto files = open_model_files((kStories / "stories260K.gguf").string());
  EXPECT_TRUE(files) << files.error().to_string();
  if (!files) return nullptr;
  bundle->files = std::move(*files);
  auto model = create_cpu_causal_lm(bundle->files, {.max_context = 512, .max_batch_tokens = 128});
  EXPECT_TRUE(model) << model.error().to_string();
  if (!model) return nullptr;
  bundle->model = std::move(*model);
  auto tokenizer = tokenizer::load_tokenizer(kStories / "stories260K.gguf");
  EXPECT_TRUE(tokenizer);
  if (!tokenizer) return nullptr;
  bundle->tokenizer = std::move(*tokenizer);
  bundle->end_tokens = end_of_generation_tokens(bundle->tokenizer->vocab(), bundle->files.config);
  return bundle;
}

struct Streamed {
  std::vector<int32_t> tokens;
  std::string text;
  std::optional<FinishReason> reason;
  RequestEvent last;
  std::vector<TokenLogprob> chosen_logprobs;  // of every event
  std::vector<std::vector<TokenLogprob>> top_logprobs;
};

Streamed drain(RequestStream& stream) {
  Streamed out;
  for (;;) {
    std::optional<RequestEvent> event = stream.next(std::chrono::seconds(60));
    EXPECT_TRUE(event) << "no event within a minute";
    if (!event) return out;
    out.tokens.insert(out.tokens.end(), event->tokens.begin(), event->tokens.end());
    out.text += event->text;
    out.chosen_logprobs.insert(out.chosen_logprobs.end(), event->chosen_logprobs.begin(), event->chosen_logprobs.end());
    out.top_logprobs.insert(out.top_logprobs.end(), event->top_logprobs.begin(), event->top_logprobs.end());
    if (event->finished) {
      EXPECT_FALSE(event->error) << event->error->to_string();
      out.reason = event->finish_reason;
      out.last = std::move(*event);
      return out;
    }
  }
}

// What Generator runs alone for `request`: the same prompt, length, sampling and stops.
GenerationRequest alone_request(const EngineRequest& request, const ModelBundle& bundle) {
  GenerationRequest generation;
  generation.prompt = request.prompt;
  generation.max_new_tokens = request.max_new_tokens;
  generation.sampling = request.sampling;
  generation.stop_strings = request.stop_strings;
  generation.stop_tokens.assign(bundle.end_tokens.begin(), bundle.end_tokens.end());
  return generation;
}

struct Case {
  std::string prompt;
  size_t max_new_tokens;
  SamplingParams sampling;
  std::vector<std::string> stop_strings;
};

std::vector<Case> cases() {
  SamplingParams greedy;
  greedy.temperature = 0;
  SamplingParams seeded;
  seeded.temperature = 0.8f;
  seeded.top_k = 40;
  seeded.top_p = 0.95f;
  seeded.seed = 1234;
  seeded.has_seed = true;
  SamplingParams penalised = greedy;
  penalised.repetition_penalty = 1.3f;
  penalised.frequency_penalty = 0.5f;
  return {
      {"Once upon a time", 64, greedy, {"little girl"}},
      {"Once upon a time", 80, greedy, {}},
      {"The dog", 40, seeded, {}},
      {"Lily and Ben went to the park. They", 50, greedy, {"."}},
      {"One day", 120, penalised, {}},
      {"Tom had a red ball", 30, seeded, {"ball"}},
      {"Once", 200, greedy, {}},
  };
}

TEST(ServingEngine, ConcurrentRequestsStreamWhatGeneratorGivesEachAlone) {
  std::shared_ptr<ModelBundle> bundle = load_stories();
  ASSERT_TRUE(bundle);
  EngineOptions options;
  options.block_size = 16;
  options.max_num_batched_tokens = 32;  // prompts and decodes share steps
  auto engine = create_engine(bundle, options);
  ASSERT_TRUE(engine) << engine.error().to_string();

  std::vector<std::unique_ptr<RequestStream>> streams;
  std::vector<GenerationRequest> alone;
  for (const Case& c : cases()) {
    EngineRequest request;
    request.prompt = bundle->tokenizer->encode(c.prompt, {.add_special = true});
    request.max_new_tokens = c.max_new_tokens;
    request.sampling = c.sampling;
    request.stop_strings = c.stop_strings;
    request.logprobs = true;
    request.top_logprobs = 3;
    alone.push_back(alone_request(request, *bundle));
    auto stream = (*engine)->submit(std::move(request));
    ASSERT_TRUE(stream) << stream.error().to_string();
    streams.push_back(std::move(*stream));
  }

  // Everything streamed first: the engine's loop owns the model until then.
  std::vector<Streamed> results;
  for (auto& stream : streams) results.push_back(drain(*stream));
  Generator generator(*bundle->model, *bundle->tokenizer);
  size_t generated = 0;
  for (size_t i = 0; i < streams.size(); ++i) {
    const Streamed& got = results[i];
    auto state = bundle->model->new_sequence(512);
    ASSERT_TRUE(state);
    auto expected = generator.generate(**state, alone[i], nullptr);
    ASSERT_TRUE(expected) << expected.error().to_string();
    EXPECT_EQ(got.tokens, expected->tokens) << "request " << i;
    EXPECT_EQ(got.text, expected->text) << "request " << i;
    EXPECT_EQ(got.reason, expected->finish_reason) << "request " << i;
    EXPECT_EQ(got.last.completion_tokens, got.tokens.size());
    EXPECT_EQ(got.last.prompt_tokens, alone[i].prompt.size());
    ASSERT_TRUE(got.last.metrics);
    EXPECT_LE(got.last.metrics->queue_seconds, got.last.metrics->total_seconds);
    generated += got.tokens.size();
  }
  const EngineStats stats = (*engine)->stats();
  EXPECT_EQ(stats.generated_tokens, generated);
  EXPECT_EQ(stats.running + stats.waiting, 0u);
  EXPECT_EQ(stats.kv_blocks_used, 0u);
  // Three prompts start with "Once upon a time" / "Once": admitted together they share nothing,
  // but the queries were counted.
  EXPECT_GT(stats.prefix_cache_queries, 0u);
}

// Requests without a constraint are picked on the device (Backend::adjust_logits for penalties and
// bias, sample_rows or argmax_rows, log_softmax_at for log-probabilities); seeded, they stream the
// tokens Generator's host sampler draws for each alone, and so does the engine told to sample on
// the host. The log-probabilities of the two engines agree to f32 rounding.
TEST(ServingEngine, DevicePicksRepeatTheHostSamplersTokensAndLogprobs) {
  std::shared_ptr<ModelBundle> bundle = load_stories();
  ASSERT_TRUE(bundle);
  std::vector<SamplingParams> samplings;
  for (uint64_t seed : {1u, 2u, 3u}) {
    samplings.push_back({.temperature = 1.0f, .seed = seed, .has_seed = true});
    samplings.push_back({.temperature = 0.7f, .top_p = 0.9f, .seed = seed, .has_seed = true});
    samplings.push_back({.temperature = 1.2f, .top_k = 20, .min_p = 0.05f, .seed = seed, .has_seed = true});
    samplings.push_back({.temperature = 0.0f});
    samplings.push_back({.temperature = 0.9f,
                         .repetition_penalty = 1.3f,
                         .presence_penalty = 0.4f,
                         .frequency_penalty = 0.6f,
                         .logit_bias = {{13, 2.5f}, {400, -100.0f}},
                         .seed = seed,
                         .has_seed = true});
    samplings.push_back({.temperature = 0.0f, .repetition_penalty = 1.5f, .frequency_penalty = 1.0f});
    samplings.push_back({.temperature = 0.0f, .logit_bias = {{static_cast<int32_t>(seed) * 50, 8.0f}}});
  }
  const char* prompts[] = {"Once upon a time", "The dog", "Tom had a red ball", "One day"};
  std::vector<std::vector<Streamed>> runs;
  for (bool device : {true, false}) {
    EngineOptions options;
    options.max_num_batched_tokens = 32;
    options.device_sampling = device;
    auto engine = create_engine(bundle, options);
    ASSERT_TRUE(engine) << engine.error().to_string();
    std::vector<std::unique_ptr<RequestStream>> streams;
    std::vector<GenerationRequest> alone;
    for (size_t i = 0; i < samplings.size(); ++i) {
      EngineRequest request;
      request.prompt = bundle->tokenizer->encode(prompts[i % std::size(prompts)], {.add_special = true});
      request.max_new_tokens = 40;
      request.sampling = samplings[i];
      request.logprobs = i % 3 == 0;
      request.top_logprobs = i % 4 == 1 ? 5 : 0;
      alone.push_back(alone_request(request, *bundle));
      auto stream = (*engine)->submit(std::move(request));
      ASSERT_TRUE(stream) << stream.error().to_string();
      streams.push_back(std::move(*stream));
    }
    std::vector<Streamed> results;
    for (auto& stream : streams) results.push_back(drain(*stream));
    Generator generator(*bundle->model, *bundle->tokenizer);
    for (size_t i = 0; i < streams.size(); ++i) {
      auto state = bundle->model->new_sequence(512);
      ASSERT_TRUE(state);
      auto expected = generator.generate(**state, alone[i], nullptr);
      ASSERT_TRUE(expected) << expected.error().to_string();
      EXPECT_EQ(results[i].tokens, expected->tokens) << "request " << i << (device ? " (device)" : " (host)");
    }
    const uint64_t drawn = (*engine)->stats().device_drawn_tokens;
    if (device) {
      EXPECT_GT(drawn, 100u);
    } else {
      EXPECT_EQ(drawn, 0u);
    }
    runs.push_back(std::move(results));
  }
  float worst = 0.0f;
  size_t compared = 0;
  for (size_t i = 0; i < samplings.size(); ++i) {
    const Streamed& on_device = runs[0][i];
    const Streamed& on_host = runs[1][i];
    EXPECT_EQ(on_host.chosen_logprobs.size(), i % 3 == 0 || i % 4 == 1 ? on_host.tokens.size() : 0u);
    ASSERT_EQ(on_device.chosen_logprobs.size(), on_host.chosen_logprobs.size()) << "request " << i;
    ASSERT_EQ(on_device.top_logprobs.size(), on_host.top_logprobs.size()) << "request " << i;
    for (size_t t = 0; t < on_host.chosen_logprobs.size(); ++t) {
      EXPECT_EQ(on_device.chosen_logprobs[t].token, on_host.chosen_logprobs[t].token);
      ++compared;
      worst = std::max(worst, std::fabs(on_device.chosen_logprobs[t].logprob - on_host.chosen_logprobs[t].logprob));
    }
    for (size_t t = 0; t < on_host.top_logprobs.size(); ++t) {
      ASSERT_EQ(on_device.top_logprobs[t].size(), on_host.top_logprobs[t].size());
      for (size_t k = 0; k < on_host.top_logprobs[t].size(); ++k) {
        EXPECT_EQ(on_device.top_logprobs[t][k].token, on_host.top_logprobs[t][k].token) << "request " << i;
        worst = std::max(worst, std::fabs(on_device.top_logprobs[t][k].logprob - on_host.top_logprobs[t][k].logprob));
      }
    }
  }
  std::printf("device vs host: %zu chosen log-probabilities, worst difference %.3g\n", compared, worst);
  EXPECT_GT(compared, 200u);
  EXPECT_LE(worst, 1e-5f);
}

TEST(ServingEngine, LogprobsDescribeTheModelsDistribution) {
  std::shared_ptr<ModelBundle> bundle = load_stories();
  ASSERT_TRUE(bundle);
  auto engine = create_engine(bundle, EngineOptions{});
  ASSERT_TRUE(engine) << engine.error().to_string();
  EngineRequest request;
  request.prompt = bundle->tokenizer->encode("Once upon a time", {.add_special = true});
  request.max_new_tokens = 5;
  request.sampling.temperature = 0;
  request.logprobs = true;
  request.top_logprobs = 4;
  auto stream = (*engine)->submit(request);
  ASSERT_TRUE(stream);
  size_t events_with_tokens = 0;
  for (;;) {
    auto event = (*stream)->next(std::chrono::seconds(60));
    ASSERT_TRUE(event);
    for (size_t i = 0; i < event->tokens.size(); ++i) {
      ++events_with_tokens;
      ASSERT_EQ(event->chosen_logprobs.size(), event->tokens.size());
      ASSERT_EQ(event->top_logprobs[i].size(), 4u);
      // Greedy: the chosen token is the most likely one, and the top list is sorted.
      EXPECT_EQ(event->top_logprobs[i][0].token, event->tokens[i]);
      EXPECT_FLOAT_EQ(event->top_logprobs[i][0].logprob, event->chosen_logprobs[i].logprob);
      for (size_t k = 1; k < 4; ++k)
        EXPECT_LE(event->top_logprobs[i][k].logprob, event->top_logprobs[i][k - 1].logprob);
      EXPECT_LE(event->chosen_logprobs[i].logprob, 0.0f);
    }
    if (event->finished) break;
  }
  EXPECT_EQ(events_with_tokens, 5u);
}

TEST(ServingEngine, DroppingAStreamAbortsItsRequest) {
  std::shared_ptr<ModelBundle> bundle = load_stories();
  ASSERT_TRUE(bundle);
  auto engine = create_engine(bundle, EngineOptions{});
  ASSERT_TRUE(engine);
  EngineRequest request;
  request.prompt = bundle->tokenizer->encode("Once upon a time", {.add_special = true});
  request.max_new_tokens = 400;
  request.ignore_eos = true;
  request.sampling.temperature = 0;
  {
    auto stream = (*engine)->submit(request);
    ASSERT_TRUE(stream);
    ASSERT_TRUE((*stream)->next(std::chrono::seconds(60)));  // it is running
  }
  // The abort reaches the loop between steps; then nothing runs and nothing is held.
  for (int i = 0; i < 200; ++i) {
    const EngineStats stats = (*engine)->stats();
    if (stats.running + stats.waiting == 0 && stats.kv_blocks_used == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const EngineStats stats = (*engine)->stats();
  EXPECT_EQ(stats.running + stats.waiting, 0u);
  EXPECT_EQ(stats.kv_blocks_used, 0u);
  EXPECT_LT(stats.generated_tokens, 400u);

  // abort() by id ends the stream with kCancelled.
  auto stream = (*engine)->submit(request);
  ASSERT_TRUE(stream);
  ASSERT_TRUE((*stream)->next(std::chrono::seconds(60)));
  (*engine)->abort((*stream)->id());
  const Streamed rest = drain(**stream);
  EXPECT_EQ(rest.reason, FinishReason::kCancelled);
}

TEST(ServingEngine, SubmitRejectsBadRequestsAtOnce) {
  std::shared_ptr<ModelBundle> bundle = load_stories();
  ASSERT_TRUE(bundle);
  EngineOptions options;
  options.max_model_len = 64;
  auto engine = create_engine(bundle, options);
  ASSERT_TRUE(engine);
  EXPECT_EQ((*engine)->max_context(), 64u);
  EngineRequest request;
  request.prompt.assign(64, 5);
  auto refused = (*engine)->submit(request);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kLimitExceeded);
}

}  // namespace
}  // namespace ferrum
