// adjust_logits (the engine's penalties and logit bias) and log_softmax_at (its log-probabilities).
// adjust_logits is checked exactly against HF's repetition penalty (torch.where(x < 0, x * r, x / r))
// followed by the addition, each step in double and rounded to f32 (exact for one operation);
// the entries include ones outside the logits, past the count and past the capacity. log_softmax_at
// is checked against a double log-sum-exp, with ids outside the row and rows of -inf.
#include <cmath>
#include <cstring>
#include <limits>

#include "op_test.h"

namespace ferrum::op_test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// The adjustments buffer's words: a header holding `count`, then the entries.
std::vector<uint8_t> adjustment_words(int32_t count, const std::vector<LogitAdjustment>& entries) {
  std::vector<uint8_t> bytes((1 + entries.size()) * sizeof(LogitAdjustment), 0);
  std::memcpy(bytes.data(), &count, sizeof(count));
  std::memcpy(bytes.data() + sizeof(LogitAdjustment), entries.data(), entries.size() * sizeof(LogitAdjustment));
  return bytes;
}

float hf_adjusted(float x, float repetition, float add) {
  const auto penalised = static_cast<float>(x < 0 ? double{x} * repetition : double{x} / repetition);
  return static_cast<float>(double{penalised} + add);
}

// `entries` distinct (row, token) pairs inside [rows, cols], then `outside` naming rows or tokens
// outside it; `count` of them are live (a negative count means none).
template <Backend B>
CaseResult run_adjust(size_t rows, size_t cols, size_t entries, int32_t count, size_t capacity_extra) {
  Rng rng(rows * 131 + cols + entries);
  std::vector<float> x = random_values(rng, rows * cols, DType::kF32, -6.0f, 6.0f);
  if (!x.empty()) x[0] = 0.0f;  // neither above nor below 0
  std::vector<LogitAdjustment> list;
  std::vector<bool> named(rows * cols, false);
  while (list.size() < std::min(entries, rows * cols)) {
    const size_t at = rng.below(rows * cols);
    if (named[at]) continue;
    named[at] = true;
    const float repetition = list.size() % 3 == 0 ? 1.0f : rng.uniform(0.5f, 2.0f);
    list.push_back({static_cast<int32_t>(at / cols), static_cast<int32_t>(at % cols), repetition,
                    list.size() % 4 == 1 ? 0.0f : rng.uniform(-3.0f, 3.0f)});
  }
  list.push_back({static_cast<int32_t>(rows), 0, 2.0f, 5.0f});  // outside: skipped
  list.push_back({0, static_cast<int32_t>(cols), 2.0f, 5.0f});
  list.push_back({-1, 0, 2.0f, 5.0f});
  list.push_back({0, -3, 2.0f, 5.0f});
  // Entries the capacity leaves out look live to a count past it.
  const size_t capacity = list.size() - capacity_extra;
  const std::vector<uint8_t> bytes = adjustment_words(count, list);
  std::vector<double> expected(x.begin(), x.end());
  const size_t live = std::min(static_cast<size_t>(std::max(count, 0)), capacity);
  for (size_t i = 0; i < live; ++i) {
    const LogitAdjustment& e = list[i];
    if (e.row < 0 || e.token < 0 || static_cast<size_t>(e.row) >= rows || static_cast<size_t>(e.token) >= cols)
      continue;
    const size_t at = static_cast<size_t>(e.row) * cols + static_cast<size_t>(e.token);
    expected[at] = hf_adjusted(x[at], e.repetition, e.add);
  }
  OP_ASSIGN(auto xb, upload<B>(x, DType::kF32));
  const size_t words = (1 + capacity) * kLogitAdjustmentWords;
  OP_ASSIGN(auto ab,
            B::from_bytes(std::span<const uint8_t>(bytes.data(), words * sizeof(int32_t)), DType::kI32, words));
  auto ctx = B::new_context();
  OP_TRY(B::adjust_logits(ctx, xb, ab, rows, cols));
  OP_ASSIGN(auto actual, download<B>(ctx, xb, rows * cols));
  return compare(actual, expected, kExact);
}

