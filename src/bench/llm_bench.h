// `ferrum bench`: prefill and decode speed of a loaded model, in the manner of llama-bench, with
// every figure set against the physical bound it is limited by.
//
// Method: each test runs `warmup` untimed repetitions, then `repetitions` timed ones; results are
// the mean and sample standard deviation of tokens per second over the timed repetitions.
//   ppN  prefill: N random tokens into an empty sequence in one forward call (chunked by the
//        model's max_batch_tokens), timed until the last token's logits are on the host.
//   tgN  decode: N single-token forward calls from an empty sequence, each timed to its logits on
//        the host (what sampling needs), so the context grows from 1 to N as in llama-bench.
//   tgN bB  batched decode: B requests through the serving engine at once (prompts of
//        batched_prompt_length tokens, EOS ignored). Each repetition runs B requests of one new
//        token, then B requests of N; the difference of the two wall times is the time B x (N - 1)
//        decode tokens took (llama-batched-bench separates prefill the same way). Only when each run
//        ends counts, so late-scheduled client threads cannot compress the measurement.
// Token ids are drawn uniformly from the vocabulary with a fixed seed: speed does not depend on
// the values, and the same seed repeats the same run.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench/model_costs.h"
#include "bench/system_info.h"
#include "core/error.h"
#include "engine/engine.h"
#include "models/causal_lm.h"

namespace ferrum::bench {

struct BenchConfig {
  std::vector<size_t> prompt_lengths{512};      // 0 entries skip prefill tests
  std::vector<size_t> generation_lengths{128};  // 0 entries skip decode tests
  std::vector<size_t> batch_sizes{1};           // > 1: batched decode through the engine
  size_t repetitions = 3;
  size_t warmup = 1;
  size_t batched_prompt_length = 128;
  size_t decode_depth = 0;  // tokens in the context before a single-sequence decode test (llama-bench -d)
  // KV capacity of a single-sequence decode test's sequence (0: the tokens it needs), as `run`'s
  // --ctx-size sizes its sequence: the decode graph's attention is shaped by the capacity.
  size_t decode_capacity = 0;
  uint64_t seed = 42;
};

struct Bounds {
  std::optional<Bound> bandwidth;  // GB/s
  std::optional<Bound> compute;    // TFLOP/s
  // CPU: the int8 dot-product peak (tera-ops/s), the compute bound of quantized weights there;
  // bench_one_model puts it in `compute` for such a model.
  std::optional<Bound> int8_compute;
};

enum class TestKind { kPrefill, kDecode, kBatchedDecode };

struct TestResult {
  TestKind kind = TestKind::kPrefill;
  std::string name;             // "pp512", "tg128", "tg128 @ d512", "tg128 b16"
  size_t prompt_tokens = 0;     // per sequence
  size_t generated_tokens = 0;  // per sequence
  size_t batch = 1;
  std::vector<double> seconds;            // per timed repetition
  std::vector<double> tokens_per_second;  // per timed repetition (all sequences together)
  double mean_tokens_per_second = 0;
  double sd_tokens_per_second = 0;
  double flops_per_token = 0;  // the work of one token, averaged over the test
  double bytes_per_token = 0;  // memory one token reads, averaged over the test (decode)
  double achieved_tflops = 0;
  double achieved_gbps = 0;
  std::optional<double> compute_fraction;    // of Bounds::compute
  std::optional<double> bandwidth_fraction;  // of Bounds::bandwidth (decode)
  std::optional<std::string> unavailable;    // why this test has no numbers
};

std::string_view test_kind_name(TestKind kind);
// "tg128", or "tg128 @ d512" for a decode after 512 tokens of context (llama-bench's naming), with
// " c4096" when the sequence was given a KV capacity of 4096 (BenchConfig::decode_capacity).
std::string decode_test_name(size_t generated_tokens, size_t depth, size_t capacity = 0);

// Called before each test with its name, for progress lines.
using BenchProgress = std::function<void(const std::string& test)>;

// Runs every configured test on `model`. `engine` serves the batched tests; null makes them
// unavailable with `engine_missing` as the reason.
Expected<std::vector<TestResult>> run_benchmarks(CausalLm& model, const ModelCosts& costs, Engine* engine,
                                                 const std::string& engine_missing, const BenchConfig& config,
                                                 const Bounds& bounds, const BenchProgress& progress = {});

// The single tests, exposed for tests of the method.
Expected<TestResult> run_prefill_test(CausalLm& model, const ModelCosts& costs, size_t prompt_tokens,
                                      const BenchConfig& config, const Bounds& bounds);
Expected<TestResult> run_decode_test(CausalLm& model, const ModelCosts& costs, size_t generated_tokens,
                                     const BenchConfig& config, const Bounds& bounds);
Expected<TestResult> run_batched_decode_test(Engine& engine, const ModelCosts& costs, size_t vocab_size, size_t batch,
                                             size_t generated_tokens, const BenchConfig& config, const Bounds& bounds);

}  // namespace ferrum::bench
