// The serving engine over a model split across two processes, as `--tensor-parallel-size 2` builds
// it on the CPU backend: the scheduler, block manager, prefix cache and sampling run once, on
// rank 0, and the paged pools, every batched step (tokens, positions, slots, block tables, logits
// rows) and every copy-on-write block copy reach the worker process through
// TensorParallelCausalLm. On every hf-tiny decoder the same requests through the same engine give
// the same greedy tokens over two ranks as over one, with chunked prefill, preemption and
// prefix-cache hits; requests asking for log-probabilities (steps that bring whole logits rows
// back) agree to f32 rounding, and the worst difference is printed. stories260K goes through
// load_model_bundle and the threaded Engine, as `ferrum serve -tp 2` does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <random>

#include "core/thread_pool.h"
#include "engine/engine_core.h"
#include "engine/serving_engine.h"
#include "engine/tensor_parallel_launch.h"
#include "unit/engine/engine_jobs.h"
#include "unit/models/reference_fixture.h"

namespace ferrum {
namespace {

using testing::Job;
using testing::mixed_jobs;
using testing::shared_prefix_jobs;

constexpr size_t kContext = 256;
constexpr size_t kBatchTokens = 64;
constexpr double kLogprobTolerance = 1e-4;  // f32 partial sums added in another order

// Every model in this file runs on one thread per rank. Rank 0 sizes the process's default pool to
// its threads per rank when the group starts; set first, the pool the one-rank model already uses
// stays in place (set_default_thread_count keeps a pool of the size asked for).
void use_one_thread() {
  set_default_thread_count(1);
}

ModelOptions tensor_parallel_options(const std::string& model, size_t ranks) {
  ModelOptions options;
  options.model = model;
  options.threads = 1;
  options.context = kContext;
  options.batch_tokens = kBatchTokens;
  options.parallel.tensor_parallel_size = ranks;
  options.parallel.worker_command = {FERRUM_BINARY, "tp-worker"};
  options.parallel.exit_when_a_rank_dies = false;  // a lost worker fails the test, not the process
  return options;
}

// Counts the calls the engine makes, so each test can check it reached the paths it is about.
class CountingLm final : public CausalLm {
 public:
  explicit CountingLm(std::unique_ptr<CausalLm> inner) : inner_(std::move(inner)) {}

  size_t logits_steps = 0;
  size_t argmax_steps = 0;
  size_t sample_steps = 0;
  size_t block_copies = 0;

  const CausalLmInfo& info() const override { return inner_->info(); }
  Expected<std::unique_ptr<SequenceState>> new_sequence(size_t capacity) override {
    return inner_->new_sequence(capacity);
  }
  Expected<std::span<const float>> forward(SequenceState& state, std::span<const uint32_t> tokens) override {
    return inner_->forward(state, tokens);
  }
  Expected<std::vector<float>> forward_all(SequenceState& state, std::span<const uint32_t> tokens) override {
    return inner_->forward_all(state, tokens);
  }
  bool supports_paged_batches() const override { return inner_->supports_paged_batches(); }
  DType default_kv_dtype() const override { return inner_->default_kv_dtype(); }
  size_t paged_block_bytes(size_t block_size, DType dtype) const override {
    return inner_->paged_block_bytes(block_size, dtype);
  }
  Expected<std::unique_ptr<PagedKvStore>> new_paged_cache(size_t num_blocks, size_t block_size, DType dtype) override {
    return inner_->new_paged_cache(num_blocks, block_size, dtype);
  }
  Expected<std::span<const float>> forward_batch(PagedKvStore& cache, const ForwardBatch& batch) override {
    ++logits_steps;
    return inner_->forward_batch(cache, batch);
  }
  Expected<std::span<const int32_t>> forward_batch_argmax(PagedKvStore& cache, const ForwardBatch& batch) override {
    ++argmax_steps;
    return inner_->forward_batch_argmax(cache, batch);
  }
  bool supports_device_sampling() const override { return inner_->supports_device_sampling(); }
  Expected<BatchPicks> forward_batch_sample(PagedKvStore& cache, const ForwardBatch& batch,
                                            const BatchSampling& sampling) override {
    ++sample_steps;
    return inner_->forward_batch_sample(cache, batch, sampling);
  }
  void enable_batch_graphs(bool enabled) override { inner_->enable_batch_graphs(enabled); }
  Status copy_block(PagedKvStore& cache, size_t from, size_t to) override {
    ++block_copies;
    return inner_->copy_block(cache, from, to);
  }

