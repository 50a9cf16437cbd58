// Row reductions over logits: softmax, argmax and top-k. Rows go to threads whole.
//
// Ranking (argmax, top-k): larger values first, equal values by lower index, and NaN below every
// number (NaNs among themselves by index), which is a strict weak order even with NaNs present.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_simd.h"
#include "backend/op_checks.h"

namespace ferrum {
namespace {

namespace simd = cpu::simd;
using simd::kLanes;
using simd::Vec;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Largest non-NaN value of the row, -inf if there is none.
float row_max(const float* x, size_t n) {
  Vec best = simd::broadcast(kNegInf);
  size_t i = 0;
  // max(x, best): on a NaN in x the instruction returns its second operand, so NaNs are skipped.
  for (; i + kLanes <= n; i += kLanes) best = simd::max(simd::load(x + i), best);
  float result = simd::reduce_max(best);
  for (; i < n; ++i) result = x[i] > result ? x[i] : result;
  return result;
}

struct Ranked {
  float value;
  int32_t index;
};

// True when a ranks strictly before b.
bool ranks_before(const Ranked& a, const Ranked& b) {
  const bool a_nan = std::isnan(a.value);
  const bool b_nan = std::isnan(b.value);
  if (a_nan != b_nan) return b_nan;
  if (a_nan || a.value == b.value) return a.index < b.index;
  return a.value > b.value;
}

void softmax_row(const float* x, float* out, size_t n) {
  const float max = row_max(x, n);
  if (max == kNegInf) {  // every entry masked: no distribution to form
    std::fill_n(out, n, 0.0f);
    return;
  }
  // The normalising sum: f32 vector lanes within 1024-value pieces, pieces added in double, so a
  // 128K vocabulary loses no more than a short row would.
  const Vec shift = simd::broadcast(max);
  double total = 0.0;
  size_t i = 0;
  while (i + kLanes <= n) {
    const size_t piece_end = std::min(n, i + 1024) / kLanes * kLanes;
    Vec sum = simd::zero();
    for (; i < piece_end; i += kLanes) {
      const Vec e = simd::exp(simd::sub(simd::load(x + i), shift));
      simd::store(out + i, e);
      sum = simd::add(sum, e);
    }
    total += simd::reduce_add(sum);
  }
  for (; i < n; ++i) {
    out[i] = std::exp(x[i] - max);
    total += out[i];
  }
  const Vec inverse = simd::broadcast(static_cast<float>(1.0 / total));
  for (i = 0; i + kLanes <= n; i += kLanes) simd::store(out + i, simd::mul(simd::load(out + i), inverse));
  for (; i < n; ++i) out[i] = static_cast<float>(out[i] / total);
}

int32_t row_argmax(const float* x, size_t n) {
  const float max = row_max(x, n);
  for (size_t i = 0; i < n; ++i) {
    if (x[i] == max) return static_cast<int32_t>(i);
  }
  return 0;  // only NaNs: the first of them
}

// The k best of a row by a min-heap of the best seen so far (its root is the worst of them).
void row_topk(const float* x, size_t n, size_t k, std::vector<Ranked>& heap, float* values, int32_t* ids) {
  heap.clear();
  for (size_t i = 0; i < k; ++i) heap.push_back({x[i], static_cast<int32_t>(i)});
  std::make_heap(heap.begin(), heap.end(), ranks_before);
  for (size_t i = k; i < n; ++i) {
    const Ranked candidate{x[i], static_cast<int32_t>(i)};
    if (!ranks_before(candidate, heap.front())) continue;
    std::pop_heap(heap.begin(), heap.end(), ranks_before);
    heap.back() = candidate;
    std::push_heap(heap.begin(), heap.end(), ranks_before);
  }
  std::sort_heap(heap.begin(), heap.end(), ranks_before);
  for (size_t i = 0; i < k; ++i) {
    values[i] = heap[i].value;
    ids[i] = heap[i].index;
  }
}

Status check_rows_input(std::string_view op, const CpuBuffer& x, size_t rows, size_t cols) {
  FERRUM_TRY(check_dtype(op, "x", x, {DType::kF32}));
  return check_numel(op, "x", x, {rows, cols});
}

Status check_index_range(std::string_view op, size_t cols) {
  FERRUM_CHECK(cols <= static_cast<size_t>(std::numeric_limits<int32_t>::max()), ErrorCode::kOutOfRange, op,
               ": cols=", cols, " cannot be indexed by i32 ids");
  return ok();
}

}  // namespace

Status CpuBackend::softmax_rows(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& out, size_t rows, size_t cols) {
  FERRUM_TRY(check_rows_input("softmax_rows", x, rows, cols));
  FERRUM_TRY(check_dtype("softmax_rows", "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel("softmax_rows", "out", out, {rows, cols}));
  const float* in = x.data_as<float>();
  float* dst = out.data_as<float>();
  cpu::parallel_for(ctx, rows, cpu::grain_for(8 * cols), [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) softmax_row(in + r * cols, dst + r * cols, cols);
  });
  return ok();
}

Status CpuBackend::argmax_rows(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& out, size_t rows, size_t cols) {
  FERRUM_TRY(check_rows_input("argmax_rows", x, rows, cols));
  FERRUM_TRY(check_dtype("argmax_rows", "out", out, {DType::kI32}));
  FERRUM_TRY(check_numel("argmax_rows", "out", out, rows));
  FERRUM_CHECK(cols > 0 || rows == 0, ErrorCode::kInvalidArgument, "argmax_rows: rows of 0 columns have no argmax");
  FERRUM_TRY(check_index_range("argmax_rows", cols));
  const float* in = x.data_as<float>();
  int32_t* dst = out.data_as<int32_t>();
  cpu::parallel_for(ctx, rows, cpu::grain_for(2 * cols), [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) dst[r] = row_argmax(in + r * cols, cols);
  });
  return ok();
}

Status CpuBackend::topk_rows(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& values, CpuBuffer& ids, size_t rows,
                             size_t cols, size_t k) {
  FERRUM_TRY(check_rows_input("topk_rows", x, rows, cols));
  FERRUM_CHECK(k <= cols, ErrorCode::kInvalidArgument, "topk_rows: k=", k, " exceeds cols=", cols);
  FERRUM_TRY(check_index_range("topk_rows", cols));
  FERRUM_TRY(check_dtype("topk_rows", "values", values, {DType::kF32}));
  FERRUM_TRY(check_dtype("topk_rows", "ids", ids, {DType::kI32}));
  FERRUM_TRY(check_numel("topk_rows", "values", values, {rows, k}));
  FERRUM_TRY(check_numel("topk_rows", "ids", ids, {rows, k}));
  if (k == 0) return ok();
  const float* in = x.data_as<float>();
  float* top_values = values.data_as<float>();
  int32_t* top_ids = ids.data_as<int32_t>();
  cpu::parallel_for(ctx, rows, cpu::grain_for(4 * cols), [&](size_t begin, size_t end) {
    std::vector<Ranked> heap;
    heap.reserve(k);
    for (size_t r = begin; r < end; ++r) {
      row_topk(in + r * cols, cols, k, heap, top_values + r * k, top_ids + r * k);
    }
  });
  return ok();
}

Status CpuBackend::argmax_gathered(CpuContext& /*ctx*/, const CpuBuffer& values, const CpuBuffer& ids, CpuBuffer& out,
                                   size_t ranks, size_t rows, size_t cols) {
  constexpr std::string_view op = "argmax_gathered";
  FERRUM_TRY(check_argmax_gathered(values, ids, out, ranks, rows, cols));
  FERRUM_TRY(check_index_range(op, ranks * cols));
  const float* value = values.data_as<float>();
  const int32_t* id = ids.data_as<int32_t>();
  int32_t* dst = out.data_as<int32_t>();
  for (size_t r = 0; r < rows; ++r) {
    Ranked best{0.0f, -1};
    for (size_t rank = 0; rank < ranks; ++rank) {
      const int32_t local = id[rank * rows + r];
      FERRUM_CHECK(local >= 0 && static_cast<size_t>(local) < cols, ErrorCode::kInvalidArgument, op, ": slice ", rank,
                   " of row ", r, " picked column ", local, " of ", cols);
      const Ranked pick{value[rank * rows + r], static_cast<int32_t>(rank * cols) + local};
      if (best.index < 0 || ranks_before(pick, best)) best = pick;
    }
    dst[r] = best.index;
  }
  return ok();
}

}  // namespace ferrum
