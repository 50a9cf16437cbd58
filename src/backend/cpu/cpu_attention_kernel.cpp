#include "backend/cpu/cpu_attention_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

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

// The arguments every task of one call shares.
template <class T>
struct KernelArgs {
  size_t num_heads = 0;
  size_t num_kv_heads = 0;
  bool causal = false;
  size_t sliding_window = 0;
  float scale = 1.0f;
  const float* q = nullptr;
  const T* k1 = nullptr;
  const T* k2 = nullptr;
  const T* v = nullptr;
  float* out = nullptr;
  size_t d1 = 0;
  size_t d2 = 0;
  size_t dv = 0;
  // f8_e4m3 pools: each row's scale, indexed as its row (null otherwise).
  const float* k1_scales = nullptr;
  const float* k2_scales = nullptr;
  const float* v_scales = nullptr;
};

// Where one sequence's query rows and key rows are, in rows of the q / out and k / v arrays.
struct SequenceView {
  size_t q_len = 0;
  size_t kv_len = 0;
  size_t pos_offset = 0;
  size_t q_row0 = 0;         // row of (head 0, query 0)
  size_t q_head_stride = 0;  // rows between heads
  // Contiguous keys: kv_row0 + kv_head * kv_head_stride + j.
  size_t kv_row0 = 0;
  size_t kv_head_stride = 0;
  // Paged keys: block_table[j / block_size] * block_rows + kv_head * block_size + j % block_size.
  const int32_t* block_table = nullptr;
  size_t block_size = 0;
  size_t block_rows = 0;

  size_t query_row(size_t head, size_t i) const { return q_row0 + head * q_head_stride + i; }
  size_t key_row(size_t kv_head, size_t j) const {
    if (block_table == nullptr) return kv_row0 + kv_head * kv_head_stride + j;
    return static_cast<size_t>(block_table[j / block_size]) * block_rows + kv_head * block_size + j % block_size;
  }
};

// One task: a sequence, a KV head, `heads` of its query heads from first_head, `queries` query rows
// from first_query.
struct Task {
  size_t seq = 0;
  size_t kv_head = 0;
  size_t first_head = 0;
  size_t heads = 0;
  size_t first_query = 0;
  size_t queries = 0;
};

// Cuts every sequence into tasks of head_chunk query heads by query_block positions, splitting
// finer until every thread has a couple of tasks: query blocks first (keeps K/V sharing), then head
// chunks. A row's arithmetic does not depend on which task carries it (key blocks are aligned to
// absolute positions), so the split changes speed only, never results.
std::vector<Task> plan_tasks(std::span<const SequenceView> sequences, size_t num_kv_heads, size_t group,
                             size_t threads) {
  size_t head_chunk = std::min(group, kTargetRows);
  size_t query_block = std::max<size_t>(1, kTargetRows / head_chunk);
  size_t longest = 0;
  for (const SequenceView& seq : sequences) longest = std::max(longest, seq.q_len);
  query_block = std::min(query_block, std::max<size_t>(longest, 1));
  const auto count = [&] {
    size_t tasks = 0;
    for (const SequenceView& seq : sequences) {
      if (seq.q_len == 0) continue;
      tasks += num_kv_heads * ceil_div(group, head_chunk) * ceil_div(seq.q_len, std::min(query_block, seq.q_len));
    }
    return tasks;
  };
  while (count() < 2 * threads && query_block > 1) query_block = ceil_div(query_block, 2);
  while (count() < 2 * threads && head_chunk > 1) head_chunk = ceil_div(head_chunk, 2);

  std::vector<Task> tasks;
  tasks.reserve(count());
  for (size_t s = 0; s < sequences.size(); ++s) {
    const size_t q_len = sequences[s].q_len;
    if (q_len == 0) continue;
    const size_t block = std::min(query_block, q_len);
    for (size_t kv_head = 0; kv_head < num_kv_heads; ++kv_head) {
      for (size_t h = 0; h < group; h += head_chunk) {
        for (size_t i = 0; i < q_len; i += block) {
          tasks.push_back(
              Task{s, kv_head, kv_head * group + h, std::min(head_chunk, group - h), i, std::min(block, q_len - i)});
        }
      }
    }
  }
  return tasks;
}