 private:
  std::unique_ptr<CausalLm> inner_;
};

struct Outcome {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;  // of each chosen token, when asked
  std::optional<FinishReason> reason;
  std::string error;
};

struct EngineRun {
  std::vector<Outcome> outcomes;
  EngineStats stats;
};

// Runs `jobs` through an EngineCore over `model`, all submitted at once, or in `waves` (wave i + 1
// submitted when wave i has finished, so later waves find earlier prompts in the prefix cache).
// Greedy unless `sampling` is given (then request i draws with seed i).
EngineRun run_engine(CausalLm& model, const std::vector<Job>& jobs, const EngineOptions& options, bool logprobs,
                     size_t waves = 1, std::optional<SamplingParams> sampling = std::nullopt) {
  EngineRun run;
  auto core = EngineCore::create(model, nullptr, {}, options);
  EXPECT_TRUE(core) << core.error().to_string();
  if (!core) return run;
  run.outcomes.resize(jobs.size());
  const size_t per_wave = (jobs.size() + waves - 1) / waves;
  for (size_t first = 0; first < jobs.size(); first += per_wave) {
    for (size_t i = first; i < std::min(jobs.size(), first + per_wave); ++i) {
      EngineRequest request;
      request.prompt = jobs[i].prompt;
      request.max_new_tokens = jobs[i].max_new_tokens;
      request.sampling.temperature = 0;
      if (sampling) {
        request.sampling = *sampling;
        request.sampling.seed = i;
        request.sampling.has_seed = true;
      }
      request.logprobs = logprobs;
      Outcome& outcome = run.outcomes[i];
      Status added = (*core)->add_request(i, std::move(request), [&outcome](RequestEvent&& event) {
        outcome.tokens.insert(outcome.tokens.end(), event.tokens.begin(), event.tokens.end());
        for (const TokenLogprob& chosen : event.chosen_logprobs) outcome.logprobs.push_back(chosen.logprob);
        if (event.finished) outcome.reason = event.finish_reason;
        if (event.error) outcome.error = event.error->to_string();
      });
      EXPECT_TRUE(added) << added.error().to_string();
    }
    for (size_t steps = 0; (*core)->has_work() && steps < 10000; ++steps) {
      Status status = (*core)->step();
      EXPECT_TRUE(status) << status.error().to_string();
      if (!status) break;
    }
  }
  EXPECT_FALSE((*core)->has_work());
  EXPECT_EQ((*core)->block_pool().num_used(), 0u) << "blocks still held after every request finished";
  run.stats = (*core)->stats();
  return run;
}

EngineOptions base_options() {
  EngineOptions options;
  options.max_num_seqs = 16;
  options.block_size = 16;
  options.num_kv_blocks = 256;
  return options;
}

struct Agreement {
  size_t identical = 0;  // requests with the same tokens and finish
  double worst_logprob = 0;
};

// The two-rank run gives every request the one-rank run's tokens (and finish).
Agreement expect_same_outputs(const EngineRun& split, const EngineRun& whole, const std::string& what) {
  Agreement agreement;
  EXPECT_EQ(split.outcomes.size(), whole.outcomes.size()) << what;
  for (size_t i = 0; i < std::min(split.outcomes.size(), whole.outcomes.size()); ++i) {
    const Outcome& a = split.outcomes[i];
    const Outcome& b = whole.outcomes[i];
    EXPECT_EQ(a.error, "") << what << ", request " << i;
    EXPECT_EQ(b.error, "") << what << ", request " << i << " on one rank";
    EXPECT_FALSE(b.tokens.empty()) << what << ", request " << i << " generated nothing on one rank";
    EXPECT_EQ(a.tokens, b.tokens) << what << ", request " << i;
    EXPECT_EQ(a.reason, b.reason) << what << ", request " << i;
    EXPECT_EQ(a.logprobs.size(), b.logprobs.size()) << what << ", request " << i;
    if (a.tokens == b.tokens && a.reason == b.reason) ++agreement.identical;
    for (size_t t = 0; t < std::min(a.logprobs.size(), b.logprobs.size()); ++t) {
      agreement.worst_logprob =
          std::max(agreement.worst_logprob, std::fabs(double(a.logprobs[t]) - double(b.logprobs[t])));
    }
  }
  return agreement;
}

class EngineOverTwoRanks : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    use_one_thread();
    const std::string dir = testing::hf_tiny_dir(GetParam()).string();
    auto files = open_model_files(dir);
    ASSERT_TRUE(files) << files.error().to_string();
    files_ = std::move(*files);
    const ModelRuntimeOptions runtime{.max_context = kContext, .max_batch_tokens = kBatchTokens};
    auto whole = load_causal_lm(files_, dir, tensor_parallel_options(dir, 1), runtime);
    ASSERT_TRUE(whole) << whole.error().to_string();
    auto split = load_causal_lm(files_, dir, tensor_parallel_options(dir, 2), runtime);
    ASSERT_TRUE(split) << split.error().to_string();
    ASSERT_EQ((*split)->info().tensor_parallel_size, 2u);
    ASSERT_TRUE((*split)->supports_paged_batches());
    whole_ = std::make_unique<CountingLm>(std::move(*whole));
    split_ = std::make_unique<CountingLm>(std::move(*split));
  }

