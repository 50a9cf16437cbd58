// The three checks every decoder fixture gets, for any model class with the decoder interface
// (hparams().vocab_size, new_state, forward): the full forward against transformers' logits, the
// cached token-by-token decode against the same logits, and the greedy continuation.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "reference_fixture.h"

namespace ferrum::testing {

inline constexpr double kLogitTolerance = 1e-4;  // logits are O(1); f32 arithmetic in a different order

// Max |logit - reference| over every position of the fixture's prompt, run as one forward.
template <class Model>
double full_forward_error(const std::string& name, Model& model) {
  auto ids = reference_ids(name, "input_ids");
  auto expected = reference_tensor(name, "logits");
  EXPECT_TRUE(ids && expected);
  if (!ids || !expected) return INFINITY;
  const size_t vocab = model.hparams().vocab_size;
  auto ctx = CpuBackend::new_context();
  auto state = model.new_state(128, CpuBackend::kActivationDType);
  auto logits = CpuBackend::alloc(ids->size() * vocab, DType::kF32);
  EXPECT_TRUE(state && logits);
  if (!state || !logits) return INFINITY;
  Status status = model.forward(ctx, *ids, *state, *logits, /*all_logits=*/true);
  EXPECT_TRUE(status) << status.error().to_string();
  auto actual = CpuBackend::to_vec(*logits, ids->size() * vocab);
  EXPECT_TRUE(actual);
  if (!status || !actual) return INFINITY;
  return max_abs_difference(*actual, *expected).max_abs;
}

template <class Model>
void expect_full_forward_matches(const std::string& name, Model& model) {
  const double error = full_forward_error(name, model);
  std::printf("%-12s full forward: max |logit - reference| = %.3g\n", name.c_str(), error);
  EXPECT_LT(error, kLogitTolerance);
}

// The prompt's first 11 tokens in one step (in chunks when the model was loaded with a smaller
// batch limit), then one token at a time; every step's logits against the reference row.
template <class Model>
void expect_cached_decode_matches(const std::string& name, Model& model) {
  auto ids = reference_ids(name, "input_ids");
  auto expected = reference_tensor(name, "logits");
  ASSERT_TRUE(ids && expected);
  const size_t vocab = model.hparams().vocab_size;
  auto ctx = CpuBackend::new_context();
  auto state = model.new_state(128, CpuBackend::kActivationDType);
  auto logits = CpuBackend::alloc(vocab, DType::kF32);
  ASSERT_TRUE(state && logits);
  const size_t prompt = 11;
  Status status = model.forward(ctx, std::span(*ids).first(prompt), *state, *logits, false);
  ASSERT_TRUE(status) << status.error().to_string();
  double worst = 0;
  for (size_t t = prompt; t <= ids->size(); ++t) {
    auto row = CpuBackend::to_vec(*logits, vocab);
    ASSERT_TRUE(row);
    const std::vector<float> reference(expected->begin() + static_cast<ptrdiff_t>((t - 1) * vocab),
                                       expected->begin() + static_cast<ptrdiff_t>(t * vocab));
    worst = std::max(worst, max_abs_difference(*row, reference).max_abs);
    if (t == ids->size()) break;
    status = model.forward(ctx, std::span(*ids).subspan(t, 1), *state, *logits, false);
    ASSERT_TRUE(status) << status.error().to_string();
  }
  std::printf("%-12s cached decode: max |logit - reference| = %.3g\n", name.c_str(), worst);
  EXPECT_LT(worst, kLogitTolerance);
}

template <class Model>
void expect_greedy_continuation_matches(const std::string& name, Model& model) {
  auto ids = reference_ids(name, "input_ids");
  auto json = reference_json(name);
  ASSERT_TRUE(ids && json);
  const auto expected = (*json)["greedy_continuation"].get<std::vector<uint32_t>>();
  const size_t vocab = model.hparams().vocab_size;
  auto ctx = CpuBackend::new_context();
  auto state = model.new_state(128, CpuBackend::kActivationDType);
  auto logits = CpuBackend::alloc(vocab, DType::kF32);
  ASSERT_TRUE(state && logits);
  ASSERT_TRUE(model.forward(ctx, *ids, *state, *logits, false));
  std::vector<uint32_t> generated;
  for (size_t step = 0; step < expected.size(); ++step) {
    auto row = CpuBackend::to_vec(*logits, vocab);
    ASSERT_TRUE(row);
    const uint32_t next = static_cast<uint32_t>(std::max_element(row->begin(), row->end()) - row->begin());
    generated.push_back(next);
    ASSERT_TRUE(model.forward(ctx, std::span(&next, 1), *state, *logits, false));
  }
  EXPECT_EQ(generated, expected);
}

}  // namespace ferrum::testing
