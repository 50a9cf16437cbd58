// Split-KV attention on CUDA cores: the decode kernel (version 2 of lab/attention_decode_lab.cu)
// and the backend's general fallback (any q_len, head_dim, dtype; MLA's two-part keys).
//
// Grid: (split, kv_head x row block, batch). A block owns kRows query rows that share one KV head
// (the GQA group times q_len, so K and V are read once for the whole group) and one slice of the
// keys. Each of its 4 warps runs an independent online softmax over 32-key tiles: lane l scores
// key l against all kRows rows (its K row read with 16-byte loads), then the warp accumulates
// p * V with lanes spread over the value dimension. Warps merge through shared memory; with more
// than one split the block writes an unnormalised partial (acc, max, sum) and a combine kernel
// finishes. Scores are kept in the log2 domain (q is pre-scaled by scale * log2(e)) so exp2f works.
#pragma once

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/kernels/attention.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/launch.cuh"

namespace ferrum::cuda {

struct SplitKvParams {
  const void* q;
  const void* k1;
  const void* k2;
  const void* v;
  void* out;
  float* partials;  // [splits][total_rows][dv + 2]: acc, then max and sum
  int d1, d2, dv, dk_pad;
  int heads, kv_heads, group, q_len, kv_len, kv_stride, pos_offset, kv_minus_pos;
  int causal, window;
  float scale_log2;
  const int32_t* dyn_state;
  int num_splits, row_blocks, total_rows;
  int vec_keys;  // key rows may be read as 16-byte vectors
};

inline constexpr int kSplitKvWarps = 4;

// scores[r] += q_rows[r, q_offset ..] . key[0 .. dims) for the kRows rows. Vector loads go out
// kBatch 16-byte chunks at a time (all issued before the first is used) to overlap their latency.
template <class T, int kRows, int kBatch>
__device__ __forceinline__ void dot_key_segment(const T* key, const float* q_rows, int q_offset, int dims, int dk_pad,
                                                bool vec, float (&scores)[kRows]) {
  if (vec) {
    for (int d0 = 0; d0 < dims; d0 += 8 * kBatch) {
      Packed8<T> raw[kBatch];
#pragma unroll
      for (int u = 0; u < kBatch; ++u) {
        if (d0 + 8 * u < dims) raw[u].load(key + d0 + 8 * u);
      }
#pragma unroll
      for (int u = 0; u < kBatch; ++u) {
        if (d0 + 8 * u >= dims) break;
        float kv[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) kv[i] = raw[u][i];
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          const float4* q4 = reinterpret_cast<const float4*>(q_rows + r * dk_pad + q_offset + d0 + 8 * u);
          const float4 lo = q4[0], hi = q4[1];
          scores[r] += lo.x * kv[0] + lo.y * kv[1] + lo.z * kv[2] + lo.w * kv[3] + hi.x * kv[4] + hi.y * kv[5] +
                       hi.z * kv[6] + hi.w * kv[7];
        }
      }
    }
  } else {
    for (int d = 0; d < dims; ++d) {
      const float kv = to_f32(key[d]);
#pragma unroll
      for (int r = 0; r < kRows; ++r) scores[r] += q_rows[r * dk_pad + q_offset + d] * kv;
    }
  }
}

