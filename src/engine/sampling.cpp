#include "engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "backend/row_draw.h"

namespace ferrum {
namespace {

uint64_t initial_seed(const SamplingParams& params) {
  if (params.has_seed) return params.seed;
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace

Status validate_sampling_params(const SamplingParams& params, size_t vocab_size) {
  FERRUM_CHECK(std::isfinite(params.temperature) && params.temperature >= 0.0f, ErrorCode::kInvalidArgument,
               "temperature must be >= 0, got ", params.temperature);
  FERRUM_CHECK(params.top_p > 0.0f && params.top_p <= 1.0f, ErrorCode::kInvalidArgument,
               "top_p must be in (0, 1], got ", params.top_p);
  FERRUM_CHECK(params.min_p >= 0.0f && params.min_p <= 1.0f, ErrorCode::kInvalidArgument,
               "min_p must be in [0, 1], got ", params.min_p);
  FERRUM_CHECK(std::isfinite(params.repetition_penalty) && params.repetition_penalty > 0.0f,
               ErrorCode::kInvalidArgument, "repetition_penalty must be > 0, got ", params.repetition_penalty);
  FERRUM_CHECK(std::isfinite(params.presence_penalty) && std::fabs(params.presence_penalty) <= 2.0f,
               ErrorCode::kInvalidArgument, "presence_penalty must be in [-2, 2], got ", params.presence_penalty);
  FERRUM_CHECK(std::isfinite(params.frequency_penalty) && std::fabs(params.frequency_penalty) <= 2.0f,
               ErrorCode::kInvalidArgument, "frequency_penalty must be in [-2, 2], got ", params.frequency_penalty);
  for (const auto& [token, bias] : params.logit_bias) {
    FERRUM_CHECK(token >= 0 && static_cast<size_t>(token) < vocab_size, ErrorCode::kInvalidArgument,
                 "logit_bias names token ", token, ", outside the vocabulary of ", vocab_size);
    FERRUM_CHECK(std::isfinite(bias) && std::fabs(bias) <= 100.0f, ErrorCode::kInvalidArgument, "logit_bias for token ",
                 token, " must be in [-100, 100], got ", bias);
  }
  return ok();
}

Sampler::Sampler(SamplingParams params) : params_(std::move(params)), rng_(initial_seed(params_)) {}

void Sampler::apply_penalties(std::span<float> logits, const TokenHistory& history) const {
  const auto in_vocab = [&](int32_t token) { return token >= 0 && static_cast<size_t>(token) < logits.size(); };
  if (params_.repetition_penalty != 1.0f) {
    std::vector<bool> seen(logits.size(), false);
    for (std::span<const int32_t> tokens : {history.prompt, history.generated}) {
      for (int32_t token : tokens) {
        if (in_vocab(token)) seen[static_cast<size_t>(token)] = true;
      }
    }
    for (size_t token = 0; token < logits.size(); ++token) {
      if (!seen[token]) continue;
      logits[token] =
          logits[token] > 0 ? logits[token] / params_.repetition_penalty : logits[token] * params_.repetition_penalty;
    }
  }
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t token : history.generated) {
      if (in_vocab(token)) ++counts[token];
    }
    for (const auto& [token, count] : counts) {
      logits[static_cast<size_t>(token)] -=
          params_.presence_penalty + params_.frequency_penalty * static_cast<float>(count);
    }
  }
  for (const auto& [token, bias] : params_.logit_bias) {
    if (in_vocab(token)) logits[static_cast<size_t>(token)] += bias;
  }
}

RowSampling Sampler::row_sampling() const {
  return RowSampling{params_.temperature, static_cast<float>(std::max(params_.top_k, 0)), params_.top_p, params_.min_p,
                     0.0f};
}

std::vector<float> Sampler::truncated_distribution(std::span<const float> logits) const {
  std::vector<float> probs;
  if (!truncated_probabilities(logits, row_sampling(), probs)) {  // greedy, or nothing finite
    probs.assign(logits.size(), 0.0f);
    if (!logits.empty()) probs[static_cast<size_t>(ranked_argmax(logits))] = 1.0f;
    return probs;
  }
  const double kept_mass = std::accumulate(probs.begin(), probs.end(), 0.0);
  for (float& p : probs) p = static_cast<float>(p / kept_mass);
  return probs;
}

int32_t Sampler::sample(std::span<float> logits, const TokenHistory& history) {
  apply_penalties(logits, history);
  if (params_.temperature == 0.0f) return argmax(logits);
  std::vector<float> probs;
  if (!truncated_probabilities(logits, row_sampling(), probs)) return ranked_argmax(logits);
  const int32_t token = draw_index(probs, next_uniform());
  return token >= 0 ? token : ranked_argmax(logits);
}

double Sampler::next_uniform() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

int32_t argmax(std::span<const float> values) {
  return static_cast<int32_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

std::vector<float> log_softmax(std::span<const float> logits) {
  std::vector<float> out(logits.size());
  if (logits.empty()) return out;
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  double total = 0.0;
  for (float logit : logits) total += std::exp(logit - max_logit);
  const double log_total = std::log(total) + max_logit;
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(logits[i] - log_total);
  return out;
}

}  // namespace ferrum
