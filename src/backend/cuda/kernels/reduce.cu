#include <cfloat>
#include <climits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/reduce.h"

namespace ferrum::cuda {
namespace {

struct Candidate {
  float value;
  int32_t index;
};

// a ranks before b: larger value, then lower index; NaN ranks after every number (-inf included).
__device__ __forceinline__ bool better(Candidate a, Candidate b) {
  const bool a_nan = isnan(a.value), b_nan = isnan(b.value);
  if (a_nan != b_nan) return b_nan;
  if (a_nan || a.value == b.value) return a.index < b.index;
  return a.value > b.value;
}

// Ranks after everything, a NaN at any real index included.
__device__ __forceinline__ Candidate worst_candidate() {
  return Candidate{__int_as_float(0x7fffffff), INT_MAX};
}

// ── softmax ──

template <class A>
__global__ void softmax_rows_kernel(const A* x, A* out, size_t cols) {
  __shared__ float scratch[32];
  const A* row = x + blockIdx.x * cols;
  float max_value = -INFINITY;
  for (size_t c = threadIdx.x; c < cols; c += blockDim.x) max_value = fmaxf(max_value, to_f32(row[c]));
  max_value = block_max(max_value, scratch);
  if (max_value == -INFINITY) {  // every entry masked: the row is all zeros, not NaN
    for (size_t c = threadIdx.x; c < cols; c += blockDim.x) out[blockIdx.x * cols + c] = from_f32<A>(0.0f);
    return;
  }
  float sum = 0.0f;
  for (size_t c = threadIdx.x; c < cols; c += blockDim.x) sum += expf(to_f32(row[c]) - max_value);
  const float inv_sum = 1.0f / block_sum(sum, scratch);
  for (size_t c = threadIdx.x; c < cols; c += blockDim.x) {
    out[blockIdx.x * cols + c] = from_f32<A>(expf(to_f32(row[c]) - max_value) * inv_sum);
  }
}

// ── argmax: per-chunk winners, then one block per row over the chunk winners ──

// 2048 values per block: a 128k vocabulary spreads over 63 blocks instead of 16 (in the 8B decode
// profile the 16-block version took 16.7 us, latency of 32 loads per thread).
constexpr size_t kArgmaxChunk = 2048;
constexpr unsigned kReduceThreads = 256;

__device__ Candidate block_best(Candidate mine, Candidate* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    Candidate other{__shfl_xor_sync(0xffffffffu, mine.value, offset), __shfl_xor_sync(0xffffffffu, mine.index, offset)};
    if (better(other, mine)) mine = other;
  }
  if (lane == 0) shared[warp] = mine;
  __syncthreads();
  if (warp == 0) {
    mine = lane < static_cast<int>(blockDim.x / 32) ? shared[lane] : worst_candidate();
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
      Candidate other{__shfl_xor_sync(0xffffffffu, mine.value, offset),
                      __shfl_xor_sync(0xffffffffu, mine.index, offset)};
      if (better(other, mine)) mine = other;
    }
  }
  return mine;  // valid in thread 0
}

// grid (chunks, rows). With one chunk per row it writes the answer directly.
template <class A>
__global__ void argmax_chunk_kernel(const A* x, size_t cols, Candidate* partials, int32_t* ids) {
  __shared__ Candidate shared[32];
  const size_t row = blockIdx.y, begin = blockIdx.x * kArgmaxChunk;
  const size_t end = begin + kArgmaxChunk < cols ? begin + kArgmaxChunk : cols;
  Candidate mine = worst_candidate();
  for (size_t c = begin + threadIdx.x; c < end; c += blockDim.x) {
    const Candidate here{to_f32(x[row * cols + c]), static_cast<int32_t>(c)};
    if (better(here, mine)) mine = here;
  }
  mine = block_best(mine, shared);
  if (threadIdx.x == 0) {
    if (gridDim.x == 1) {
      ids[row] = mine.index;
    } else {
      partials[row * gridDim.x + blockIdx.x] = mine;
    }
  }
}

__global__ void argmax_final_kernel(const Candidate* partials, size_t chunks, int32_t* ids) {
  __shared__ Candidate shared[32];
  Candidate mine = worst_candidate();
  for (size_t c = threadIdx.x; c < chunks; c += blockDim.x) {
    if (better(partials[blockIdx.x * chunks + c], mine)) mine = partials[blockIdx.x * chunks + c];
  }
  mine = block_best(mine, shared);
  if (threadIdx.x == 0) ids[blockIdx.x] = mine.index;
}

