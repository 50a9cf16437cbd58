// A model split over 2 (and 4) CPU ranks computes what the whole model computes: every hf-tiny
// decoder's logits over its prompt (prefill in chunks, then cached decode) agree with one rank's
// to f32 rounding, the greedy continuations are identical, and every rank ends up with the same
// logits. Each rank is a thread of this process with its own context on a loopback rank group.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "local_group.h"
#include "models/causal_lm_factory.h"
#include "unit/models/reference_fixture.h"

namespace ferrum {
namespace {

using testing::hf_tiny_dir;

constexpr double kTpTolerance = 1e-4;  // f32 partial sums added in another order
constexpr size_t kGreedyTokens = 16;

struct RunOutputs {
  std::vector<float> prompt_logits;  // forward_all over the prompt, [tokens, vocab]
  std::vector<float> decode_logits;  // the last-token logits of each greedy step
  std::vector<uint32_t> greedy;
  std::string error;
};

// Runs the fixture's prompt and a greedy continuation on one rank (group null: the whole model).
RunOutputs run_model(const std::string& name, std::shared_ptr<dist::RankGroup> group) {
  RunOutputs outputs;
  const auto fail = [&](const Error& error) {
    outputs.error = error.to_string();
    return outputs;
  };
  auto ids = testing::reference_ids(name, "input_ids");
  if (!ids) return fail(ids.error());
  auto files = open_model_files(hf_tiny_dir(name).string());
  if (!files) return fail(files.error());
  ModelRuntimeOptions runtime;
  runtime.max_context = 128;
  runtime.max_batch_tokens = 7;  // prefill in uneven chunks
  runtime.rank_group = std::move(group);
  auto lm = create_cpu_causal_lm(*files, runtime);
  if (!lm) return fail(lm.error());

  auto prompt_state = (*lm)->new_sequence(128);
  if (!prompt_state) return fail(prompt_state.error());
  auto prompt_logits = (*lm)->forward_all(**prompt_state, *ids);
  if (!prompt_logits) return fail(prompt_logits.error());
  outputs.prompt_logits = std::move(*prompt_logits);

  auto state = (*lm)->new_sequence(128);
  if (!state) return fail(state.error());
  auto logits = (*lm)->forward(**state, *ids);
  for (size_t step = 0; step < kGreedyTokens; ++step) {
    if (!logits) return fail(logits.error());
    outputs.decode_logits.insert(outputs.decode_logits.end(), logits->begin(), logits->end());
    const auto next = static_cast<uint32_t>(std::max_element(logits->begin(), logits->end()) - logits->begin());
    outputs.greedy.push_back(next);
    logits = (*lm)->forward(**state, std::span(&next, 1));
  }
  return outputs;
}

double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::fabs(a[i] - b[i])));
  return worst;
}

struct TpCase {
  std::string fixture;
  size_t ranks;
};

class TensorParallelLogits : public ::testing::TestWithParam<TpCase> {};

TEST_P(TensorParallelLogits, MatchOneRank) {
  const auto [name, ranks] = GetParam();
  const RunOutputs whole = run_model(name, nullptr);
  ASSERT_TRUE(whole.error.empty()) << whole.error;

  auto groups = testing::make_local_groups(ranks);
  ASSERT_EQ(groups.size(), ranks);
  std::vector<RunOutputs> sharded(ranks);
  testing::run_on_every_rank(ranks, [&](size_t rank) { sharded[rank] = run_model(name, groups[rank]); });
  for (size_t rank = 0; rank < ranks; ++rank) ASSERT_TRUE(sharded[rank].error.empty()) << sharded[rank].error;

  const double prompt_error = max_difference(sharded[0].prompt_logits, whole.prompt_logits);
  const double decode_error = max_difference(sharded[0].decode_logits, whole.decode_logits);
  auto reference = testing::reference_tensor(name, "logits");
  ASSERT_TRUE(reference);
  const double reference_error = max_difference(sharded[0].prompt_logits, *reference);
  std::printf("%-12s TP=%zu vs TP=1: prompt max |dlogit| %.3g, decode %.3g; vs transformers %.3g\n", name.c_str(),
              ranks, prompt_error, decode_error, reference_error);
  EXPECT_LT(prompt_error, kTpTolerance);
  EXPECT_LT(decode_error, kTpTolerance);
  EXPECT_LT(reference_error, kTpTolerance);
  EXPECT_EQ(sharded[0].greedy, whole.greedy);
  for (size_t rank = 1; rank < ranks; ++rank) {
    // all_gather hands every rank the same bytes.
    EXPECT_EQ(sharded[rank].prompt_logits, sharded[0].prompt_logits) << "rank " << rank;
    EXPECT_EQ(sharded[rank].greedy, sharded[0].greedy) << "rank " << rank;
  }
}

INSTANTIATE_TEST_SUITE_P(HfTiny, TensorParallelLogits,
                         ::testing::Values(TpCase{"llama3", 2}, TpCase{"qwen3", 2}, TpCase{"qwen2", 2},
                                           TpCase{"mistral_swa", 2}, TpCase{"gemma3", 2}, TpCase{"qwen3_moe", 2},
                                           TpCase{"deepseek_v3", 2}, TpCase{"llama3", 4}, TpCase{"deepseek_v3", 4}),
                         [](const ::testing::TestParamInfo<TpCase>& info) {
                           return info.param.fixture + "_tp" + std::to_string(info.param.ranks);
                         });

TEST(TensorParallelLoad, ShapesThatDoNotSplitAreRefusedOnEveryRank) {
  auto groups = testing::make_local_groups(3);
  ASSERT_EQ(groups.size(), 3u);
  std::vector<RunOutputs> outputs(3);
  testing::run_on_every_rank(3, [&](size_t rank) { outputs[rank] = run_model("llama3", groups[rank]); });
  for (size_t rank = 0; rank < 3; ++rank) {
    std::printf("rank %zu: %s\n", rank, outputs[rank].error.c_str());
    EXPECT_NE(outputs[rank].error.find("cannot be split evenly over 3 tensor-parallel ranks"), std::string::npos);
  }
}

}  // namespace
}  // namespace ferrum
