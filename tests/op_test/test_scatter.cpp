// scatter_add_rows: out[ids[i], :] += weights[i] * src[i, :] for distinct ids, the combine step of a
// mixture-of-experts layer. Cases cover one row, ids in shuffled order with gaps (rows left alone
// must keep their values), negative and zero weights, and widths off the vector length.
#include <algorithm>
#include <numeric>
#include <tuple>

#include "op_test.h"
#include "reference_ops.h"

namespace ferrum::op_test {
namespace {

template <Backend B>
CaseResult run_scatter(size_t out_rows, size_t count, size_t cols) {
  Rng rng(out_rows * 131 + count * 17 + cols);
  // `count` distinct rows of out, in a shuffled order.
  std::vector<uint32_t> all_rows(out_rows);
  std::iota(all_rows.begin(), all_rows.end(), 0u);
  for (size_t i = out_rows; i > 1; --i) std::swap(all_rows[i - 1], all_rows[rng.below(i)]);
  const std::vector<uint32_t> ids(all_rows.begin(), all_rows.begin() + static_cast<std::ptrdiff_t>(count));
  std::vector<float> weights = random_values(rng, count, DType::kF32, -2.0f, 2.0f);
  if (count > 1) weights[1] = 0.0f;
  const std::vector<float> src = random_values(rng, count * cols, DType::kF32);
  const std::vector<float> out = random_values(rng, out_rows * cols, DType::kF32);
  OP_ASSIGN(auto src_buffer, upload<B>(src, DType::kF32));
  OP_ASSIGN(auto out_buffer, upload<B>(out, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::scatter_add_rows(ctx, src_buffer, ids, weights, out_buffer, cols));
  OP_ASSIGN(auto actual, download<B>(ctx, out_buffer, out_rows * cols));
  // One multiply-add per element, rounded once: judged as f32 arithmetic.
  return compare(actual, ref::scatter_add_rows(src, ids, weights, out, cols), kF32Math);
}

template <Backend B>
void add_cases(CaseList& cases) {
  for (auto [out_rows, count, cols] :
       {std::tuple<size_t, size_t, size_t>{1, 1, 1}, {40, 7, 64}, {40, 40, 17}, {513, 100, 4097}, {8, 3, 2048}}) {
    add_case<B>(cases, "scatter_add_rows", shape_name({{"out_rows", out_rows}, {"ids", count}, {"cols", cols}}), "f32",
                false, [=] { return run_scatter<B>(out_rows, count, cols); });
  }

  using Buffer = typename B::Buffer;
  auto call = [](std::vector<uint32_t> ids, std::vector<float> weights, size_t src_numel, DType src_dtype,
                 size_t out_numel) -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer src, B::alloc(src_numel, src_dtype));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(out_numel, DType::kF32));
    auto ctx = B::new_context();
    return B::scatter_add_rows(ctx, src, ids, weights, out, 4);
  };
  const DType f32 = DType::kF32;
  add_error_case<B>(cases, "scatter_add_rows", "repeated id", ErrorCode::kInvalidArgument, [=] {
    return call({0, 2, 0}, {1, 1, 1}, 12, f32, 12);
  });
  add_error_case<B>(cases, "scatter_add_rows", "id past out's rows", ErrorCode::kOutOfRange, [=] {
    return call({0, 3}, {1, 1}, 8, f32, 12);
  });
  add_error_case<B>(cases, "scatter_add_rows", "src too small", ErrorCode::kShapeMismatch, [=] {
    return call({0, 1, 2}, {1, 1, 1}, 11, f32, 12);
  });
  add_error_case<B>(cases, "scatter_add_rows", "fewer weights than ids", ErrorCode::kShapeMismatch, [=] {
    return call({0, 1}, {1}, 8, f32, 12);
  });
  add_error_case<B>(cases, "scatter_add_rows", "bf16 src", ErrorCode::kUnsupported,
                    [=] { return call({0}, {1}, 4, DType::kBF16, 12); });
}

}  // namespace

void add_scatter_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
