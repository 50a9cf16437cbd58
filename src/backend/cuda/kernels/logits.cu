// adjust_logits: a thread per entry over a grid sized by the buffer's capacity (the count is only
// known on the device). log_softmax_at: (max, sum of exp) per 4096-value chunk, then a warp per
// row merges them and writes each asked id's x - log-sum-exp.
// Neither is on the decode path's critical bandwidth: one touches a few thousand values, the
// other reads the logits once, and only for requests that ask for log-probabilities.
#include <algorithm>

#include "backend/backend_types.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/logits.h"

namespace ferrum::cuda {
namespace {

constexpr unsigned kAdjustThreads = 256;
constexpr unsigned kAdjustMaxBlocks = 256;
constexpr unsigned kLogSoftmaxThreads = 256;
constexpr int kLogSoftmaxPerThread = 16;
constexpr size_t kLogSoftmaxChunk = kLogSoftmaxThreads * kLogSoftmaxPerThread;

__global__ void adjust_logits_kernel(float* x, const int32_t* words, size_t capacity, size_t rows, size_t cols) {
  const size_t count = min(static_cast<size_t>(max(words[0], 0)), capacity);
  const auto* entries = reinterpret_cast<const LogitAdjustment*>(words + kLogitAdjustmentWords);
  for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x) {
    const LogitAdjustment e = entries[i];
    if (e.row < 0 || static_cast<size_t>(e.row) >= rows || e.token < 0 || static_cast<size_t>(e.token) >= cols)
      continue;
    float& logit = x[static_cast<size_t>(e.row) * cols + static_cast<size_t>(e.token)];
    // adjusted_logit, each operation rounded on its own (nvcc would otherwise fuse x * r + add).
    const float v = logit;
    const float scaled = v > 0.0f ? __fdiv_rn(v, e.repetition) : __fmul_rn(v, e.repetition);
    logit = __fadd_rn(scaled, e.add);
  }
}

// (max, sum of exp(x - max)) pairs: merging rescales the smaller side's sum. A max of -inf has a
// sum of 0 and is left out of the rescale, whose exp(-inf - -inf) would be NaN.
struct RunningSum {
  float max = -INFINITY;
  float sum = 0.0f;
};

__device__ __forceinline__ RunningSum merge(RunningSum a, RunningSum b) {
  if (a.max == -INFINITY) return b;
  if (b.max == -INFINITY) return a;
  const float top = fmaxf(a.max, b.max);
  return RunningSum{top, a.sum * expf(a.max - top) + b.sum * expf(b.max - top)};
}

__device__ __forceinline__ RunningSum warp_merge(RunningSum value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    const RunningSum other{__shfl_xor_sync(0xffffffffu, value.max, offset),
                           __shfl_xor_sync(0xffffffffu, value.sum, offset)};
    value = merge(value, other);
  }
  return value;
}

// Pass 1, grid (chunks, rows): each 4096-value chunk's (max, sum of exp(x - max)), the chunk in
// registers so the row is read once and each value takes one exp. v1 ran one block per row with a
// running (max, sum) per value: two exps in a dependent chain, 112 us for a 128k row.
__global__ void chunk_sums_kernel(const float* x, size_t cols, RunningSum* partials) {
  __shared__ float scratch[32];
  const float* row = x + blockIdx.y * cols;
  const size_t begin = blockIdx.x * kLogSoftmaxChunk;
  float v[kLogSoftmaxPerThread];
  float top = -INFINITY;
#pragma unroll
  for (int i = 0; i < kLogSoftmaxPerThread; ++i) {
    const size_t c = begin + i * kLogSoftmaxThreads + threadIdx.x;
    v[i] = c < cols ? row[c] : -INFINITY;
    top = fmaxf(top, v[i]);
  }
  top = block_max(top, scratch);
  float sum = 0.0f;
  if (top != -INFINITY) {
#pragma unroll
    for (int i = 0; i < kLogSoftmaxPerThread; ++i) sum += expf(v[i] - top);
  }
  sum = block_sum(sum, scratch);
  if (threadIdx.x == 0) partials[blockIdx.y * gridDim.x + blockIdx.x] = RunningSum{top, sum};
}