// log_softmax_at over random rows; row 1 is all -inf when there are several, and some ids fall
// outside the row.
template <Backend B>
CaseResult run_log_softmax_at(size_t rows, size_t cols, size_t k) {
  Rng rng(rows * 7 + cols * 3 + k);
  std::vector<float> x = random_values(rng, rows * cols, DType::kF32, -12.0f, 12.0f);
  if (cols > 2) x[rng.below(cols)] = -kInf;
  if (rows > 2) std::fill_n(x.begin() + static_cast<ptrdiff_t>(cols), cols, -kInf);
  std::vector<float> ids(rows * k);
  for (size_t i = 0; i < ids.size(); ++i) {
    ids[i] = i % 11 == 5 ? static_cast<float>(cols) : i % 13 == 7 ? -1.0f : static_cast<float>(rng.below(cols));
  }
  // Expected in double; NaN and -inf compared as classes, the finite values numerically.
  std::vector<double> expected(rows * k);
  for (size_t r = 0; r < rows; ++r) {
    double top = -INFINITY;
    for (size_t c = 0; c < cols; ++c) top = std::max(top, double{x[r * cols + c]});
    double total = 0.0;
    for (size_t c = 0; c < cols; ++c) total += std::exp(double{x[r * cols + c]} - top);
    for (size_t j = 0; j < k; ++j) {
      const auto id = static_cast<int64_t>(ids[r * k + j]);
      expected[r * k + j] = id < 0 || static_cast<size_t>(id) >= cols ? NAN
                            : top == -INFINITY                        ? -INFINITY
                                               : x[r * cols + static_cast<size_t>(id)] - top - std::log(total);
    }
  }
  OP_ASSIGN(auto xb, upload<B>(x, DType::kF32));
  OP_ASSIGN(auto ib, upload<B>(ids, DType::kI32));
  OP_ASSIGN(auto out, B::alloc(rows * k, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::log_softmax_at(ctx, xb, ib, out, rows, cols, k));
  OP_ASSIGN(auto actual, download<B>(ctx, out, rows * k));
  const auto kind = [](double v) { return std::isnan(v) ? 1.0 : std::isinf(v) ? (v < 0 ? 2.0 : 3.0) : 0.0; };
  std::vector<float> actual_kinds, finite_actual;
  std::vector<double> expected_kinds, finite_expected;
  for (size_t i = 0; i < expected.size(); ++i) {
    actual_kinds.push_back(static_cast<float>(kind(actual[i])));
    expected_kinds.push_back(kind(expected[i]));
    if (kind(expected[i]) == 0.0 && kind(actual[i]) == 0.0) {
      finite_actual.push_back(actual[i]);
      finite_expected.push_back(expected[i]);
    }
  }
  return compare_all(
      {compare(actual_kinds, expected_kinds, kExact), compare(finite_actual, finite_expected, kF32Math)});
}

template <Backend B>
void add_cases(CaseList& cases) {
  struct AdjustShape {
    size_t rows, cols, entries;
    int32_t count;
    size_t capacity_extra;
    const char* note;
  };
  for (const AdjustShape& s :
       {AdjustShape{1, 1, 1, 5, 0, "every entry live"}, AdjustShape{3, 17, 20, 24, 0, "every entry live"},
        AdjustShape{3, 17, 20, 9, 0, "count below the entries"},
        AdjustShape{5, 33, 40, 1000, 6, "count past the capacity"}, AdjustShape{4, 9, 6, -2, 0, "negative count"},
        AdjustShape{2, 0, 0, 4, 0, "no columns"},
        AdjustShape{64, 32000, 70000, 70004, 0, "more entries than threads"}}) {
    add_case<B>(cases, "adjust_logits",
                shape_name({{"rows", s.rows}, {"cols", s.cols}, {"entries", s.entries}}) + " " + s.note, "f32",
                s.entries > 10000, [=] { return run_adjust<B>(s.rows, s.cols, s.entries, s.count, s.capacity_extra); });
  }
  for (auto [rows, cols, k] : {std::tuple<size_t, size_t, size_t>{1, 1, 1},
                               {4, 17, 3},
                               {3, 4097, 21},
                               {7, 32000, 1},
                               {2, 128256, 20},
                               {3, 5, 0}}) {
    add_case<B>(cases, "log_softmax_at", shape_name({{"rows", rows}, {"cols", cols}, {"k", k}}), "f32", cols > 100000,
                [=] { return run_log_softmax_at<B>(rows, cols, k); });
  }

  using Buffer = typename B::Buffer;
  add_error_case<B>(cases, "adjust_logits", "a partial entry", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(12, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer adjustments, B::alloc(6, DType::kI32));
    auto ctx = B::new_context();
    return B::adjust_logits(ctx, x, adjustments, 3, 4);
  });
  add_error_case<B>(cases, "adjust_logits", "f32 adjustments", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(12, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer adjustments, B::alloc(8, DType::kF32));
    auto ctx = B::new_context();
    return B::adjust_logits(ctx, x, adjustments, 3, 4);
  });
  add_error_case<B>(cases, "log_softmax_at", "ids too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(12, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer ids, B::alloc(5, DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(6, DType::kF32));
    auto ctx = B::new_context();
    return B::log_softmax_at(ctx, x, ids, out, 3, 4, 2);
  });
}

}  // namespace

void add_logit_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
