// The engine against the one-sequence path, on every decoder family's hf-tiny fixture: a batch of
// mixed requests gives each request exactly the greedy tokens it gives alone (CausalLm::forward,
// one sequence, its own contiguous cache), and so do a pool small enough to force preemption, a
// token budget small enough to chunk every prompt, and requests whose prompts hit the prefix
// cache. After every run every block is free again.
#include "engine/engine_core.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>

#include "models/causal_lm_factory.h"
#include "unit/engine/engine_jobs.h"

namespace ferrum {
namespace {

using testing::Job;
using testing::mixed_jobs;
using testing::shared_prefix_jobs;

constexpr size_t kContext = 256;
constexpr size_t kBatchTokens = 64;

std::unique_ptr<CausalLm> load_tiny(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(FERRUM_FIXTURES_DIR) / "hf-tiny" / name;
  auto files = open_model_files(dir.string());
  EXPECT_TRUE(files) << files.error().to_string();
  if (!files) return nullptr;
  auto model = create_cpu_causal_lm(*files, {.max_context = kContext, .max_batch_tokens = kBatchTokens});
  EXPECT_TRUE(model) << model.error().to_string();
  return model ? std::move(*model) : nullptr;
}

// Greedy tokens of one sequence on its own: the per-sequence path the engine must reproduce.
std::vector<int32_t> greedy_alone(CausalLm& model, const Job& job) {
  auto state = model.new_sequence(kContext);
  EXPECT_TRUE(state);
  std::vector<uint32_t> prompt(job.prompt.begin(), job.prompt.end());
  auto logits = model.forward(**state, prompt);
  std::vector<int32_t> generated;
  while (logits && generated.size() < job.max_new_tokens) {
    const int32_t next = argmax(*logits);
    generated.push_back(next);
    if ((*state)->length() + 1 >= kContext) break;  // the context is full (Generator's rule)
    const auto token = static_cast<uint32_t>(next);
    logits = model.forward(**state, std::span(&token, 1));
  }
  EXPECT_TRUE(logits);
  return generated;
}

struct Outcome {
  std::vector<int32_t> tokens;
  std::optional<FinishReason> reason;
  size_t cached_prompt_tokens = 0;
  bool error = false;
};

// Runs `jobs` through an engine, all submitted at once unless `waves` > 1 (then wave i + 1 is
// submitted when wave i has finished, so later waves find earlier prompts in the prefix cache).
std::vector<Outcome> run_engine(CausalLm& model, const std::vector<Job>& jobs, const EngineOptions& options,
                                EngineStats* stats_out = nullptr, size_t waves = 1) {
  auto core = EngineCore::create(model, nullptr, {}, options);
  EXPECT_TRUE(core) << core.error().to_string();
  if (!core) return {};
  std::vector<Outcome> outcomes(jobs.size());
  const size_t per_wave = (jobs.size() + waves - 1) / waves;
  for (size_t first = 0; first < jobs.size(); first += per_wave) {
    for (size_t i = first; i < std::min(jobs.size(), first + per_wave); ++i) {
      EngineRequest request;
      request.prompt = jobs[i].prompt;
      request.max_new_tokens = jobs[i].max_new_tokens;
      request.sampling.temperature = 0;
      Status added = (*core)->add_request(i, std::move(request), [&outcomes, i](RequestEvent&& event) {
        Outcome& outcome = outcomes[i];
        outcome.tokens.insert(outcome.tokens.end(), event.tokens.begin(), event.tokens.end());
        if (event.finished) {
          outcome.reason = event.finish_reason;
          outcome.error = event.error.has_value();
          outcome.cached_prompt_tokens = event.cached_prompt_tokens;
        }
      });
      EXPECT_TRUE(added) << added.error().to_string();
    }
    for (size_t steps = 0; (*core)->has_work() && steps < 10000; ++steps) {
      Status status = (*core)->step();
      EXPECT_TRUE(status) << status.error().to_string();
      if (!status) break;
      const EngineStats stats = (*core)->stats();
      EXPECT_LE(stats.running, options.max_num_seqs);
      EXPECT_LE(stats.kv_blocks_used, stats.kv_blocks_total);
    }
  }
  EXPECT_FALSE((*core)->has_work());
  EXPECT_EQ((*core)->block_pool().num_used(), 0u) << "blocks still held after every request finished";
  if (stats_out) *stats_out = (*core)->stats();
  return outcomes;
}

void expect_matches_alone(CausalLm& model, const std::vector<Job>& jobs, const std::vector<Outcome>& outcomes,
                          const std::string& what) {
  ASSERT_EQ(outcomes.size(), jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_FALSE(outcomes[i].error) << what << ", request " << i;
    EXPECT_EQ(outcomes[i].reason, FinishReason::kLength) << what << ", request " << i;
    EXPECT_EQ(outcomes[i].tokens, greedy_alone(model, jobs[i]))
        << what << ": request " << i << " (prompt of " << jobs[i].prompt.size() << ")";
  }
}

EngineOptions base_options() {
  EngineOptions options;
  options.max_num_seqs = 16;
  options.block_size = 16;
  options.num_kv_blocks = 256;
  return options;
}

class EngineFamilies : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineFamilies, MixedBatchMatchesEachRequestAlone) {
  auto model = load_tiny(GetParam());
  ASSERT_TRUE(model);
  const auto jobs = mixed_jobs(model->info().vocab_size, 1);
  expect_matches_alone(*model, jobs, run_engine(*model, jobs, base_options()), "mixed batch");
}

// The warm-up's throwaway steps (CUDA's default, off on the CPU) run through every family's batched
// path, forced on here for every bucket up to the step budget, and change no request's output.
TEST_P(EngineFamilies, WarmUpDoesNotChangeOutputs) {
  auto model = load_tiny(GetParam());
  ASSERT_TRUE(model);
  const auto jobs = mixed_jobs(model->info().vocab_size, 5);
  EngineOptions options = base_options();
  options.warm_up = true;
  expect_matches_alone(*model, jobs, run_engine(*model, jobs, options), "after a warm-up");
}

TEST_P(EngineFamilies, PreemptionDoesNotChangeOutputs) {
  auto model = load_tiny(GetParam());
  ASSERT_TRUE(model);
  const auto jobs = mixed_jobs(model->info().vocab_size, 2);
  EngineOptions options = base_options();
  options.num_kv_blocks = kContext / options.block_size;  // one full-length sequence
  EngineStats stats;
  expect_matches_alone(*model, jobs, run_engine(*model, jobs, options, &stats), "tiny pool");
  EXPECT_GT(stats.preemptions, 0u) << "the pool was meant to be too small for the batch";
}

TEST_P(EngineFamilies, ChunkedPrefillDoesNotChangeOutputs) {
  auto model = load_tiny(GetParam());
  ASSERT_TRUE(model);
  const auto jobs = mixed_jobs(model->info().vocab_size, 3);
  EngineOptions options = base_options();
  options.max_num_batched_tokens = 7;
  options.block_size = 4;
  options.num_kv_blocks = 1024;
  expect_matches_alone(*model, jobs, run_engine(*model, jobs, options), "budget of 7 tokens");
}

TEST_P(EngineFamilies, PrefixCacheHitsDoNotChangeOutputs) {
  auto model = load_tiny(GetParam());
  ASSERT_TRUE(model);
  const auto jobs = shared_prefix_jobs(model->info().vocab_size, 4);
  EngineStats stats;
  const auto outcomes = run_engine(*model, jobs, base_options(), &stats, /*waves=*/2);
  expect_matches_alone(*model, jobs, outcomes, "prefix cache");
  EXPECT_GT(stats.prefix_cache_hits, 0u);
  // The second wave finds the shared prefix's two full blocks; the repeated prompt finds all of it.
  for (size_t i = 3; i < jobs.size(); ++i) EXPECT_GE(outcomes[i].cached_prompt_tokens, 31u) << "request " << i;
}

INSTANTIATE_TEST_SUITE_P(HfTiny, EngineFamilies,
                         ::testing::Values("llama3", "qwen3", "qwen2", "mistral_swa", "gemma3", "qwen3_moe",
                                           "deepseek_v3"));

TEST(EngineCore, EndsRequestsAsGeneratorDoes) {
  auto model = load_tiny("llama3");
  ASSERT_TRUE(model);
  // max_new_tokens 0: ends after the prompt with nothing generated; a prompt 4 short of the
  // context: 4 tokens, then the context is full.
  std::vector<Job> jobs = {{{1, 2, 3}, 0}, {std::vector<int32_t>(kContext - 4, 7), 50}};
  const auto outcomes = run_engine(*model, jobs, base_options());
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_TRUE(outcomes[0].tokens.empty());
  EXPECT_EQ(outcomes[0].reason, FinishReason::kLength);
  EXPECT_EQ(outcomes[1].tokens, greedy_alone(*model, jobs[1]));
  EXPECT_EQ(outcomes[1].tokens.size(), 4u);
  EXPECT_EQ(outcomes[1].reason, FinishReason::kContextFull);
}

TEST(EngineCore, RejectsWhatNoModelCanRun) {
  auto model = load_tiny("llama3");
  ASSERT_TRUE(model);
  auto core = EngineCore::create(*model, nullptr, {}, base_options());
  ASSERT_TRUE(core);
  const auto code_of = [&](EngineRequest request) {
    Status status = (*core)->validate(request);
    return status ? std::optional<ErrorCode>() : std::optional<ErrorCode>(status.error().code());
  };
  EXPECT_EQ(code_of({}), ErrorCode::kInvalidArgument);  // empty prompt
  EngineRequest too_long;
  too_long.prompt.assign(kContext, 1);
  EXPECT_EQ(code_of(too_long), ErrorCode::kLimitExceeded);
  EngineRequest bad_token;
  bad_token.prompt = {1, 512};
  EXPECT_EQ(code_of(bad_token), ErrorCode::kInvalidArgument);
  EngineRequest bad_sampling;
  bad_sampling.prompt = {1};
  bad_sampling.sampling.top_p = 0;
  EXPECT_EQ(code_of(bad_sampling), ErrorCode::kInvalidArgument);

  EngineOptions too_many_tokens = base_options();
  too_many_tokens.max_num_batched_tokens = kBatchTokens + 1;
  EXPECT_FALSE(EngineCore::create(*model, nullptr, {}, too_many_tokens));
  EngineOptions too_few_blocks = base_options();
  too_few_blocks.num_kv_blocks = kContext / 16 - 1;
  auto refused = EngineCore::create(*model, nullptr, {}, too_few_blocks);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kOutOfMemory);
}

