// How a mixture-of-experts layer picks experts for each token from its router logits, and with
// which weights their outputs are summed. Host code over logits read back from the backend: the
// routing of one step is a few thousand values, and the choice decides which GEMMs run next.
//
// Two schemes, as transformers computes them (float32 throughout):
//   softmax (Qwen3-MoE, Mixtral)   p = softmax(logits); the top-k of p; weights = those p,
//                                  renormalised to sum 1 when normalize_weights.
//   sigmoid (DeepSeek V3)          s = sigmoid(logits); experts are chosen on s + selection_bias
//                                  (e_score_correction_bias), group-limited when num_groups > 1:
//                                  a group scores the sum of its two best biased scores, only the
//                                  groups_per_token best groups stay eligible and the others'
//                                  scores are replaced by 0 (transformers' masked_fill value, not
//                                  -inf); the weights are the unbiased s of the chosen experts,
//                                  divided by their sum (+1e-20) when normalize_weights, times
//                                  routed_scaling_factor.
// Ties rank the lower expert index first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/error.h"
#include "formats/model_config.h"

namespace ferrum {

struct MoeRouting {
  size_t num_experts = 0;
  size_t experts_per_token = 0;  // top-k
  MoeScoring scoring = MoeScoring::kSoftmax;
  bool normalize_weights = false;  // norm_topk_prob
  size_t num_groups = 1;           // n_group; > 1 limits each token to groups_per_token groups
  size_t groups_per_token = 1;     // topk_group
  float routed_scaling_factor = 1.0f;

  Status validate() const;
};

// The experts of each token and the weights of their outputs, [tokens, experts_per_token] each.
struct ExpertAssignment {
  std::vector<uint32_t> experts;
  std::vector<float> weights;
};

// logits: [tokens, num_experts]. selection_bias: num_experts values added to the scores for the
// choice only (sigmoid scoring), or empty.
Status route_tokens(const MoeRouting& routing, std::span<const float> logits, size_t tokens,
                    std::span<const float> selection_bias, ExpertAssignment& assignment);

// The routing a parsed MoeConfig describes.
MoeRouting moe_routing_from_config(const MoeConfig& config);

}  // namespace ferrum
