#include "backend/cpu/cpu_attention_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_panel_kernels.h"
#include "backend/cpu/cpu_simd.h"

namespace ferrum::cpu {
namespace {

using simd::kLanes;
using simd::Vec;

// Keys per block: one panel, so scores of a row for a block are two vectors.
constexpr size_t kKeyBlock = kPanelWidth;
// Query rows (heads x positions) a task carries: enough for the micro-kernel to reuse each key
// panel, few enough that the task's state stays in L2.
constexpr size_t kTargetRows = 32;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

size_t ceil_div(size_t a, size_t b) {
  return (a + b - 1) / b;
}

// How tasks cut the work: per (batch, KV head), `head_chunk` of its query heads by `query_block`
// query positions.
struct TaskShape {
  size_t head_chunk = 1;
  size_t query_block = 1;
  size_t head_chunks = 1;
  size_t query_blocks = 1;
};

TaskShape plan_tasks(size_t batch, size_t num_kv_heads, size_t group, size_t q_len, size_t threads) {
  TaskShape shape;
  shape.head_chunk = std::min(group, kTargetRows);
  shape.query_block = std::min(q_len, std::max<size_t>(1, kTargetRows / shape.head_chunk));
  auto count = [&] {
    shape.head_chunks = ceil_div(group, shape.head_chunk);
    shape.query_blocks = ceil_div(q_len, shape.query_block);
    return batch * num_kv_heads * shape.head_chunks * shape.query_blocks;
  };
  // Split finer until every thread has a couple of tasks: query blocks first (keeps K/V sharing),
  // then head chunks.
  while (count() < 2 * threads && shape.query_block > 1) shape.query_block = ceil_div(shape.query_block, 2);
  while (count() < 2 * threads && shape.head_chunk > 1) shape.head_chunk = ceil_div(shape.head_chunk, 2);
  count();
  return shape;
}

// A task's per-row state. Key positions [lo, hi] (inclusive) are visible; lo > hi means none.
struct RowRange {
  size_t lo = 1;
  size_t hi = 0;
  bool empty() const { return lo > hi; }
};

template <class T>
class AttentionTask {
 public:
  AttentionTask(const AttentionProblem<T>& problem, size_t rows)
      : p_(problem),
        rows_(rows),
        dq_(problem.d1 + problem.d2),
        dv_padded_(ceil_div(problem.dv, kPanelWidth) * kPanelWidth) {
    // One scratch region: queries, key panel, scores, value block, output accumulators, max, sum.
    const size_t floats =
        rows_ * dq_ + dq_ * kKeyBlock + rows_ * kKeyBlock + kKeyBlock * dv_padded_ + rows_ * dv_padded_ + 2 * rows_;
    float* memory = thread_scratch(Scratch::kAttention, floats);
    queries_ = memory;
    key_panel_ = queries_ + rows_ * dq_;
    scores_ = key_panel_ + dq_ * kKeyBlock;
    values_ = scores_ + rows_ * kKeyBlock;
    acc_ = values_ + kKeyBlock * dv_padded_;
    row_max_ = acc_ + rows_ * dv_padded_;
    row_sum_ = row_max_ + rows_;
  }

  // Rows are (head h0 + r / query_block, query i0 + r % query_block) for r < rows.
  void run(size_t b, size_t kv_head, size_t h0, size_t i0, size_t queries) {
    size_t first_key = SIZE_MAX;
    size_t last_key = 0;
    for (size_t r = 0; r < rows_; ++r) {
      const size_t h = h0 + r / queries;
      const size_t i = i0 + r % queries;
      ranges_[r] = visible_keys(p_.pos_offset + i);
      if (!ranges_[r].empty()) {
        first_key = std::min(first_key, ranges_[r].lo);
        last_key = std::max(last_key, ranges_[r].hi);
      }
      // Pre-scaled queries: the key panel product is then the scaled score directly.
      const float* q = p_.q + ((b * p_.num_heads + h) * p_.q_len + i) * dq_;
      for (size_t d = 0; d < dq_; ++d) queries_[r * dq_ + d] = q[d] * p_.scale;
      row_max_[r] = kNegInf;
      row_sum_[r] = 0.0f;
    }
    std::fill_n(acc_, rows_ * dv_padded_, 0.0f);

    const size_t kv_base = (b * p_.num_kv_heads + kv_head) * p_.kv_stride;
    if (first_key <= last_key) {
      for (size_t j0 = first_key; j0 <= last_key; j0 += kKeyBlock) {
        process_key_block(kv_base, j0, std::min(kKeyBlock, last_key + 1 - j0));
      }
    }

    for (size_t r = 0; r < rows_; ++r) {
      const size_t h = h0 + r / queries;
      const size_t i = i0 + r % queries;
      float* out = p_.out + ((b * p_.num_heads + h) * p_.q_len + i) * p_.dv;
      const float sum = row_sum_[r];
      const float inverse = sum > 0.0f ? 1.0f / sum : 0.0f;  // no visible key: zeros
      for (size_t d = 0; d < p_.dv; ++d) out[d] = acc_[r * dv_padded_ + d] * inverse;
    }
  }

 private:
  RowRange visible_keys(size_t position) const {
    RowRange range;
    if (p_.kv_len == 0) return range;
    range.hi = p_.causal ? std::min(position, p_.kv_len - 1) : p_.kv_len - 1;
    range.lo = 0;
    if (p_.sliding_window > 0 && position + 1 > p_.sliding_window) range.lo = position + 1 - p_.sliding_window;
    return range;
  }