  // The same jobs through an engine over each model; the two-rank run must match the one-rank run.
  std::pair<EngineRun, EngineRun> compare(const std::vector<Job>& jobs, const EngineOptions& options,
                                          const std::string& what, bool logprobs = false, size_t waves = 1) {
    EngineRun whole = run_engine(*whole_, jobs, options, logprobs, waves);
    EngineRun split = run_engine(*split_, jobs, options, logprobs, waves);
    const Agreement agreement = expect_same_outputs(split, whole, what);
    EXPECT_LE(agreement.worst_logprob, kLogprobTolerance) << what;
    size_t tokens = 0;
    for (const Outcome& outcome : split.outcomes) tokens += outcome.tokens.size();
    std::printf("%s, %s: %zu tokens in %zu steps over 2 ranks; %zu of %zu requests identical to 1 rank%s\n",
                GetParam().c_str(), what.c_str(), tokens, static_cast<size_t>(split.stats.steps), agreement.identical,
                jobs.size(),
                logprobs ? cat("; worst log-probability difference ", agreement.worst_logprob).c_str() : "");
    return {std::move(split), std::move(whole)};
  }

  ModelFiles files_;
  std::unique_ptr<CountingLm> whole_, split_;
};

TEST_P(EngineOverTwoRanks, MixedBatchMatchesOneRank) {
  compare(mixed_jobs(split_->info().vocab_size, 1), base_options(), "mixed batch");
  EXPECT_GT(split_->argmax_steps, 0u);
  EXPECT_EQ(split_->logits_steps, 0u) << "plain greedy requests take the device-argmax step";
}

TEST_P(EngineOverTwoRanks, ChunkedPrefillMatchesOneRank) {
  EngineOptions options = base_options();
  options.max_num_batched_tokens = 7;
  options.block_size = 4;
  options.num_kv_blocks = 1024;
  compare(mixed_jobs(split_->info().vocab_size, 3), options, "budget of 7 tokens");
}

TEST_P(EngineOverTwoRanks, PreemptionMatchesOneRank) {
  EngineOptions options = base_options();
  options.num_kv_blocks = kContext / options.block_size;  // one full-length sequence
  const auto [split, whole] = compare(mixed_jobs(split_->info().vocab_size, 2), options, "tiny pool");
  EXPECT_GT(split.stats.preemptions, 0u) << "the pool was meant to be too small for the batch";
}

TEST_P(EngineOverTwoRanks, PrefixCacheAndCopyOnWriteMatchOneRank) {
  const auto [split, whole] =
      compare(shared_prefix_jobs(split_->info().vocab_size, 4), base_options(), "prefix cache", false, /*waves=*/2);
  EXPECT_GT(split.stats.prefix_cache_hits, 0u);
  EXPECT_GT(split_->block_copies, 0u) << "no copy-on-write reached the worker";
}

TEST_P(EngineOverTwoRanks, LogprobsMatchOneRankToRounding) {
  compare(mixed_jobs(split_->info().vocab_size, 5), base_options(), "log-probabilities", /*logprobs=*/true);
  EXPECT_GT(split_->sample_steps, 0u) << "log-probabilities are computed with the picks on the device";
  EXPECT_EQ(split_->argmax_steps, 0u) << "requests asking for log-probabilities need more than the argmax";
  EngineOptions options = base_options();
  options.device_sampling = false;
  compare(mixed_jobs(split_->info().vocab_size, 5), options, "log-probabilities on the host", /*logprobs=*/true);
  EXPECT_GT(split_->logits_steps, 0u);
}

