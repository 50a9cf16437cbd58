// Token sampling from one row of logits on the host: penalties, logit bias, temperature, top-k,
// top-p, min-p, then a seeded draw. The order follows vLLM's sampler: penalties and bias act on raw
// logits, temperature scales them, and the three truncations act on the resulting distribution.
// Penalties and bias become sparse LogitAdjustment entries (LogitAdjuster), the form the device
// applies them in too (Backend::adjust_logits), so either path changes the logits identically.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

#include "backend/backend_types.h"
#include "core/error.h"

namespace ferrum {

struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy (argmax, lowest id on ties)
  int top_k = 0;             // 0 or < 0 = off
  float top_p = 1.0f;        // 1 = off; keeps the smallest set of tokens whose probability reaches top_p
  float min_p = 0.0f;        // 0 = off; drops tokens below min_p x the top token's probability
  // Multiplicative penalty (HF / llama.cpp): a seen token's positive logit is divided by it,
  // a negative one multiplied. 1 = off. Applies to prompt and generated tokens.
  float repetition_penalty = 1.0f;
  // OpenAI-style additive penalties over generated tokens: logit -= presence * [count > 0] + frequency * count.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::unordered_map<int32_t, float> logit_bias;  // added to the raw logit of each listed token
  uint64_t seed = 0;                              // with has_seed, the draw sequence is reproducible
  bool has_seed = false;
};

// Rejects values no sampler can honour (negative temperature, top_p outside (0, 1], ...),
// naming the parameter and the value.
Status validate_sampling_params(const SamplingParams& params, size_t vocab_size);

// Token history the penalties look at.
struct TokenHistory {
  std::span<const int32_t> prompt;
  std::span<const int32_t> generated;
};

// Builds the LogitAdjustment entries of a request's penalties and bias: one per token they touch.
// A repeated token gets `repetition_penalty`; a generated one also `add` = -(presence_penalty +
// frequency_penalty x its count); a biased one adds its bias to `add`. Keeps a vocabulary-sized
// index between calls (cleared after each), so a row costs time in its history, not the vocabulary.
class LogitAdjuster {
 public:
  // Whether `params` adjusts anything.
  static bool adjusts(const SamplingParams& params);
  // Appends the entries of `params` over `history` for logits row `row` to `out`.
  void append(const SamplingParams& params, const TokenHistory& history, size_t vocab_size, int32_t row,
              std::vector<LogitAdjustment>& out);

 private:
  std::vector<int32_t> entry_of_;  // token -> its entry's index from the row's first, or -1
  std::vector<int32_t> counts_;    // generated count of each of the row's entries
};

// logits[e.token] = adjusted_logit(...) for each entry (their rows are not looked at).
void apply_adjustments(std::span<float> logits, std::span<const LogitAdjustment> adjustments);

class Sampler {
 public:
  explicit Sampler(SamplingParams params);

  const SamplingParams& params() const { return params_; }

  // Applies penalties and bias to `logits` in place (the raw row of one sequence), then picks a token.
  int32_t sample(std::span<float> logits, const TokenHistory& history);
  // The same with the penalties and bias already built (LogitAdjuster::append for this request).
  int32_t sample_adjusted(std::span<float> logits, std::span<const LogitAdjustment> adjustments);

  // The temperature and truncations as Backend::sample_rows takes them (uniform left 0).
  RowSampling row_sampling() const;

  // The uniform in [0, 1) the next draw uses (sample() takes one per non-greedy call): what a
  // device draw of the same request takes, so seeded requests repeat on either path.
  double next_uniform();

  // The probabilities the draw uses after every transformation (zeros for truncated tokens);
  // `logits` must already hold penalties and bias. Exposed so tests can check the truncations.
  std::vector<float> truncated_distribution(std::span<const float> logits) const;

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  LogitAdjuster adjuster_;
  std::vector<LogitAdjustment> adjustments_;
};

// Index of the largest value, lowest index on ties.
int32_t argmax(std::span<const float> values);

// log_softmax of a logits row, computed in double for stability.
std::vector<float> log_softmax(std::span<const float> logits);

}  // namespace ferrum