// ── top-k: rounds of "sort a chunk of candidates in shared memory, keep its best k" ──

constexpr int kSortSize = 4096;
constexpr unsigned kSortThreads = 1024;

// Reads `count` candidates per row (from x with implicit indices when `x` is set, else from `in`),
// chunk blockIdx.x of kSortSize, sorts it best-first, writes its best k to `out` (k per chunk) or,
// on the last round, to values / ids.
template <class A>
__global__ void topk_round_kernel(const A* x, const Candidate* in, size_t count, size_t k, Candidate* out,
                                  float* values, int32_t* ids) {
  __shared__ Candidate items[kSortSize];
  const size_t row = blockIdx.y, begin = blockIdx.x * size_t{kSortSize};
  for (int i = threadIdx.x; i < kSortSize; i += blockDim.x) {
    const size_t c = begin + i;
    Candidate item = worst_candidate();
    if (c < count) item = x ? Candidate{to_f32(x[row * count + c]), static_cast<int32_t>(c)} : in[row * count + c];
    items[i] = item;
  }
  __syncthreads();
  for (int size = 2; size <= kSortSize; size *= 2) {
    for (int stride = size / 2; stride > 0; stride /= 2) {
      for (int i = threadIdx.x; i < kSortSize; i += blockDim.x) {
        const int j = i ^ stride;
        if (j > i) {
          const bool best_first = (i & size) == 0;
          const Candidate a = items[i], b = items[j];
          if (best_first ? better(b, a) : better(a, b)) {
            items[i] = b;
            items[j] = a;
          }
        }
      }
      __syncthreads();
    }
  }
  for (size_t i = threadIdx.x; i < k; i += blockDim.x) {
    if (gridDim.x == 1 && out == nullptr) {
      values[row * k + i] = items[i].value;
      ids[row * k + i] = items[i].index;
    } else {
      out[(row * gridDim.x + blockIdx.x) * k + i] = items[i];
    }
  }
}

// Small k (top log-probabilities): the chunk stays in registers, 16 candidates a thread, and k
// rounds of a block-wide best pick the chunk's best k in order (the thread holding each winner
// drops it). v1 above sorted every 4096-value chunk in shared memory whatever k was: ~1 ms for 64
// rows of a 128k vocabulary, against ~0.05 ms here for k = 5..20.
constexpr unsigned kSmallTopkThreads = 256;
constexpr int kSmallTopkPerThread = kSortSize / kSmallTopkThreads;

template <class A>
__global__ void topk_small_round_kernel(const A* x, const Candidate* in, size_t count, size_t k, Candidate* out,
                                        float* values, int32_t* ids) {
  __shared__ Candidate warps[32];
  __shared__ Candidate winner;
  const size_t row = blockIdx.y, begin = blockIdx.x * size_t{kSortSize};
  Candidate mine[kSmallTopkPerThread];
#pragma unroll
  for (int i = 0; i < kSmallTopkPerThread; ++i) {
    const size_t c = begin + i * kSmallTopkThreads + threadIdx.x;
    mine[i] = worst_candidate();
    if (c < count) mine[i] = x ? Candidate{to_f32(x[row * count + c]), static_cast<int32_t>(c)} : in[row * count + c];
  }
  uint32_t taken = 0;
  for (size_t round = 0; round < k; ++round) {
    Candidate best = worst_candidate();
    int best_slot = -1;
#pragma unroll
    for (int i = 0; i < kSmallTopkPerThread; ++i) {
      if (!(taken & (1u << i)) && (best_slot < 0 || better(mine[i], best))) {
        best = mine[i];
        best_slot = i;
      }
    }
    const Candidate block = block_best(best, warps);
    if (threadIdx.x == 0) winner = block;
    __syncthreads();
    const Candidate won = winner;
    // Indices are unique within a row, so one thread holds the winner (the padding's shared
    // index marks only padding).
    if (best_slot >= 0 && won.index == best.index) taken |= 1u << best_slot;
    if (threadIdx.x == 0) {
      if (gridDim.x == 1 && out == nullptr) {
        values[row * k + round] = won.value;
        ids[row * k + round] = won.index;
      } else {
        out[(row * gridDim.x + blockIdx.x) * k + round] = won;
      }
    }
  }
}

}  // namespace