// Seeded sampling over two ranks: the leader draws on its backend (sample_rows) while the workers
// run the same forward, and gives the tokens its host sampler draws from the same logits.
TEST_P(EngineOverTwoRanks, DeviceDrawsMatchHostSamplingOverTwoRanks) {
  const SamplingParams sampling{.temperature = 0.9f, .top_k = 50, .top_p = 0.95f};
  const std::vector<Job> jobs = mixed_jobs(split_->info().vocab_size, 6);
  EngineOptions options = base_options();
  const EngineRun drawn = run_engine(*split_, jobs, options, false, 1, sampling);
  EXPECT_GT(split_->sample_steps, 0u);
  EXPECT_GT(drawn.stats.device_drawn_tokens, 0u);
  options.device_sampling = false;
  const size_t sample_steps = split_->sample_steps;
  const EngineRun hosted = run_engine(*split_, jobs, options, false, 1, sampling);
  EXPECT_EQ(split_->sample_steps, sample_steps) << "--host-sampling still drew on the device";
  expect_same_outputs(drawn, hosted, "device vs host sampling");
}

INSTANTIATE_TEST_SUITE_P(HfTiny, EngineOverTwoRanks,
                         ::testing::Values("llama3", "qwen3", "qwen2", "mistral_swa", "gemma3", "qwen3_moe",
                                           "deepseek_v3"));

// What `ferrum serve -tp 2` builds: load_model_bundle, then the threaded Engine with its step loop;
// concurrent prompts of real text stream the same greedy tokens as over one process.
std::vector<std::vector<int32_t>> serve_stories(size_t ranks) {
  auto bundle = load_model_bundle(
      tensor_parallel_options(std::string(FERRUM_FIXTURES_DIR) + "/stories260K/stories260K.gguf", ranks));
  EXPECT_TRUE(bundle) << bundle.error().to_string();
  if (!bundle) return {};
  EXPECT_EQ(bundle->model->info().tensor_parallel_size, ranks);
  const auto shared = std::make_shared<ModelBundle>(std::move(*bundle));
  EngineOptions options;
  options.block_size = 16;
  options.max_num_batched_tokens = 32;
  auto engine = create_engine(shared, options);
  EXPECT_TRUE(engine) << engine.error().to_string();
  if (!engine) return {};
  std::vector<std::unique_ptr<RequestStream>> streams;
  for (const char* prompt : {"Once upon a time", "The dog", "Lily and Ben went to the park. They", "One day", "Once"}) {
    EngineRequest request;
    request.prompt = shared->tokenizer->encode(prompt, {.add_special = true});
    request.max_new_tokens = 48;
    request.sampling.temperature = 0;
    auto stream = (*engine)->submit(std::move(request));
    EXPECT_TRUE(stream) << stream.error().to_string();
    if (!stream) return {};
    streams.push_back(std::move(*stream));
  }
  std::vector<std::vector<int32_t>> tokens(streams.size());
  for (size_t i = 0; i < streams.size(); ++i) {
    for (;;) {
      std::optional<RequestEvent> event = streams[i]->next(std::chrono::seconds(60));
      EXPECT_TRUE(event) << "request " << i << ": no event within a minute";
      if (!event) return {};
      tokens[i].insert(tokens[i].end(), event->tokens.begin(), event->tokens.end());
      if (event->finished) {
        EXPECT_FALSE(event->error) << event->error->to_string();
        break;
      }
    }
  }
  return tokens;
}

TEST(EngineOverTensorParallel, ServeBundleStreamsTheSameTokensAsOneProcess) {
  use_one_thread();
  const auto expected = serve_stories(1);
  const auto actual = serve_stories(2);
  ASSERT_EQ(expected.size(), 5u);
  ASSERT_EQ(actual.size(), expected.size());
  size_t tokens = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_FALSE(expected[i].empty()) << "request " << i;
    EXPECT_EQ(actual[i], expected[i]) << "request " << i;
    tokens += actual[i].size();
  }
  std::printf(
      "stories260K through load_model_bundle and the threaded engine: %zu requests, %zu greedy tokens over "
      "2 processes identical to 1\n",
      expected.size(), tokens);
}

}  // namespace
}  // namespace ferrum
