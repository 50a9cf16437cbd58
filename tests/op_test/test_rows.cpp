// Row reductions over logits: softmax_rows (with fully and partly masked rows), argmax_rows,
// topk_rows (with ties, -inf and NaN, whose ranking the contract pins down) and argmax_gathered
// (a row's argmax from its column slices' top picks, as tensor parallelism splits a vocabulary).
#include <cmath>
#include <limits>
#include <type_traits>

#include "op_test.h"
#include "reference_ops.h"

namespace ferrum::op_test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Random logits in [-10, 10) quantised to steps of 1/4 so ties are common, with special values
// sprinkled in when asked.
std::vector<float> logits(size_t rows, size_t cols, bool specials, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(rows * cols);
  for (float& value : x) value = std::round(rng.uniform(-10.0f, 10.0f) * 4.0f) / 4.0f;
  if (specials && cols >= 4) {
    for (size_t r = 0; r < rows; ++r) {
      x[r * cols + rng.below(cols)] = -kInf;
      x[r * cols + rng.below(cols)] = kNaN;
    }
    // A row of nothing but NaN and -inf, and one of only -inf.
    for (size_t c = 0; c < cols; ++c) x[c] = c % 2 ? kNaN : -kInf;
    if (rows > 1) std::fill_n(x.begin() + static_cast<std::ptrdiff_t>(cols), cols, -kInf);
  }
  return x;
}

template <Backend B>
CaseResult run_softmax(size_t rows, size_t cols, bool masked) {
  std::vector<float> x = logits(rows, cols, false, rows * cols);
  if (masked) {  // causal-style masks: row r keeps its first r columns, row 0 keeps none
    for (size_t r = 0; r < rows; ++r) {
      for (size_t c = r; c < cols; ++c) x[r * cols + c] = -kInf;
    }
  }
  OP_ASSIGN(auto xb, upload<B>(x, DType::kF32));
  OP_ASSIGN(auto out, B::alloc(rows * cols, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::softmax_rows(ctx, xb, out, rows, cols));
  OP_ASSIGN(auto actual, download<B>(ctx, out, rows * cols));
  // A reduction over the row (the normalising sum) as much as an exp: judged as f32 math.
  return compare(actual, ref::softmax_rows(x, rows, cols), kF32Math);
}

template <Backend B>
CaseResult run_argmax(size_t rows, size_t cols, bool specials) {
  const std::vector<float> x = logits(rows, cols, specials, rows + cols);
  OP_ASSIGN(auto xb, upload<B>(x, DType::kF32));
  OP_ASSIGN(auto out, B::alloc(rows, DType::kI32));
  auto ctx = B::new_context();
  OP_TRY(B::argmax_rows(ctx, xb, out, rows, cols));
  const std::vector<int32_t> expected = ref::argmax_rows(x, rows, cols);
  OP_ASSIGN(auto actual, download<B>(ctx, out, rows));
  return compare(actual, std::vector<double>(expected.begin(), expected.end()), kExact);
}

template <Backend B>
CaseResult run_topk(size_t rows, size_t cols, size_t k, bool specials) {
  const std::vector<float> x = logits(rows, cols, specials, rows * 3 + cols + k);
  OP_ASSIGN(auto xb, upload<B>(x, DType::kF32));
  OP_ASSIGN(auto values, B::alloc(rows * k, DType::kF32));
  OP_ASSIGN(auto ids, B::alloc(rows * k, DType::kI32));
  auto ctx = B::new_context();
  OP_TRY(B::topk_rows(ctx, xb, values, ids, rows, cols, k));
  std::vector<double> expected_values;
  std::vector<int32_t> expected_ids;
  ref::topk_rows(x, rows, cols, k, expected_values, expected_ids);
  OP_ASSIGN(auto actual_values, download<B>(ctx, values, rows * k));
  OP_ASSIGN(auto actual_ids, download<B>(ctx, ids, rows * k));
  return compare_all({compare(actual_values, expected_values, kExact),
                      compare(actual_ids, std::vector<double>(expected_ids.begin(), expected_ids.end()), kExact)});
}

// Rows of `ranks` slices of `cols`: each slice's reference top pick goes to argmax_gathered, whose
// answer must be the reference argmax of the whole row.
template <Backend B>
CaseResult run_argmax_gathered(size_t ranks, size_t rows, size_t cols, bool specials) {
  const size_t width = ranks * cols;
  const std::vector<float> x = logits(rows, width, specials, ranks * 7 + rows + cols);
  std::vector<float> values(ranks * rows);
  std::vector<float> ids(ranks * rows);
  for (size_t rank = 0; rank < ranks; ++rank) {
    std::vector<float> slice(rows * cols);
    for (size_t r = 0; r < rows; ++r) {
      std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(r * width + rank * cols), cols,
                  slice.begin() + static_cast<std::ptrdiff_t>(r * cols));
    }
    std::vector<double> top_values;
    std::vector<int32_t> top_ids;
    ref::topk_rows(slice, rows, cols, 1, top_values, top_ids);
    for (size_t r = 0; r < rows; ++r) {
      values[rank * rows + r] = static_cast<float>(top_values[r]);
      ids[rank * rows + r] = static_cast<float>(top_ids[r]);
    }
  }
  OP_ASSIGN(auto values_b, upload<B>(values, DType::kF32));
  OP_ASSIGN(auto ids_b, upload<B>(ids, DType::kI32));
  OP_ASSIGN(auto out, B::alloc(rows, DType::kI32));
  auto ctx = B::new_context();
  OP_TRY(B::argmax_gathered(ctx, values_b, ids_b, out, ranks, rows, cols));
  const std::vector<int32_t> expected = ref::argmax_rows(x, rows, width);
  OP_ASSIGN(auto actual, download<B>(ctx, out, rows));
  return compare(actual, std::vector<double>(expected.begin(), expected.end()), kExact);
}

