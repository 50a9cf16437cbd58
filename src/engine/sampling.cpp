#include "engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ferrum {
namespace {

uint64_t initial_seed(const SamplingParams& params) {
  if (params.has_seed) return params.seed;
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

// Token ids ordered by descending probability, lowest id first among equals; only the first `keep`
// positions are guaranteed sorted (the rest are the remaining ids in any order).
std::vector<int32_t> ids_by_probability(std::span<const float> probs, size_t keep) {
  std::vector<int32_t> ids(probs.size());
  std::iota(ids.begin(), ids.end(), 0);
  const auto higher = [&](int32_t a, int32_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); };
  keep = std::min(keep, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(keep), ids.end(), higher);
  return ids;
}

// Top-p alone, without sorting the whole vocabulary: a token with p < (1 - top_p) / n cannot be in
// the top-p set (all such tokens together hold less than 1 - top_p), so only the others are ordered
// (descending probability, lowest id first among equals). Returns how many of them the set keeps,
// or 0 when f32 rounding leaves their mass short of top_p (the caller then sorts everything).
size_t top_p_alone(std::span<const float> probs, float top_p, std::vector<int32_t>& order) {
  const double floor = (1.0 - static_cast<double>(top_p)) / static_cast<double>(probs.size());
  order.clear();
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] >= floor) order.push_back(static_cast<int32_t>(i));
  }
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); });
  double cumulative = 0.0;
  for (size_t i = 0; i < order.size(); ++i) {
    cumulative += probs[static_cast<size_t>(order[i])];
    if (cumulative >= top_p) return i + 1;
  }
  return 0;
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

std::vector<float> Sampler::truncated_distribution(std::span<const float> logits) const {
  std::vector<float> probs(logits.size(), 0.0f);
  if (logits.empty()) return probs;
  if (params_.temperature == 0.0f) {
    probs[static_cast<size_t>(argmax(logits))] = 1.0f;
    return probs;
  }
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    probs[i] = static_cast<float>(std::exp(static_cast<double>(logits[i] - max_logit) / params_.temperature));
    total += probs[i];
  }
  for (float& p : probs) p = static_cast<float>(p / total);

  const size_t top_k =
      params_.top_k > 0 ? std::min<size_t>(static_cast<size_t>(params_.top_k), probs.size()) : probs.size();
  const bool needs_order = top_k < probs.size() || params_.top_p < 1.0f;
  size_t kept = probs.size();
  std::vector<int32_t> order;
  const size_t top_p_kept =
      top_k == probs.size() && params_.top_p < 1.0f ? top_p_alone(probs, params_.top_p, order) : 0;
  if (top_p_kept > 0) {
    kept = top_p_kept;
  } else if (needs_order) {
    order = ids_by_probability(probs, top_k);
    kept = top_k;
    if (params_.top_p < 1.0f) {
      double cumulative = 0.0;
      for (size_t i = 0; i < kept; ++i) {
        cumulative += probs[static_cast<size_t>(order[i])];
        if (cumulative >= params_.top_p) {
          kept = i + 1;
          break;
        }
      }
    }
  }
  if (needs_order) {
    std::vector<float> truncated(probs.size(), 0.0f);
    for (size_t i = 0; i < kept; ++i) truncated[static_cast<size_t>(order[i])] = probs[static_cast<size_t>(order[i])];
    probs = std::move(truncated);
  }
  if (params_.min_p > 0.0f) {
    const float threshold = params_.min_p * *std::max_element(probs.begin(), probs.end());
    for (float& p : probs) {
      if (p < threshold) p = 0.0f;
    }
  }
  const double kept_mass = std::accumulate(probs.begin(), probs.end(), 0.0);
  for (float& p : probs) p = static_cast<float>(p / kept_mass);
  return probs;
}

int32_t Sampler::sample(std::span<float> logits, const TokenHistory& history) {
  apply_penalties(logits, history);
  if (params_.temperature == 0.0f) return argmax(logits);
  const std::vector<float> probs = truncated_distribution(logits);
  const double draw = next_uniform();
  double cumulative = 0.0;
  int32_t last_candidate = argmax(probs);
  for (size_t token = 0; token < probs.size(); ++token) {
    if (probs[token] == 0.0f) continue;
    cumulative += probs[token];
    last_candidate = static_cast<int32_t>(token);
    if (draw < cumulative) return last_candidate;
  }
  return last_candidate;  // rounding left the draw just above the total mass
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
