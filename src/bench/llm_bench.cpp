#include "bench/llm_bench.h"

#include <algorithm>
#include <chrono>

#include "bench/stats.h"
#include "synth/tensor_content.h"

namespace ferrum::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

std::vector<uint32_t> random_tokens(size_t count, size_t vocab_size, uint64_t seed) {
  synth::SplitMix64 random(seed);
  std::vector<uint32_t> tokens(count);
  for (uint32_t& token : tokens) token = static_cast<uint32_t>(random.next() % vocab_size);
  return tokens;
}

// Means, deviations and the physics of a test whose repetitions each moved `tokens` tokens.
void summarise(TestResult& result, double tokens, const Bounds& bounds) {
  for (double seconds : result.seconds) result.tokens_per_second.push_back(tokens / seconds);
  result.mean_tokens_per_second = mean(result.tokens_per_second);
  result.sd_tokens_per_second = sample_sd(result.tokens_per_second);
  result.achieved_tflops = result.mean_tokens_per_second * result.flops_per_token / 1e12;
  result.achieved_gbps = result.mean_tokens_per_second * result.bytes_per_token / 1e9;
  if (bounds.compute && bounds.compute->value > 0) {
    result.compute_fraction = result.achieved_tflops / bounds.compute->value;
  }
  if (bounds.bandwidth && bounds.bandwidth->value > 0 && result.bytes_per_token > 0) {
    result.bandwidth_fraction = result.achieved_gbps / bounds.bandwidth->value;
  }
}

Status check_fits(const CausalLm& model, size_t tokens, const std::string& test) {
  FERRUM_CHECK(tokens < model.info().max_context, ErrorCode::kLimitExceeded, test, " needs ", tokens + 1,
               " tokens of context; the model was loaded with ", model.info().max_context, " (raise -c)");
  return ok();
}

// Submits `batch` requests of `prompt_tokens` random tokens and `generated_tokens` new tokens each
// and returns the seconds until the last of them finished. Prompts come from `seed` on, one per
// request, so no two share a prefix a cache could skip.
Expected<double> run_batch_to_completion(Engine& engine, size_t vocab_size, size_t batch, size_t prompt_tokens,
                                         size_t generated_tokens, uint64_t seed) {
  const Clock::time_point start = Clock::now();
  std::vector<std::unique_ptr<RequestStream>> streams;
  for (size_t i = 0; i < batch; ++i) {
    EngineRequest request;
    for (uint32_t token : random_tokens(prompt_tokens, vocab_size, seed + i)) {
      request.prompt.push_back(static_cast<int32_t>(token));
    }
    request.max_new_tokens = generated_tokens;
    request.ignore_eos = true;
    request.sampling.temperature = 0.0f;
    FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<RequestStream> stream, engine.submit(std::move(request)));
    streams.push_back(std::move(stream));
  }
  // Only the final events matter, so one thread reading the streams in turn is enough.
  for (std::unique_ptr<RequestStream>& stream : streams) {
    size_t received = 0;
    for (;;) {
      std::optional<RequestEvent> event = stream->next(std::chrono::milliseconds(120'000));
      FERRUM_CHECK(event.has_value(), ErrorCode::kLimitExceeded, "request ", stream->id(),
                   " produced nothing for 120 s");
      if (event->error) return Error(*event->error);
      received += event->tokens.size();
      if (event->finished) break;
    }
    FERRUM_CHECK(received == generated_tokens, ErrorCode::kInternal, "request ", stream->id(), " generated ", received,
                 " tokens, expected ", generated_tokens);
  }
  return seconds_between(start, Clock::now());
}

}  // namespace

std::string decode_test_name(size_t generated_tokens, size_t depth, size_t capacity) {
  std::string name = "tg" + std::to_string(generated_tokens);
  if (depth > 0) name += " @ d" + std::to_string(depth);
  if (capacity > 0) name += " c" + std::to_string(capacity);
  return name;
}

std::string_view test_kind_name(TestKind kind) {
  switch (kind) {
    case TestKind::kPrefill: return "prefill";
    case TestKind::kDecode: return "decode";
    case TestKind::kBatchedDecode: return "batched_decode";
  }
  return "unknown";
}

Expected<TestResult> run_prefill_test(CausalLm& model, const ModelCosts& costs, size_t prompt_tokens,
                                      const BenchConfig& config, const Bounds& bounds) {
  TestResult result;
  result.kind = TestKind::kPrefill;
  result.name = "pp" + std::to_string(prompt_tokens);
  result.prompt_tokens = prompt_tokens;
  FERRUM_TRY(check_fits(model, prompt_tokens, result.name));
  const std::vector<uint32_t> tokens = random_tokens(prompt_tokens, model.info().vocab_size, config.seed);
  for (size_t repetition = 0; repetition < config.warmup + config.repetitions; ++repetition) {
    FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<SequenceState> state, model.new_sequence(prompt_tokens + 1));
    const Clock::time_point start = Clock::now();
    FERRUM_TRY(model.forward(*state, tokens));
    const Clock::time_point end = Clock::now();
    if (repetition >= config.warmup) result.seconds.push_back(seconds_between(start, end));
  }
  result.flops_per_token = costs.prefill_flops(prompt_tokens) / static_cast<double>(prompt_tokens);
  summarise(result, static_cast<double>(prompt_tokens), bounds);
  return result;
}