// TQ: the type of q and out; TK: the type of K and V (e.g. f32 activations over a bf16 cache).
// kBatched (version 3): K rows loaded 8 chunks at a time and V rows 8 keys at a time, every load
// issued before its first use; version 2 (kBatched = false) loaded 4 chunks and one V row at a time,
// which left each warp waiting on one memory round trip per key.
template <class TQ, class TK, int kRows, int kDvPerLane, bool kBatched = true>
__global__ void __launch_bounds__(kSplitKvWarps * 32) split_kv_attention_kernel(SplitKvParams p) {
  constexpr int kKeyBatch = kBatched ? 8 : 4;
  constexpr int kValueBatch = kBatched ? 8 : 1;
  extern __shared__ float shared[];
  float* q_rows = shared;                                // [kRows][dk_pad]
  float* merge_max = q_rows + kRows * p.dk_pad;          // [warps][kRows]
  float* merge_sum = merge_max + kSplitKvWarps * kRows;  // [warps][kRows]
  float* merge_acc = merge_sum + kSplitKvWarps * kRows;  // [warps][kRows][dv]

  const int split = blockIdx.x, kv_head = blockIdx.y / p.row_blocks, row_block = blockIdx.y % p.row_blocks;
  const int batch = blockIdx.z, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int dk = p.d1 + p.d2;

  // PDL (kernels/launch.cuh): the cached keys and values before this step's row do not depend on
  // the previous kernel, so they are prefetched into L2 before waiting for it (below).
  pdl_launch_dependents();
  int pos_offset = p.pos_offset, kv_len = p.kv_len;
  if (p.dyn_state != nullptr) {
    pos_offset = p.dyn_state[DecodeStateSlots::kStep];
    kv_len = min(pos_offset + p.kv_minus_pos, p.kv_stride);
  }

  // Rows of this block: r -> (head, query index). Invalid rows (past the group) get position -1.
  const int rows_per_kv_head = p.group * p.q_len;
  int position[kRows];
  int q_min = INT_MAX, q_max = -1;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int rr = row_block * kRows + r;
    position[r] = -1;
    if (rr < rows_per_kv_head) {
      const int qi = rr % p.q_len;
      position[r] = pos_offset + qi;
      q_min = min(q_min, qi);
      q_max = max(q_max, qi);
    }
  }
  const int lo = p.window > 0 ? max(0, pos_offset + q_min - p.window + 1) : 0;
  const int hi = p.causal ? min(kv_len, pos_offset + q_max + 1) : kv_len;
  const int span = max(0, hi - lo);
  const int chunk = (span + p.num_splits * 32 - 1) / (p.num_splits * 32) * 32;
  const int begin = lo + split * chunk, end = min(hi, begin + chunk);

  const size_t kv_row0 = (static_cast<size_t>(batch) * p.kv_heads + kv_head) * p.kv_stride;
  const TK* k1 = static_cast<const TK*>(p.k1) + kv_row0 * p.d1;
  const TK* k2 = p.d2 > 0 ? static_cast<const TK*>(p.k2) + kv_row0 * p.d2 : nullptr;
  const TK* v = static_cast<const TK*>(p.v) + kv_row0 * p.dv;
  if (threadIdx.x < 2 && end > begin) {
    const TK* base = threadIdx.x == 0 ? k1 + static_cast<size_t>(begin) * p.d1 : v + static_cast<size_t>(begin) * p.dv;
    const size_t row = threadIdx.x == 0 ? p.d1 : p.dv;
    const size_t bytes = static_cast<size_t>(end - begin) * row * sizeof(TK);
    if (reinterpret_cast<uintptr_t>(base) % 16 == 0) {
      prefetch_l2(base, static_cast<uint32_t>(bytes < (size_t{1} << 20) ? bytes : (size_t{1} << 20)));
    }
  }
  pdl_wait();

  const TQ* q = static_cast<const TQ*>(p.q);
  for (int idx = threadIdx.x; idx < kRows * dk; idx += blockDim.x) {
    const int r = idx / dk, d = idx % dk, rr = row_block * kRows + r;
    float value = 0.0f;
    if (rr < rows_per_kv_head) {
      const int head = kv_head * p.group + rr / p.q_len, qi = rr % p.q_len;
      value = to_f32(q[((static_cast<size_t>(batch) * p.heads + head) * p.q_len + qi) * dk + d]) * p.scale_log2;
    }
    q_rows[r * p.dk_pad + d] = value;
  }

  __syncthreads();

  float row_max[kRows], row_sum[kRows], acc[kRows][kDvPerLane];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    row_max[r] = -INFINITY;
    row_sum[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < kDvPerLane; ++c) acc[r][c] = 0.0f;
  }

  for (int tile = begin + warp * 32; tile < end; tile += kSplitKvWarps * 32) {
    const int key = tile + lane;
    float score[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) score[r] = 0.0f;
    if (key < end) {
      dot_key_segment<TK, kRows, kKeyBatch>(k1 + static_cast<size_t>(key) * p.d1, q_rows, 0, p.d1, p.dk_pad, p.vec_keys,
                                            score);
      if (k2 != nullptr) {
        dot_key_segment<TK, kRows, kKeyBatch>(k2 + static_cast<size_t>(key) * p.d2, q_rows, p.d1, p.d2, p.dk_pad,
                                              p.vec_keys, score);
      }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const bool visible = key < end && position[r] >= 0 && (!p.causal || key <= position[r]) &&
                           (p.window == 0 || key + p.window > position[r]);
      const float s = visible ? score[r] : -INFINITY;
      const float new_max = fmaxf(row_max[r], warp_max(s));
      const float base = new_max == -INFINITY ? 0.0f : new_max;  // nothing visible yet: keep zeros
      const float alpha = exp2f(row_max[r] - base);
      score[r] = exp2f(s - base);
      row_sum[r] = row_sum[r] * alpha + warp_sum(score[r]);
      row_max[r] = new_max;
#pragma unroll
      for (int c = 0; c < kDvPerLane; ++c) acc[r][c] *= alpha;
    }
    const int keys = min(32, end - tile);
    for (int j0 = 0; j0 < keys; j0 += kValueBatch) {
      TK values[kValueBatch][kDvPerLane];
#pragma unroll
      for (int u = 0; u < kValueBatch; ++u) {
        const TK* v_row = v + static_cast<size_t>(tile + j0 + u) * p.dv;
#pragma unroll
        for (int c = 0; c < kDvPerLane; ++c) {
          const int d = c * 32 + lane;
          values[u][c] = j0 + u < keys && d < p.dv ? v_row[d] : from_f32<TK>(0.0f);
        }
      }
#pragma unroll
      for (int u = 0; u < kValueBatch; ++u) {
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          // Lanes past `keys` hold p = 0, so a short last batch adds nothing.
          const float weight = __shfl_sync(0xffffffffu, score[r], (j0 + u) & 31);
#pragma unroll
          for (int c = 0; c < kDvPerLane; ++c) acc[r][c] = fmaf(weight, to_f32(values[u][c]), acc[r][c]);
        }
      }
    }
  }

  // Merge the warps' running states.
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (lane == 0) {
      merge_max[warp * kRows + r] = row_max[r];
      merge_sum[warp * kRows + r] = row_sum[r];
    }
