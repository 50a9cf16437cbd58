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

bool LogitAdjuster::adjusts(const SamplingParams& params) {
  return params.repetition_penalty != 1.0f || params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f ||
         !params.logit_bias.empty();
}

void LogitAdjuster::append(const SamplingParams& params, const TokenHistory& history, size_t vocab_size, int32_t row,
                           std::vector<LogitAdjustment>& out) {
  if (!adjusts(params)) return;
  if (entry_of_.size() != vocab_size) entry_of_.assign(vocab_size, -1);
  const size_t first = out.size();
  counts_.clear();
  // The entry of `token` (made on first sight), or null for a token outside the vocabulary.
  const auto entry = [&](int32_t token) -> LogitAdjustment* {
    if (token < 0 || static_cast<size_t>(token) >= vocab_size) return nullptr;
    int32_t& index = entry_of_[static_cast<size_t>(token)];
    if (index < 0) {
      index = static_cast<int32_t>(out.size() - first);
      out.push_back({row, token, 1.0f, 0.0f});
      counts_.push_back(0);
    }
    return &out[first + static_cast<size_t>(index)];
  };
  if (params.repetition_penalty != 1.0f) {
    for (std::span<const int32_t> tokens : {history.prompt, history.generated}) {
      for (int32_t token : tokens) {
        if (LogitAdjustment* e = entry(token)) e->repetition = params.repetition_penalty;
      }
    }
  }
  if (params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f) {
    for (int32_t token : history.generated) {
      if (entry(token) != nullptr) ++counts_[static_cast<size_t>(entry_of_[static_cast<size_t>(token)])];
    }
    for (size_t i = 0; i < counts_.size(); ++i) {
      if (counts_[i] > 0) {
        out[first + i].add = -(params.presence_penalty + params.frequency_penalty * static_cast<float>(counts_[i]));
      }
    }
  }
  for (const auto& [token, bias] : params.logit_bias) {
    if (LogitAdjustment* e = entry(token)) e->add += bias;
  }
  for (size_t i = first; i < out.size(); ++i) entry_of_[static_cast<size_t>(out[i].token)] = -1;
}

void apply_adjustments(std::span<float> logits, std::span<const LogitAdjustment> adjustments) {
  for (const LogitAdjustment& e : adjustments) {
    if (e.token < 0 || static_cast<size_t>(e.token) >= logits.size()) continue;
    float& logit = logits[static_cast<size_t>(e.token)];
    logit = adjusted_logit(logit, e.repetition, e.add);
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
  adjustments_.clear();
  adjuster_.append(params_, history, logits.size(), 0, adjustments_);
  return sample_adjusted(logits, adjustments_);
}

int32_t Sampler::sample_adjusted(std::span<float> logits, std::span<const LogitAdjustment> adjustments) {
  apply_adjustments(logits, adjustments);
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