Expected<TestResult> run_decode_test(CausalLm& model, const ModelCosts& costs, size_t generated_tokens,
                                     const BenchConfig& config, const Bounds& bounds) {
  TestResult result;
  result.kind = TestKind::kDecode;
  const size_t depth = config.decode_depth;
  result.name = decode_test_name(generated_tokens, depth, config.decode_capacity);
  result.prompt_tokens = depth;
  result.generated_tokens = generated_tokens;
  const size_t capacity = std::max(depth + generated_tokens + 1, config.decode_capacity);
  FERRUM_TRY(check_fits(model, capacity - 1, result.name));
  const std::vector<uint32_t> tokens = random_tokens(generated_tokens, model.info().vocab_size, config.seed + 1);
  const std::vector<uint32_t> context = random_tokens(depth, model.info().vocab_size, config.seed + 2);
  for (size_t repetition = 0; repetition < config.warmup + config.repetitions; ++repetition) {
    FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<SequenceState> state, model.new_sequence(capacity));
    if (depth > 0) FERRUM_TRY(model.forward(*state, context));  // untimed, as llama-bench's depth
    const Clock::time_point start = Clock::now();
    for (uint32_t token : tokens) FERRUM_TRY(model.forward(*state, std::span<const uint32_t>(&token, 1)));
    const Clock::time_point end = Clock::now();
    if (repetition >= config.warmup) result.seconds.push_back(seconds_between(start, end));
  }
  double flops = 0;
  double bytes = 0;
  for (size_t keys = depth + 1; keys <= depth + generated_tokens; ++keys) {
    flops += costs.decode_flops(keys);
    bytes += costs.decode_bytes(keys);
  }
  result.flops_per_token = flops / static_cast<double>(generated_tokens);
  result.bytes_per_token = bytes / static_cast<double>(generated_tokens);
  summarise(result, static_cast<double>(generated_tokens), bounds);
  return result;
}

Expected<TestResult> run_batched_decode_test(Engine& engine, const ModelCosts& costs, size_t vocab_size, size_t batch,
                                             size_t generated_tokens, const BenchConfig& config, const Bounds& bounds) {
  TestResult result;
  result.kind = TestKind::kBatchedDecode;
  result.name = "tg" + std::to_string(generated_tokens) + " b" + std::to_string(batch);
  result.prompt_tokens = config.batched_prompt_length;
  result.generated_tokens = generated_tokens;
  result.batch = batch;
  FERRUM_CHECK(generated_tokens >= 2, ErrorCode::kInvalidArgument, result.name,
               ": batched decode needs at least 2 generated tokens");
  // Decode time is the difference between a batch that generates N tokens and the same-sized batch
  // that generates one (its prefill and first token): the client's view of when tokens arrive
  // cannot blur it, only the end of each run counts.
  uint64_t seed = config.seed + 1000;
  for (size_t repetition = 0; repetition < config.warmup + config.repetitions; ++repetition) {
    FERRUM_ASSIGN_OR_RETURN(const double prefill_only,
                            run_batch_to_completion(engine, vocab_size, batch, config.batched_prompt_length, 1, seed));
    seed += batch;
    FERRUM_ASSIGN_OR_RETURN(
        const double whole,
        run_batch_to_completion(engine, vocab_size, batch, config.batched_prompt_length, generated_tokens, seed));
    seed += batch;
    FERRUM_CHECK(whole > prefill_only, ErrorCode::kInternal, result.name, ": generating ", generated_tokens,
                 " tokens took ", whole, " s, no longer than generating one (", prefill_only, " s)");
    if (repetition >= config.warmup) result.seconds.push_back(whole - prefill_only);
  }
  // Each step reads the weights once for all sequences and each sequence's cache.
  const size_t average_keys = config.batched_prompt_length + generated_tokens / 2;
  result.bytes_per_token = costs.decode_bytes(average_keys, batch) / static_cast<double>(batch);
  result.flops_per_token = costs.decode_flops(average_keys);
  summarise(result, static_cast<double>(batch * (generated_tokens - 1)), bounds);
  return result;
}

Expected<std::vector<TestResult>> run_benchmarks(CausalLm& model, const ModelCosts& costs, Engine* engine,
                                                 const std::string& engine_missing, const BenchConfig& config,
                                                 const Bounds& bounds, const BenchProgress& progress) {
  FERRUM_CHECK(config.repetitions > 0, ErrorCode::kInvalidArgument, "-r must be at least 1");
  std::vector<TestResult> results;
  for (size_t prompt : config.prompt_lengths) {
    if (prompt == 0) continue;
    if (progress) progress("pp" + std::to_string(prompt));
    auto result = run_prefill_test(model, costs, prompt, config, bounds);
    if (!result) return std::move(result).error().with_context("pp" + std::to_string(prompt));
    results.push_back(std::move(*result));
  }
  for (size_t generated : config.generation_lengths) {
    if (generated == 0) continue;
    for (size_t batch : config.batch_sizes) {
      if (batch == 1) {
        const std::string name = decode_test_name(generated, config.decode_depth, config.decode_capacity);
        if (progress) progress(name);
        auto result = run_decode_test(model, costs, generated, config, bounds);
        if (!result) return std::move(result).error().with_context(name);
        results.push_back(std::move(*result));
        continue;
      }
      const std::string name = "tg" + std::to_string(generated) + " b" + std::to_string(batch);
      if (engine == nullptr) {
        TestResult missing;
        missing.kind = TestKind::kBatchedDecode;
        missing.name = name;
        missing.prompt_tokens = config.batched_prompt_length;
        missing.generated_tokens = generated;
        missing.batch = batch;
        missing.unavailable = engine_missing;
        results.push_back(std::move(missing));
        continue;
      }
      if (progress) progress(name);
      auto result = run_batched_decode_test(*engine, costs, model.info().vocab_size, batch, generated, config, bounds);
      if (!result) return std::move(result).error().with_context(name);
      results.push_back(std::move(*result));
    }
  }
  return results;
}

}  // namespace ferrum::bench
