#include "engine/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace ferrum {
namespace {

std::vector<float> logits_for(std::initializer_list<double> probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

size_t kept_count(const std::vector<float>& probs) {
  return static_cast<size_t>(std::count_if(probs.begin(), probs.end(), [](float p) { return p > 0; }));
}

TEST(Sampling, GreedyTakesLowestIdOnTies) {
  Sampler sampler({.temperature = 0.0f});
  std::vector<float> logits = {0.1f, 3.0f, -2.0f, 3.0f};
  EXPECT_EQ(sampler.sample(logits, {}), 1);
}

TEST(Sampling, TopKKeepsExactlyK) {
  Sampler sampler({.temperature = 1.0f, .top_k = 2});
  const auto probs = sampler.truncated_distribution(logits_for({0.1, 0.4, 0.2, 0.3}));
  EXPECT_EQ(kept_count(probs), 2u);
  EXPECT_NEAR(probs[1], 0.4 / 0.7, 1e-6);
  EXPECT_NEAR(probs[3], 0.3 / 0.7, 1e-6);
}

TEST(Sampling, TopPKeepsExactlyTheNucleus) {
  const auto logits = logits_for({0.05, 0.5, 0.15, 0.3});
  EXPECT_EQ(kept_count(Sampler({.top_p = 0.49f}).truncated_distribution(logits)), 1u);
  EXPECT_EQ(kept_count(Sampler({.top_p = 0.79f}).truncated_distribution(logits)), 2u);
  EXPECT_EQ(kept_count(Sampler({.top_p = 0.81f}).truncated_distribution(logits)), 3u);
  EXPECT_EQ(kept_count(Sampler({.top_p = 1.0f}).truncated_distribution(logits)), 4u);
  const auto probs = Sampler({.top_p = 0.79f}).truncated_distribution(logits);
  EXPECT_NEAR(probs[1], 0.5 / 0.8, 1e-6);
  EXPECT_NEAR(probs[3], 0.3 / 0.8, 1e-6);
}

TEST(Sampling, MinPDropsUnlikelyTokens) {
  const auto probs = Sampler({.min_p = 0.5f}).truncated_distribution(logits_for({0.05, 0.5, 0.15, 0.3}));
  EXPECT_EQ(kept_count(probs), 2u);  // 0.3 >= 0.25 stays, 0.15 goes
  EXPECT_GT(probs[3], 0.0f);
}

TEST(Sampling, TemperatureSharpens) {
  const auto logits = logits_for({0.25, 0.75});
  const auto probs = Sampler({.temperature = 0.5f}).truncated_distribution(logits);
  EXPECT_NEAR(probs[1], 0.75 * 0.75 / (0.75 * 0.75 + 0.25 * 0.25), 1e-6);
}

TEST(Sampling, SeedReproducesTheSequence) {
  const auto logits = logits_for({0.1, 0.2, 0.3, 0.4});
  auto draw_sequence = [&](uint64_t seed) {
    Sampler sampler({.seed = seed, .has_seed = true});
    std::vector<int32_t> tokens;
    for (int i = 0; i < 64; ++i) {
      std::vector<float> row = logits;
      tokens.push_back(sampler.sample(row, {}));
    }
    return tokens;
  };
  EXPECT_EQ(draw_sequence(7), draw_sequence(7));
  EXPECT_NE(draw_sequence(7), draw_sequence(8));
}

TEST(Sampling, DrawsFollowTheDistribution) {
  const auto logits = logits_for({0.1, 0.2, 0.3, 0.4});
  Sampler sampler({.seed = 1, .has_seed = true});
  std::map<int32_t, int> counts;
  constexpr int kDraws = 40000;
  for (int i = 0; i < kDraws; ++i) {
    std::vector<float> row = logits;
    ++counts[sampler.sample(row, {})];
  }
  for (int token = 0; token < 4; ++token) {
    const double expected = 0.1 * (token + 1);
    // Five standard deviations of a binomial proportion: fails only on a real bias.
    const double sigma = std::sqrt(expected * (1 - expected) / kDraws);
    EXPECT_NEAR(counts[token] / static_cast<double>(kDraws), expected, 5 * sigma) << "token " << token;
  }
}

TEST(Sampling, PenaltiesAndBias) {
  Sampler sampler({.temperature = 0.0f,
                   .repetition_penalty = 2.0f,
                   .presence_penalty = 0.5f,
                   .frequency_penalty = 0.25f,
                   .logit_bias = {{3, 10.0f}}});
  std::vector<float> logits = {4.0f, -1.0f, 1.0f, 0.0f};
  const std::vector<int32_t> prompt = {0, 1};
  const std::vector<int32_t> generated = {2, 2};
  EXPECT_EQ(sampler.sample(logits, {prompt, generated}), 3);
  EXPECT_FLOAT_EQ(logits[0], 2.0f);                       // positive: divided
  EXPECT_FLOAT_EQ(logits[1], -2.0f);                      // negative: multiplied
  EXPECT_FLOAT_EQ(logits[2], 1.0f / 2.0f - 0.5f - 0.5f);  // repetition, then presence + 2 x frequency
  EXPECT_FLOAT_EQ(logits[3], 10.0f);
}

TEST(Sampling, ValidationNamesTheParameter) {
  Status bad_top_p = validate_sampling_params({.top_p = 0.0f}, 10);
  ASSERT_FALSE(bad_top_p);
  EXPECT_NE(bad_top_p.error().message().find("top_p"), std::string::npos);
  EXPECT_FALSE(validate_sampling_params({.temperature = -1.0f}, 10));
  EXPECT_FALSE(validate_sampling_params({.logit_bias = {{10, 1.0f}}}, 10));
  EXPECT_TRUE(validate_sampling_params({.top_k = 5, .top_p = 0.9f}, 10));
}

TEST(Sampling, LogSoftmaxNormalises) {
  const auto logprobs = log_softmax(std::vector<float>{1.0f, 2.0f, 3.0f});
  double total = 0;
  for (float lp : logprobs) total += std::exp(lp);
  EXPECT_NEAR(total, 1.0, 1e-6);
  EXPECT_NEAR(logprobs[2] - logprobs[1], 1.0, 1e-6);
}

}  // namespace
}  // namespace ferrum
