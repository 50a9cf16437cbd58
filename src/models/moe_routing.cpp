#include "models/moe_routing.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ferrum {
namespace {

// Indices of the k largest scores, best first; equal scores keep the lower index first.
void top_k_indices(std::span<const float> scores, size_t k, std::vector<uint32_t>& order) {
  order.resize(scores.size());
  std::iota(order.begin(), order.end(), 0u);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](uint32_t a, uint32_t b) { return scores[a] > scores[b] || (scores[a] == scores[b] && a < b); });
  order.resize(k);
}

void softmax_in_place(std::span<float> values) {
  const float max = *std::max_element(values.begin(), values.end());
  float sum = 0.0f;
  for (float& value : values) {
    value = std::exp(value - max);
    sum += value;
  }
  for (float& value : values) value /= sum;
}

// Zeroes the biased scores of experts outside the best groups (see the header for the rule).
void limit_to_best_groups(const MoeRouting& routing, std::span<float> choice, std::vector<float>& group_scores,
                          std::vector<uint32_t>& order) {
  const size_t group_size = routing.num_experts / routing.num_groups;
  group_scores.assign(routing.num_groups, 0.0f);
  for (size_t group = 0; group < routing.num_groups; ++group) {
    top_k_indices(choice.subspan(group * group_size, group_size), 2, order);
    group_scores[group] = choice[group * group_size + order[0]] + choice[group * group_size + order[1]];
  }
  top_k_indices(group_scores, routing.groups_per_token, order);
  std::vector<bool> kept(routing.num_groups, false);
  for (uint32_t group : order) kept[group] = true;
  for (size_t expert = 0; expert < routing.num_experts; ++expert) {
    if (!kept[expert / group_size]) choice[expert] = 0.0f;
  }
}

}  // namespace

Status MoeRouting::validate() const {
  FERRUM_CHECK(num_experts > 0 && experts_per_token > 0 && experts_per_token <= num_experts,
               ErrorCode::kInvalidArgument, "moe routing: top-", experts_per_token, " of ", num_experts, " experts");
  FERRUM_CHECK(
      num_groups > 0 && num_experts % num_groups == 0 && groups_per_token > 0 && groups_per_token <= num_groups,
      ErrorCode::kInvalidArgument, "moe routing: ", num_experts, " experts in ", num_groups, " groups with ",
      groups_per_token, " groups per token");
  if (num_groups > 1) {
    FERRUM_CHECK(scoring == MoeScoring::kSigmoid, ErrorCode::kUnsupported,
                 "moe routing: group-limited routing over softmax scores (DeepSeek V2) is not supported");
    FERRUM_CHECK(num_experts / num_groups >= 2, ErrorCode::kInvalidArgument, "moe routing: groups of ",
                 num_experts / num_groups, " experts; a group's score needs its two best experts");
    FERRUM_CHECK(groups_per_token * (num_experts / num_groups) >= experts_per_token, ErrorCode::kInvalidArgument,
                 "moe routing: ", groups_per_token, " groups of ", num_experts / num_groups, " experts cannot supply ",
                 experts_per_token, " experts per token");
  }
  return ok();
}

Status route_tokens(const MoeRouting& routing, std::span<const float> logits, size_t tokens,
                    std::span<const float> selection_bias, ExpertAssignment& assignment) {
  const size_t experts = routing.num_experts;
  const size_t k = routing.experts_per_token;
  FERRUM_CHECK(logits.size() >= tokens * experts, ErrorCode::kShapeMismatch, "moe routing: ", logits.size(),
               " logits for ", tokens, " tokens x ", experts, " experts");
  FERRUM_CHECK(selection_bias.empty() || selection_bias.size() == experts, ErrorCode::kShapeMismatch,
               "moe routing: selection bias of ", selection_bias.size(), " values for ", experts, " experts");
  FERRUM_CHECK(selection_bias.empty() || routing.scoring == MoeScoring::kSigmoid, ErrorCode::kUnsupported,
               "moe routing: a selection bias needs sigmoid scoring");
  assignment.experts.resize(tokens * k);
  assignment.weights.resize(tokens * k);
  std::vector<float> scores(experts), choice(experts), group_scores;
  std::vector<uint32_t> chosen, order;
  for (size_t token = 0; token < tokens; ++token) {
    std::copy_n(logits.begin() + static_cast<std::ptrdiff_t>(token * experts), experts, scores.begin());
    if (routing.scoring == MoeScoring::kSoftmax) {
      softmax_in_place(scores);
      choice = scores;
    } else {
      for (size_t e = 0; e < experts; ++e) {
        scores[e] = 1.0f / (1.0f + std::exp(-scores[e]));
        choice[e] = selection_bias.empty() ? scores[e] : scores[e] + selection_bias[e];
      }
      if (routing.num_groups > 1) limit_to_best_groups(routing, choice, group_scores, order);
    }
    top_k_indices(choice, k, chosen);

    float sum = 0.0f;
    for (size_t i = 0; i < k; ++i) sum += scores[chosen[i]];
    // Sigmoid weights guard the division as transformers does; softmax ones cannot sum to 0.
    const float denominator = routing.scoring == MoeScoring::kSigmoid ? sum + 1e-20f : sum;
    for (size_t i = 0; i < k; ++i) {
      float weight = scores[chosen[i]];
      if (routing.normalize_weights) weight /= denominator;
      assignment.experts[token * k + i] = chosen[i];
      assignment.weights[token * k + i] = weight * routing.routed_scaling_factor;
    }
  }
  return ok();
}

MoeRouting moe_routing_from_config(const MoeConfig& config) {
  MoeRouting routing;
  routing.num_experts = static_cast<size_t>(config.num_experts);
  routing.experts_per_token = static_cast<size_t>(config.num_experts_per_tok);
  routing.scoring = config.scoring;
  routing.normalize_weights = config.norm_topk_prob;
  routing.num_groups = static_cast<size_t>(std::max<int64_t>(config.num_groups, 1));
  routing.groups_per_token = static_cast<size_t>(std::max<int64_t>(config.topk_groups, 1));
  routing.routed_scaling_factor = static_cast<float>(config.routed_scaling_factor);
  return routing;
}

}  // namespace ferrum