Status launch_softmax_rows(const void* x, void* out, DType dtype, size_t rows, size_t cols, cudaStream_t stream) {
  if (rows * cols == 0) return ok();
  const dim3 grid(static_cast<unsigned>(rows));
  const unsigned threads = cols >= 1024 ? 1024 : (cols + 31) / 32 * 32;
  FERRUM_DISPATCH_FLOAT(dtype, A, "softmax_rows", {
    softmax_rows_kernel<A><<<grid, threads, 0, stream>>>(static_cast<const A*>(x), static_cast<A*>(out), cols);
  });
  return check_launch("softmax_rows", grid, threads);
}

size_t argmax_scratch_bytes(size_t rows, size_t cols) {
  const size_t chunks = (cols + kArgmaxChunk - 1) / kArgmaxChunk;
  return chunks > 1 ? rows * chunks * sizeof(Candidate) : 0;
}

Status launch_argmax_rows(const void* x, DType dtype, int32_t* ids, size_t rows, size_t cols, void* scratch,
                          cudaStream_t stream) {
  if (rows == 0) return ok();
  const size_t chunks = (cols + kArgmaxChunk - 1) / kArgmaxChunk;
  const dim3 grid(static_cast<unsigned>(chunks == 0 ? 1 : chunks), static_cast<unsigned>(rows));
  auto* partials = static_cast<Candidate*>(scratch);
  FERRUM_DISPATCH_FLOAT(dtype, A, "argmax_rows", {
    argmax_chunk_kernel<A><<<grid, kReduceThreads, 0, stream>>>(static_cast<const A*>(x), cols, partials, ids);
  });
  FERRUM_TRY(check_launch("argmax_rows(chunks)", grid, kReduceThreads));
  if (chunks <= 1) return ok();
  argmax_final_kernel<<<static_cast<unsigned>(rows), kReduceThreads, 0, stream>>>(partials, chunks, ids);
  return check_launch("argmax_rows(final)", dim3(static_cast<unsigned>(rows)), kReduceThreads);
}

size_t topk_scratch_bytes(size_t rows, size_t cols, size_t k) {
  const size_t chunks = (cols + kSortSize - 1) / kSortSize;
  return chunks > 1 ? rows * chunks * k * sizeof(Candidate) : 0;
}

Status launch_topk_rows(const void* x, DType dtype, float* values, int32_t* ids, size_t rows, size_t cols, size_t k,
                        void* scratch_a, void* scratch_b, cudaStream_t stream) {
  if (rows == 0 || k == 0) return ok();
  size_t count = cols;
  const Candidate* in = nullptr;
  Candidate* buffers[2] = {static_cast<Candidate*>(scratch_a), static_cast<Candidate*>(scratch_b)};
  for (int round = 0;; ++round) {
    const size_t chunks = (count + kSortSize - 1) / kSortSize;
    Candidate* out = chunks > 1 ? buffers[round % 2] : nullptr;
    const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(rows));
    const bool small = k <= kTopkSmallK;
    const unsigned threads = small ? kSmallTopkThreads : kSortThreads;
    if (round == 0) {
      FERRUM_DISPATCH_FLOAT(dtype, A, "topk_rows", {
        const A* typed = static_cast<const A*>(x);
        if (small) {
          topk_small_round_kernel<A><<<grid, threads, 0, stream>>>(typed, nullptr, count, k, out, values, ids);
        } else {
          topk_round_kernel<A><<<grid, threads, 0, stream>>>(typed, nullptr, count, k, out, values, ids);
        }
      });
    } else if (small) {
      topk_small_round_kernel<float><<<grid, threads, 0, stream>>>(nullptr, in, count, k, out, values, ids);
    } else {
      topk_round_kernel<float><<<grid, threads, 0, stream>>>(nullptr, in, count, k, out, values, ids);
    }
    FERRUM_TRY(check_launch("topk_rows", grid, threads));
    if (out == nullptr) return ok();
    in = out;
    count = chunks * k;
  }
}

}  // namespace ferrum::cuda