// Pass 2, a warp per row: merges the chunks' sums and writes each asked id's x - log-sum-exp.
__global__ void log_softmax_at_kernel(const float* x, const RunningSum* partials, size_t chunks, const int32_t* ids,
                                      float* out, size_t cols, size_t k) {
  const size_t row = blockIdx.x;
  RunningSum total;
  for (size_t c = threadIdx.x; c < chunks; c += 32) total = merge(total, partials[row * chunks + c]);
  total = warp_merge(total);
  const float log_total = total.max + logf(total.sum);
  for (size_t j = threadIdx.x; j < k; j += 32) {
    const int32_t id = ids[row * k + j];
    float value = __int_as_float(0x7fffffff);  // NaN: an id outside the row
    if (id >= 0 && static_cast<size_t>(id) < cols) {
      value = total.max == -INFINITY ? -INFINITY : x[row * cols + static_cast<size_t>(id)] - log_total;
    }
    out[row * k + j] = value;
  }
}

// True when (value a, index a) ranks before (value b, index b) as topk_rows ranks values: the
// larger first, NaN after every number, the lower index among equals.
__device__ __forceinline__ bool ranks_before(float a, int32_t a_index, float b, int32_t b_index) {
  const bool a_nan = isnan(a), b_nan = isnan(b);
  if (a_nan != b_nan) return b_nan;
  if (a_nan || a == b) return a_index < b_index;
  return a > b;
}

__global__ void argmax_gathered_kernel(const float* values, const int32_t* ids, int32_t* out, size_t ranks, size_t rows,
                                       size_t cols) {
  const size_t row = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (row >= rows) return;
  float best = 0.0f;
  int32_t best_index = -1;
  for (size_t rank = 0; rank < ranks; ++rank) {
    const int32_t local = ids[rank * rows + row];
    if (local < 0 || static_cast<size_t>(local) >= cols) {
      out[row] = -1;
      return;
    }
    const float value = values[rank * rows + row];
    const auto index = static_cast<int32_t>(rank * cols) + local;
    if (best_index < 0 || ranks_before(value, index, best, best_index)) {
      best = value;
      best_index = index;
    }
  }
  out[row] = best_index;
}

}  // namespace

Status launch_argmax_gathered(const float* values, const int32_t* ids, int32_t* out, size_t ranks, size_t rows,
                              size_t cols, cudaStream_t stream) {
  if (rows == 0) return ok();
  constexpr unsigned kThreads = 128;
  const unsigned blocks = ceil_div(rows, size_t{kThreads});
  argmax_gathered_kernel<<<blocks, kThreads, 0, stream>>>(values, ids, out, ranks, rows, cols);
  return check_launch("argmax_gathered", dim3(blocks), kThreads);
}

Status launch_adjust_logits(float* x, const int32_t* words, size_t capacity, size_t rows, size_t cols,
                            cudaStream_t stream) {
  const unsigned blocks = std::clamp(ceil_div(capacity, kAdjustThreads), 1u, kAdjustMaxBlocks);
  adjust_logits_kernel<<<blocks, kAdjustThreads, 0, stream>>>(x, words, capacity, rows, cols);
  return check_launch("adjust_logits", dim3(blocks), kAdjustThreads);
}

size_t log_softmax_scratch_bytes(size_t rows, size_t cols) {
  return rows * std::max<size_t>(ceil_div(cols, kLogSoftmaxChunk), 1) * sizeof(RunningSum);
}

Status launch_log_softmax_at(const float* x, const int32_t* ids, float* out, size_t rows, size_t cols, size_t k,
                             void* scratch, cudaStream_t stream) {
  if (rows * k == 0) return ok();
  auto* partials = static_cast<RunningSum*>(scratch);
  const size_t chunks = std::max<size_t>(ceil_div(cols, kLogSoftmaxChunk), 1);
  const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(rows));
  chunk_sums_kernel<<<grid, kLogSoftmaxThreads, 0, stream>>>(x, cols, partials);
  FERRUM_TRY(check_launch("log_softmax_at(chunks)", grid, kLogSoftmaxThreads));
  log_softmax_at_kernel<<<static_cast<unsigned>(rows), 32, 0, stream>>>(x, partials, chunks, ids, out, cols, k);
  return check_launch("log_softmax_at", dim3(static_cast<unsigned>(rows)), 32);
}

}  // namespace ferrum::cuda