// A device cannot refuse device data: a pick outside its slice makes that row's answer -1 and
// leaves the other rows' answers alone.
template <Backend B>
CaseResult run_argmax_gathered_bad_id() {
  // [ranks = 2][rows = 3]: row 1's rank-1 pick (id 5) is past the slice's 5 columns.
  const std::vector<float> values = {1.0f, 2.0f, 3.0f, 4.0f, 9.0f, 1.0f};
  const std::vector<float> ids = {0, 1, 2, 3, 5, 4};
  OP_ASSIGN(auto values_b, upload<B>(values, DType::kF32));
  OP_ASSIGN(auto ids_b, upload<B>(ids, DType::kI32));
  OP_ASSIGN(auto out, B::alloc(3, DType::kI32));
  auto ctx = B::new_context();
  OP_TRY(B::argmax_gathered(ctx, values_b, ids_b, out, 2, 3, 5));
  OP_ASSIGN(auto actual, download<B>(ctx, out, 3));
  return compare(actual, std::vector<double>{8, -1, 2}, kExact);
}

template <Backend B>
void add_cases(CaseList& cases) {
  for (auto [rows, cols] : {std::pair<size_t, size_t>{1, 1}, {3, 17}, {2, 4097}, {1, 128256}}) {
    const std::string n = shape_name({{"rows", rows}, {"cols", cols}});
    add_case<B>(cases, "softmax_rows", n, "f32", false, [=] { return run_softmax<B>(rows, cols, false); });
    add_case<B>(cases, "argmax_rows", n, "f32", false, [=] { return run_argmax<B>(rows, cols, false); });
  }
  add_case<B>(cases, "softmax_rows", "causal masks rows=9 cols=9 (row 0 all -inf)", "f32", false,
              [] { return run_softmax<B>(9, 9, true); });
  add_case<B>(cases, "argmax_rows", "with -inf and NaN rows=5 cols=33", "f32", false,
              [] { return run_argmax<B>(5, 33, true); });
  for (auto [rows, cols, k] : {std::tuple<size_t, size_t, size_t>{1, 1, 1},
                               {3, 17, 5},
                               {2, 4097, 50},
                               {1, 128256, 40},
                               {2, 64, 64},
                               {8, 128256, 20},
                               {3, 9000, 32},
                               {2, 135175, 1}}) {
    add_case<B>(cases, "topk_rows", shape_name({{"rows", rows}, {"cols", cols}, {"k", k}}), "f32", false,
                [=] { return run_topk<B>(rows, cols, k, false); });
  }
  for (auto [rows, cols, k] : {std::tuple<size_t, size_t, size_t>{4, 33, 33}, {4, 33, 5}, {3, 5000, 32}}) {
    add_case<B>(cases, "topk_rows", "with -inf and NaN " + shape_name({{"rows", rows}, {"cols", cols}, {"k", k}}),
                "f32", false, [=] { return run_topk<B>(rows, cols, k, true); });
  }

  if constexpr (B::kGatheredArgmax) {
    for (auto [ranks, rows, cols] :
         {std::tuple<size_t, size_t, size_t>{1, 3, 17}, {2, 64, 64128}, {4, 5, 33}, {8, 3, 7}, {3, 1, 1}}) {
      add_case<B>(cases, "argmax_gathered", shape_name({{"ranks", ranks}, {"rows", rows}, {"cols", cols}}), "f32",
                  false, [=] { return run_argmax_gathered<B>(ranks, rows, cols, false); });
    }
    add_case<B>(cases, "argmax_gathered", "with -inf and NaN ranks=2 rows=6 cols=20", "f32", false,
                [] { return run_argmax_gathered<B>(2, 6, 20, true); });
    add_case<B>(cases, "argmax_gathered", "with -inf and NaN ranks=4 rows=4 cols=9", "f32", false,
                [] { return run_argmax_gathered<B>(4, 4, 9, true); });
  }

  using Buffer = typename B::Buffer;
  add_error_case<B>(cases, "softmax_rows", "out too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(12, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(11, DType::kF32));
    auto ctx = B::new_context();
    return B::softmax_rows(ctx, x, out, 3, 4);
  });
  add_error_case<B>(cases, "argmax_rows", "f32 ids", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(12, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(3, DType::kF32));
    auto ctx = B::new_context();
    return B::argmax_rows(ctx, x, out, 3, 4);
  });
  if constexpr (B::kGatheredArgmax && !std::is_same_v<B, CpuBackend>) {
    add_case<B>(cases, "argmax_gathered", "a slice id past its columns gives -1 ranks=2 rows=3 cols=5", "f32", false,
                [] { return run_argmax_gathered_bad_id<B>(); });
  }
  if constexpr (B::kGatheredArgmax && std::is_same_v<B, CpuBackend>) {  // device backends answer -1 instead
    add_error_case<B>(cases, "argmax_gathered", "a slice id past its columns", ErrorCode::kInvalidArgument,
                      []() -> Status {
                        FERRUM_ASSIGN_OR_RETURN(Buffer values, B::alloc(4, DType::kF32));
                        FERRUM_ASSIGN_OR_RETURN(Buffer ids, upload<B>(std::vector<float>{0, 1, 2, 5}, DType::kI32));
                        FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(2, DType::kI32));
                        auto ctx = B::new_context();
                        return B::argmax_gathered(ctx, values, ids, out, 2, 2, 5);
                      });
  }
  add_error_case<B>(cases, "topk_rows", "k > cols", ErrorCode::kInvalidArgument, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(12, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer values, B::alloc(15, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer ids, B::alloc(15, DType::kI32));
    auto ctx = B::new_context();
    return B::topk_rows(ctx, x, values, ids, 3, 4, 5);
  });
  add_error_case<B>(cases, "topk_rows", "ids too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(12, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer values, B::alloc(6, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer ids, B::alloc(5, DType::kI32));
    auto ctx = B::new_context();
    return B::topk_rows(ctx, x, values, ids, 3, 4, 2);
  });
}

}  // namespace

void add_row_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