TEST(EngineCore, AbortFreesEveryBlockAndEndsTheStream) {
  auto model = load_tiny("qwen3");
  ASSERT_TRUE(model);
  EngineOptions options = base_options();
  options.max_num_seqs = 2;
  auto core = EngineCore::create(*model, nullptr, {}, options);
  ASSERT_TRUE(core);
  std::map<RequestId, RequestEvent> last;
  std::map<RequestId, size_t> tokens;
  for (RequestId id = 0; id < 4; ++id) {
    EngineRequest request;
    request.prompt.assign(20 + id, static_cast<int32_t>(id + 3));
    request.max_new_tokens = 30;
    request.sampling.temperature = 0;
    ASSERT_TRUE((*core)->add_request(id, std::move(request), [&, id](RequestEvent&& event) {
      tokens[id] += event.tokens.size();
      last[id] = std::move(event);
    }));
  }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*core)->step());
  EXPECT_GT((*core)->block_pool().num_used(), 0u);
  (*core)->abort(0);   // running
  (*core)->abort(3);   // still waiting (max_num_seqs 2)
  (*core)->abort(3);   // twice: ignored
  (*core)->abort(77);  // unknown: ignored
  EXPECT_TRUE(last[0].finished);
  EXPECT_EQ(last[0].finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(last[0].completion_tokens, tokens[0]);
  EXPECT_EQ(last[3].finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(last[3].completion_tokens, 0u);
  while ((*core)->has_work()) ASSERT_TRUE((*core)->step());
  EXPECT_EQ(last[1].finish_reason, FinishReason::kLength);
  EXPECT_EQ(last[2].finish_reason, FinishReason::kLength);
  EXPECT_EQ((*core)->block_pool().num_used(), 0u);
  const EngineStats stats = (*core)->stats();
  EXPECT_EQ(stats.running + stats.waiting, 0u);
  EXPECT_EQ(stats.kv_blocks_used, 0u);
}

// Allows even token ids only, and is complete after `length` tokens.
class EvenTokens final : public TokenConstraint {
 public:
  EvenTokens(size_t length, bool lie) : length_(length), lie_(lie) {}
  void mask(std::span<float> logits) override {
    if (lie_) return;  // a constraint whose mask and accept disagree: the request must fail
    for (size_t i = 1; i < logits.size(); i += 2) logits[i] = -INFINITY;
  }
  bool accept(int32_t token) override {
    ++accepted_;
    return token % 2 == 0;
  }
  bool complete() const override { return accepted_ >= length_; }

 private:
  size_t length_;
  bool lie_;
  size_t accepted_ = 0;
};

TEST(EngineCore, TokenConstraintsMaskAcceptAndComplete) {
  auto model = load_tiny("llama3");
  ASSERT_TRUE(model);
  auto core = EngineCore::create(*model, nullptr, {}, base_options());
  ASSERT_TRUE(core);
  std::vector<RequestEvent> events[2];
  for (int i = 0; i < 2; ++i) {
    EngineRequest request;
    request.prompt = {5, 9, 13, 200};
    request.max_new_tokens = 50;
    request.sampling.temperature = 0;
    request.constraint = std::make_shared<EvenTokens>(5, /*lie=*/i == 1);
    ASSERT_TRUE((*core)->add_request(i, std::move(request),
                                     [&events, i](RequestEvent&& event) { events[i].push_back(std::move(event)); }));
  }
  while ((*core)->has_work()) ASSERT_TRUE((*core)->step());
  std::vector<int32_t> tokens;
  for (const RequestEvent& event : events[0]) tokens.insert(tokens.end(), event.tokens.begin(), event.tokens.end());
  ASSERT_EQ(tokens.size(), 5u);
  for (int32_t token : tokens) EXPECT_EQ(token % 2, 0);
  EXPECT_EQ(events[0].back().finish_reason, FinishReason::kStop);
  // Unmasked greedy picks an odd token sooner or later, and accept refuses it: the request fails.
  ASSERT_FALSE(events[1].empty());
  EXPECT_TRUE(events[1].back().finished);
  EXPECT_TRUE(events[1].back().error.has_value());
  EXPECT_EQ((*core)->block_pool().num_used(), 0u);
}

}  // namespace
}  // namespace ferrum