#pragma unroll
    for (int c = 0; c < kDvPerLane; ++c) {
      const int d = c * 32 + lane;
      if (d < p.dv) merge_acc[(warp * kRows + r) * p.dv + d] = acc[r][c];
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < kRows * p.dv; idx += blockDim.x) {
    const int r = idx / p.dv, d = idx % p.dv, rr = row_block * kRows + r;
    if (rr >= rows_per_kv_head) continue;
    float total_max = -INFINITY;
    for (int w = 0; w < kSplitKvWarps; ++w) total_max = fmaxf(total_max, merge_max[w * kRows + r]);
    float total_sum = 0.0f, total_acc = 0.0f;
    if (total_max != -INFINITY) {
      for (int w = 0; w < kSplitKvWarps; ++w) {
        const float weight = exp2f(merge_max[w * kRows + r] - total_max);
        total_sum += merge_sum[w * kRows + r] * weight;
        total_acc += merge_acc[(w * kRows + r) * p.dv + d] * weight;
      }
    }
    const int head = kv_head * p.group + rr / p.q_len, qi = rr % p.q_len;
    const size_t out_row = (static_cast<size_t>(batch) * p.heads + head) * p.q_len + qi;
    if (p.num_splits == 1) {
      static_cast<TQ*>(p.out)[out_row * p.dv + d] = from_f32<TQ>(total_sum > 0.0f ? total_acc / total_sum : 0.0f);
    } else {
      float* partial = p.partials + (static_cast<size_t>(split) * p.total_rows + out_row) * (p.dv + 2);
      partial[d] = total_acc;
      if (d == 0) {
        partial[p.dv] = total_max;
        partial[p.dv + 1] = total_sum;
      }
    }
  }
}