  void process_key_block(size_t kv_base, size_t j0, size_t count) {
    // Keys as a panel [d][key]: the first segment, then the second below it.
    pack_panel(p_.k1 + (kv_base + j0) * p_.d1, p_.d1, count, p_.d1, key_panel_);
    if (p_.d2 > 0) pack_panel(p_.k2 + (kv_base + j0) * p_.d2, p_.d2, count, p_.d2, key_panel_ + p_.d1 * kKeyBlock);
    multiply_panel(queries_, dq_, rows_, key_panel_, kKeyBlock, dq_, scores_, kKeyBlock, kKeyBlock, false);

    bool any_visible = false;
    for (size_t r = 0; r < rows_; ++r) any_visible |= softmax_update(r, j0, count);
    if (!any_visible) return;

    // Value rows as f32, zero-padded to whole panels so the panel loads stay inside the block.
    for (size_t j = 0; j < count; ++j) {
      const T* v = p_.v + (kv_base + j0 + j) * p_.dv;
      float* dst = values_ + j * dv_padded_;
      size_t d = 0;
      for (; d + kLanes <= p_.dv; d += kLanes) simd::store(dst + d, simd::load(v + d));
      if (d < p_.dv) simd::store_partial(dst + d, simd::load_partial(v + d, p_.dv - d), p_.dv - d);
      std::fill(dst + p_.dv, dst + dv_padded_, 0.0f);
    }
    for (size_t col = 0; col < dv_padded_; col += kPanelWidth) {
      multiply_panel(scores_, kKeyBlock, rows_, values_ + col, dv_padded_, count, acc_ + col, dv_padded_, kPanelWidth,
                     true);
    }
  }

  // Turns row r's scores for keys j0..j0+count into probabilities relative to its running max,
  // rescaling what it accumulated so far. Returns false (and zero weights) when none is visible.
  bool softmax_update(size_t r, size_t j0, size_t count) {
    float* s = scores_ + r * kKeyBlock;
    const RowRange range = ranges_[r];
    const size_t first = range.empty() ? 1 : std::max(range.lo, j0);
    const size_t last = range.empty() ? 0 : std::min(range.hi, j0 + count - 1);
    if (first > last) {
      std::fill_n(s, kKeyBlock, 0.0f);
      return false;
    }
    for (size_t j = 0; j < kKeyBlock; ++j) {
      if (j0 + j < first || j0 + j > last) s[j] = kNegInf;
    }
    Vec block_max = simd::broadcast(kNegInf);
    for (size_t j = 0; j < kKeyBlock; j += kLanes) block_max = simd::max(simd::load(s + j), block_max);
    const float new_max = std::max(row_max_[r], simd::reduce_max(block_max));
    if (new_max == kNegInf) {
      std::fill_n(s, kKeyBlock, 0.0f);
      return false;
    }
    const Vec shift = simd::broadcast(new_max);
    Vec sum = simd::zero();
    for (size_t j = 0; j < kKeyBlock; j += kLanes) {
      const Vec e = simd::exp(simd::sub(simd::load(s + j), shift));
      simd::store(s + j, e);
      sum = simd::add(sum, e);
    }
    const float correction = std::exp(row_max_[r] - new_max);  // 0 on the first visible block
    row_sum_[r] = row_sum_[r] * correction + simd::reduce_add(sum);
    row_max_[r] = new_max;
    if (correction != 1.0f) {
      const Vec c = simd::broadcast(correction);
      float* acc = acc_ + r * dv_padded_;
      for (size_t d = 0; d < dv_padded_; d += kLanes) simd::store(acc + d, simd::mul(simd::load(acc + d), c));
    }
    return true;
  }

  const AttentionProblem<T>& p_;
  size_t rows_;
  size_t dq_;
  size_t dv_padded_;
  float* queries_ = nullptr;
  float* key_panel_ = nullptr;
  float* scores_ = nullptr;
  float* values_ = nullptr;
  float* acc_ = nullptr;
  float* row_max_ = nullptr;
  float* row_sum_ = nullptr;
  RowRange ranges_[kTargetRows];
};

}  // namespace

template <class T>
void run_attention(ThreadPool& pool, const AttentionProblem<T>& problem) {
  const size_t group = problem.num_heads / problem.num_kv_heads;
  const TaskShape shape = plan_tasks(problem.batch, problem.num_kv_heads, group, problem.q_len, pool.size());
  const size_t per_kv_head = shape.head_chunks * shape.query_blocks;
  const size_t tasks = problem.batch * problem.num_kv_heads * per_kv_head;
  pool.parallel_for(tasks, 1, [&](size_t begin, size_t end) {
    for (size_t task = begin; task < end; ++task) {
      const size_t batch_head = task / per_kv_head;  // b * num_kv_heads + kv_head
      const size_t within = task % per_kv_head;
      const size_t b = batch_head / problem.num_kv_heads;
      const size_t kv_head = batch_head % problem.num_kv_heads;
      const size_t first_head = kv_head * group + (within / shape.query_blocks) * shape.head_chunk;
      const size_t heads = std::min(shape.head_chunk, (kv_head + 1) * group - first_head);
      const size_t first_query = (within % shape.query_blocks) * shape.query_block;
      const size_t queries = std::min(shape.query_block, problem.q_len - first_query);
      AttentionTask<T> work(problem, heads * queries);
      work.run(b, kv_head, first_head, first_query, queries);
    }
  });
}

template void run_attention<float>(ThreadPool&, const AttentionProblem<float>&);
template void run_attention<f16>(ThreadPool&, const AttentionProblem<f16>&);
template void run_attention<bf16>(ThreadPool&, const AttentionProblem<bf16>&);

}  // namespace ferrum::cpu