// A task's per-row state. Key positions [lo, hi] (inclusive) are visible; lo > hi means none.
struct RowRange {
  size_t lo = 1;
  size_t hi = 0;
  bool empty() const { return lo > hi; }
};

template <class T>
class AttentionTask {
  // f8_e4m3 rows carry a scale each (backend_types.h's paged pool layout).
  static constexpr bool kScaledRows = std::is_same_v<T, f8e4m3>;

 public:
  AttentionTask(const KernelArgs<T>& args, size_t rows)
      : a_(args), rows_(rows), dq_(args.d1 + args.d2), dv_padded_(ceil_div(args.dv, kPanelWidth) * kPanelWidth) {
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

  // Rows are (head task.first_head + r / queries, query task.first_query + r % queries).
  void run(const SequenceView& seq, const Task& task) {
    seq_ = &seq;
    kv_head_ = task.kv_head;
    const size_t queries = task.queries;
    size_t first_key = SIZE_MAX;
    size_t last_key = 0;
    for (size_t r = 0; r < rows_; ++r) {
      const size_t h = task.first_head + r / queries;
      const size_t i = task.first_query + r % queries;
      ranges_[r] = visible_keys(seq.pos_offset + i);
      if (!ranges_[r].empty()) {
        first_key = std::min(first_key, ranges_[r].lo);
        last_key = std::max(last_key, ranges_[r].hi);
      }
      // Pre-scaled queries: the key panel product is then the scaled score directly.
      const float* q = a_.q + seq.query_row(h, i) * dq_;
      for (size_t d = 0; d < dq_; ++d) queries_[r * dq_ + d] = q[d] * a_.scale;
      row_max_[r] = kNegInf;
      row_sum_[r] = 0.0f;
    }
    std::fill_n(acc_, rows_ * dv_padded_, 0.0f);

    if (first_key <= last_key) {
      // Blocks start at multiples of kKeyBlock whatever the task's rows, so each row's online
      // softmax sees the same blocks in every split and every batch.
      for (size_t j0 = first_key / kKeyBlock * kKeyBlock; j0 <= last_key; j0 += kKeyBlock) {
        const size_t count = std::min(kKeyBlock, last_key + 1 - j0);
        const size_t next = j0 + count <= last_key ? std::min(kKeyBlock, last_key + 1 - (j0 + count)) : 0;
        process_key_block(j0, count, next);
      }
    }

    for (size_t r = 0; r < rows_; ++r) {
      const size_t h = task.first_head + r / queries;
      const size_t i = task.first_query + r % queries;
      float* out = a_.out + seq.query_row(h, i) * a_.dv;
      const float sum = row_sum_[r];
      const float inverse = sum > 0.0f ? 1.0f / sum : 0.0f;  // no visible key: zeros
      for (size_t d = 0; d < a_.dv; ++d) out[d] = acc_[r * dv_padded_ + d] * inverse;
    }
  }

 private:
  RowRange visible_keys(size_t position) const {
    RowRange range;
    if (seq_->kv_len == 0) return range;
    range.hi = a_.causal ? std::min(position, seq_->kv_len - 1) : seq_->kv_len - 1;
    range.lo = 0;
    if (a_.sliding_window > 0 && position + 1 > a_.sliding_window) range.lo = position + 1 - a_.sliding_window;
    return range;
  }

  // Asks for rows [j0, j0 + count) of the K / V tensors ahead of use, into L2 (prefetcht1). Decode
  // attention streams K and V from memory with compute in between, which the hardware prefetchers
  // follow poorly; measured on one core at kv 4096, f32: 1.63 ms without, 1.18 ms with.
  template <class U>
  static void prefetch_row(const U* row, size_t width) {
    const char* begin = reinterpret_cast<const char*>(row);
    const char* end = reinterpret_cast<const char*>(row + width);
    for (const char* line = begin; line < end; line += 64) __builtin_prefetch(line, 0, 2);
  }

  void prefetch_rows(size_t j0, size_t count) const {
    for (size_t j = j0; j < j0 + count; ++j) {
      const size_t row = seq_->key_row(kv_head_, j);
      prefetch_row(a_.k1 + row * a_.d1, a_.d1);
      if (a_.d2 > 0) prefetch_row(a_.k2 + row * a_.d2, a_.d2);
      if (a_.v != a_.k1) prefetch_row(a_.v + row * a_.dv, a_.dv);
    }
  }

  void process_key_block(size_t j0, size_t count, size_t next_count) {
    if (next_count > 0) prefetch_rows(j0 + count, next_count);
    size_t rows[kKeyBlock];
    const T* k1_rows[kKeyBlock];
    const T* k2_rows[kKeyBlock];
    for (size_t j = 0; j < count; ++j) {
      rows[j] = seq_->key_row(kv_head_, j0 + j);
      k1_rows[j] = a_.k1 + rows[j] * a_.d1;
      if (a_.d2 > 0) k2_rows[j] = a_.k2 + rows[j] * a_.d2;
    }
    // Keys as a panel [d][key]: the first segment, then the second below it.
    pack_panel_rows(k1_rows, count, a_.d1, key_panel_);
    if (a_.d2 > 0) pack_panel_rows(k2_rows, count, a_.d2, key_panel_ + a_.d1 * kKeyBlock);
    if constexpr (kScaledRows) {
      scale_panel_columns(key_panel_, a_.d1, a_.k1_scales, rows, count);
      if (a_.d2 > 0) scale_panel_columns(key_panel_ + a_.d1 * kKeyBlock, a_.d2, a_.k2_scales, rows, count);
    }
    multiply_panel(queries_, dq_, rows_, key_panel_, kKeyBlock, dq_, scores_, kKeyBlock, kKeyBlock, false);

    bool any_visible = false;
    for (size_t r = 0; r < rows_; ++r) any_visible |= softmax_update(r, j0, count);
    if (!any_visible) return;

    // Value rows as f32, zero-padded to whole panels so the panel loads stay inside the block.
    for (size_t j = 0; j < count; ++j) {
      const T* v = a_.v + rows[j] * a_.dv;
      float* dst = values_ + j * dv_padded_;
      const auto load = [&](size_t d, size_t n) {
        const Vec value = n == kLanes ? simd::load(v + d) : simd::load_partial(v + d, n);
        if constexpr (kScaledRows) return simd::mul(value, simd::broadcast(a_.v_scales[rows[j]]));
        return value;
      };
      size_t d = 0;
      for (; d + kLanes <= a_.dv; d += kLanes) simd::store(dst + d, load(d, kLanes));
      if (d < a_.dv) simd::store_partial(dst + d, load(d, a_.dv - d), a_.dv - d);
      std::fill(dst + a_.dv, dst + dv_padded_, 0.0f);
    }
    for (size_t col = 0; col < dv_padded_; col += kPanelWidth) {
      multiply_panel(scores_, kKeyBlock, rows_, values_ + col, dv_padded_, count, acc_ + col, dv_padded_, kPanelWidth,
                     true);
    }
  }

  // Multiplies each key column of a [depth][kKeyBlock] panel by its row's scale.
  static void scale_panel_columns(float* panel, size_t depth, const float* scales, const size_t* rows, size_t count) {
    alignas(64) float column_scales[kKeyBlock] = {};
    for (size_t j = 0; j < count; ++j) column_scales[j] = scales[rows[j]];
    for (size_t p = 0; p < depth; ++p) {
      for (size_t j = 0; j < kKeyBlock; j += kLanes) {
        simd::store(panel + p * kKeyBlock + j,
                    simd::mul(simd::load(panel + p * kKeyBlock + j), simd::load(column_scales + j)));
      }
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

  const KernelArgs<T>& a_;
  const SequenceView* seq_ = nullptr;
  size_t kv_head_ = 0;
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

template <class T>
void run_tasks(ThreadPool& pool, const KernelArgs<T>& args, std::span<const SequenceView> sequences) {
  const size_t group = args.num_heads / args.num_kv_heads;
  const std::vector<Task> tasks = plan_tasks(sequences, args.num_kv_heads, group, pool.size());
  pool.parallel_for(tasks.size(), 1, [&](size_t begin, size_t end) {
    for (size_t index = begin; index < end; ++index) {
      const Task& task = tasks[index];
      AttentionTask<T> work(args, task.heads * task.queries);
      work.run(sequences[task.seq], task);
    }
  });
}

// The arguments a contiguous and a paged problem share.
template <class T, class Problem>
KernelArgs<T> kernel_args(const Problem& problem) {
  return KernelArgs<T>{problem.num_heads, problem.num_kv_heads,
                       problem.causal,    problem.sliding_window,
                       problem.scale,     problem.q,
                       problem.k1,        problem.k2,
                       problem.v,         problem.out,
                       problem.d1,        problem.d2,
                       problem.dv};
}

}  // namespace

template <class T>
void run_attention(ThreadPool& pool, const AttentionProblem<T>& problem) {
  const KernelArgs<T> args = kernel_args<T>(problem);
  std::vector<SequenceView> sequences(problem.batch);
  for (size_t b = 0; b < problem.batch; ++b) {
    SequenceView& seq = sequences[b];
    seq.q_len = problem.q_len;
    seq.kv_len = problem.kv_len;
    seq.pos_offset = problem.pos_offset;
    seq.q_row0 = b * problem.num_heads * problem.q_len;
    seq.q_head_stride = problem.q_len;
    seq.kv_row0 = b * problem.num_kv_heads * problem.kv_stride;
    seq.kv_head_stride = problem.kv_stride;
  }
  run_tasks<T>(pool, args, sequences);
}

template <class T>
void run_paged_attention(ThreadPool& pool, const PagedAttentionProblem<T>& problem) {
  KernelArgs<T> args = kernel_args<T>(problem);
  std::vector<SequenceView> sequences(problem.num_seqs);
  for (size_t s = 0; s < problem.num_seqs; ++s) {
    SequenceView& seq = sequences[s];
    const auto first = static_cast<size_t>(problem.query_start[s]);
    seq.q_len = static_cast<size_t>(problem.query_start[s + 1]) - first;
    seq.kv_len = static_cast<size_t>(problem.context_lens[s]);
    seq.pos_offset = seq.kv_len - seq.q_len;
    seq.q_row0 = first;
    seq.q_head_stride = problem.num_tokens;
    seq.block_table = problem.block_tables + s * problem.max_blocks_per_seq;
    seq.block_size = problem.block_size;
    seq.block_rows = problem.num_kv_heads * problem.block_size;
  }
  args.k1_scales = problem.k1_scales;
  args.k2_scales = problem.k2_scales;
  args.v_scales = problem.v_scales;
  run_tasks<T>(pool, args, sequences);
}

template void run_attention<float>(ThreadPool&, const AttentionProblem<float>&);
template void run_attention<f16>(ThreadPool&, const AttentionProblem<f16>&);
template void run_attention<bf16>(ThreadPool&, const AttentionProblem<bf16>&);
template void run_paged_attention<float>(ThreadPool&, const PagedAttentionProblem<float>&);
template void run_paged_attention<f16>(ThreadPool&, const PagedAttentionProblem<f16>&);
template void run_paged_attention<bf16>(ThreadPool&, const PagedAttentionProblem<bf16>&);
template void run_paged_attention<f8e4m3>(ThreadPool&, const PagedAttentionProblem<f8e4m3>&);

}  // namespace ferrum::cpu
