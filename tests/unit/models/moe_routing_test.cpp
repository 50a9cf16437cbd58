// route_tokens on hand-computed cases: softmax top-k with and without renormalisation, and
// DeepSeek's sigmoid routing with the selection bias, the group limit (including transformers'
// 0, not -inf, for experts of dropped groups) and the routed scaling factor.
#include "models/moe_routing.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ferrum {
namespace {

float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

TEST(MoeRouting, SoftmaxTopKRenormalised) {
  MoeRouting routing;
  routing.num_experts = 4;
  routing.experts_per_token = 2;
  routing.normalize_weights = true;
  ASSERT_TRUE(routing.validate());
  // Two tokens; the second has a tie between experts 0 and 3, which the lower index wins.
  const std::vector<float> logits = {0.0f, 2.0f, -1.0f, 1.0f, 3.0f, 0.0f, 0.0f, 3.0f};
  ExpertAssignment assignment;
  ASSERT_TRUE(route_tokens(routing, logits, 2, {}, assignment));
  EXPECT_EQ(assignment.experts, (std::vector<uint32_t>{1, 3, 0, 3}));
  const float e = std::exp(1.0f);
  EXPECT_NEAR(assignment.weights[0], e / (e + 1), 1e-6);
  EXPECT_NEAR(assignment.weights[1], 1 / (e + 1), 1e-6);
  EXPECT_NEAR(assignment.weights[2], 0.5f, 1e-6);
  EXPECT_NEAR(assignment.weights[3], 0.5f, 1e-6);
}

TEST(MoeRouting, SoftmaxTopKKeepsProbabilitiesWithoutRenormalisation) {
  MoeRouting routing;
  routing.num_experts = 3;
  routing.experts_per_token = 1;
  const std::vector<float> logits = {0.0f, 0.0f, std::log(2.0f)};
  ExpertAssignment assignment;
  ASSERT_TRUE(route_tokens(routing, logits, 1, {}, assignment));
  EXPECT_EQ(assignment.experts, (std::vector<uint32_t>{2}));
  EXPECT_NEAR(assignment.weights[0], 0.5f, 1e-6);
}

TEST(MoeRouting, SigmoidGroupLimitedWithBias) {
  MoeRouting routing;
  routing.num_experts = 8;
  routing.experts_per_token = 2;
  routing.scoring = MoeScoring::kSigmoid;
  routing.normalize_weights = true;
  routing.num_groups = 2;
  routing.groups_per_token = 1;
  routing.routed_scaling_factor = 2.5f;
  ASSERT_TRUE(routing.validate());
  // Group 0 = experts 0..3, group 1 = experts 4..7. Unbiased, expert 0 is the best single expert,
  // but group 1's two best biased scores sum higher, so only group 1 is eligible. The bias also
  // lifts expert 6 above expert 5 for the choice while the weights stay unbiased.
  const std::vector<float> logits = {3.0f, -2.0f, -2.0f, -2.0f, 1.0f, 1.5f, 1.0f, -3.0f};
  const std::vector<float> bias = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.6f, 0.0f};
  ExpertAssignment assignment;
  ASSERT_TRUE(route_tokens(routing, logits, 1, bias, assignment));
  EXPECT_EQ(assignment.experts, (std::vector<uint32_t>{6, 5}));
  const float s5 = sigmoid(1.5f), s6 = sigmoid(1.0f);
  EXPECT_NEAR(assignment.weights[0], 2.5f * s6 / (s5 + s6), 1e-6);
  EXPECT_NEAR(assignment.weights[1], 2.5f * s5 / (s5 + s6), 1e-6);
}

TEST(MoeRouting, ExpertsOfDroppedGroupsScoreZeroNotMinusInfinity) {
  MoeRouting routing;
  routing.num_experts = 4;
  routing.experts_per_token = 2;
  routing.scoring = MoeScoring::kSigmoid;
  routing.num_groups = 2;
  routing.groups_per_token = 1;
  // Group 1 (experts 2, 3) wins on its summed biased scores, but expert 3's biased score is
  // negative: transformers masks group 0 with 0, which outranks it, so expert 0 (first of the
  // zeros) is chosen second.
  const std::vector<float> logits = {0.0f, 0.0f, 4.0f, 0.0f};
  const std::vector<float> bias = {-0.9f, -0.9f, 0.0f, -0.8f};
  ExpertAssignment assignment;
  ASSERT_TRUE(route_tokens(routing, logits, 1, bias, assignment));
  EXPECT_EQ(assignment.experts, (std::vector<uint32_t>{2, 0}));
  EXPECT_NEAR(assignment.weights[0], sigmoid(4.0f), 1e-6);
  EXPECT_NEAR(assignment.weights[1], 0.5f, 1e-6);
}

TEST(MoeRouting, RefusesWhatItCannotRoute) {
  MoeRouting routing;
  routing.num_experts = 8;
  routing.experts_per_token = 9;
  EXPECT_EQ(routing.validate().error().code(), ErrorCode::kInvalidArgument);
  routing.experts_per_token = 2;
  routing.num_groups = 2;  // group limits over softmax scores are DeepSeek V2's
  EXPECT_EQ(routing.validate().error().code(), ErrorCode::kUnsupported);
  routing.scoring = MoeScoring::kSigmoid;
  routing.num_groups = 3;
  EXPECT_EQ(routing.validate().error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ferrum