// One block per output row: weights the splits' partials by exp2(max_s - max) and normalises.
// Rows are (head, token) pairs, head-major; with token_major_heads = H > 0 the output row of
// (h, t) is t * H + h instead ([tokens, heads, dv], the paged decode kernels' token-major mode).
template <class T>
__global__ void split_kv_combine_kernel(const float* partials, T* out, int num_splits, int total_rows, int dv,
                                        int token_major_heads) {
  pdl_launch_dependents();
  pdl_wait();
  const size_t row = blockIdx.x;
  size_t out_row = row;
  if (token_major_heads > 0) {
    const size_t tokens = static_cast<size_t>(total_rows) / token_major_heads;
    out_row = (row % tokens) * token_major_heads + row / tokens;
  }
  const size_t split_stride = static_cast<size_t>(total_rows) * (dv + 2);
  const float* first = partials + row * (dv + 2);
  float total_max = -INFINITY;
  for (int s = 0; s < num_splits; ++s) total_max = fmaxf(total_max, first[s * split_stride + dv]);
  for (int d = threadIdx.x; d < dv; d += blockDim.x) {
    float total_sum = 0.0f, total_acc = 0.0f;
    if (total_max != -INFINITY) {
      for (int s = 0; s < num_splits; ++s) {
        const float* partial = first + s * split_stride;
        const float weight = exp2f(partial[dv] - total_max);
        total_sum += partial[dv + 1] * weight;
        total_acc += partial[d] * weight;
      }
    }
    out[out_row * dv + d] = from_f32<T>(total_sum > 0.0f ? total_acc / total_sum : 0.0f);
  }
}

// ── Host side: filling the parameters and launching (shared by attention.cu and the lab) ──

inline SplitKvParams make_split_kv_params(const AttentionProblem& a, int num_splits, int rows_per_block,
                                          void* partials) {
  SplitKvParams p{};
  p.q = a.q;
  p.k1 = a.k1;
  p.k2 = a.k2;
  p.v = a.v;
  p.out = a.out;
  p.partials = static_cast<float*>(partials);
  p.d1 = static_cast<int>(a.d1);
  p.d2 = static_cast<int>(a.d2);
  p.dv = static_cast<int>(a.dv);
  p.dk_pad = static_cast<int>((a.d1 + a.d2 + 3) / 4 * 4);
  p.heads = static_cast<int>(a.heads);
  p.kv_heads = static_cast<int>(a.kv_heads);
  p.group = static_cast<int>(a.heads / a.kv_heads);
  p.q_len = static_cast<int>(a.q_len);
  p.kv_len = static_cast<int>(a.kv_len);
  p.kv_stride = static_cast<int>(a.kv_stride);
  p.pos_offset = static_cast<int>(a.pos_offset);
  p.kv_minus_pos = static_cast<int>(a.kv_len) - static_cast<int>(a.pos_offset);
  p.causal = a.causal;
  p.window = static_cast<int>(a.window);
  p.scale_log2 = a.scale * 1.4426950408889634f;
  p.dyn_state = a.dyn_state;
  p.num_splits = num_splits;
  p.row_blocks = (p.group * p.q_len + rows_per_block - 1) / rows_per_block;
  p.total_rows = static_cast<int>(a.batch * a.heads * a.q_len);
  p.vec_keys = a.d1 % 8 == 0 && a.d2 % 8 == 0 && is_aligned(a.k1, 16) && (a.d2 == 0 || is_aligned(a.k2, 16));
  return p;
}

// Launches the attention kernel and, with more than one split, the combine kernel.
template <class TQ, class TK, int kRows, int kDvPerLane, bool kBatched = true>
Status launch_split_kv_kernel(const SplitKvParams& p, size_t batch, size_t kv_heads, cudaStream_t stream) {
  const size_t shared = sizeof(float) * (static_cast<size_t>(kRows) * p.dk_pad + 2 * kSplitKvWarps * kRows +
                                         static_cast<size_t>(kSplitKvWarps) * kRows * p.dv);
  auto kernel = split_kv_attention_kernel<TQ, TK, kRows, kDvPerLane, kBatched>;
  if (shared > 48 * 1024) {
    FERRUM_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)),
                    "(split_kv_attention, ", shared, " bytes of shared memory)");
  }
  const dim3 grid(p.num_splits, static_cast<unsigned>(kv_heads * p.row_blocks), static_cast<unsigned>(batch));
  const dim3 block(kSplitKvWarps * 32);
  FERRUM_TRY(launch_kernel("split_kv_attention", kernel, grid, block, shared, stream, p));
  if (p.num_splits == 1) return ok();
  const dim3 combine_grid(static_cast<unsigned>(p.total_rows));
  return launch_kernel("split_kv_combine", split_kv_combine_kernel<TQ>, combine_grid, dim3(128), 0, stream,
                       static_cast<const float*>(p.partials), static_cast<TQ*>(p.out), p.num_splits, p.total_rows, p.dv,
                       0);
}

}  // namespace ferrum::cuda
