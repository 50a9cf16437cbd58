// Paged attention for a mixed batch, on CUDA cores: the split-KV scheme of attention_split_kv.cuh
// (4 warps per block, lane l scores key l of a 32-key tile against all kRows query rows, then the
// warp accumulates p * V with lanes spread over the value dimension; warps merge in shared memory,
// splits through the same combine kernel) with two changes:
//   - the batch is ragged: blockIdx.z is a sequence, whose query rows, positions and key count come
//     from query_start / context_lens on the device, so one launch serves prefill chunks and decode
//     tokens together (row blocks past a sequence's rows return at once);
//   - key j's row is found through the sequence's block table. Each lane looks up its own key's row
//     for the scores; the value pass broadcasts the row of key j from lane j with a shuffle.
// f8_e4m3 pools (version 2) multiply each key's scores by its row scale and fold each value row's
// scale into its softmax weight before the broadcast.
// Version 1: written for correctness and decode; prefill chunks run here too, on CUDA cores (a
// tensor-core paged prefill kernel is the next version).
#pragma once

#include <climits>
#include <type_traits>

#include "backend/cuda/kernels/attention_split_kv.cuh"
#include "backend/cuda/kernels/device_common.cuh"
#include "core/fast_divisor.h"

namespace ferrum::cuda {

struct PagedKernelParams {
  const void* q;
  const void* k1;
  const void* k2;
  const void* v;
  const float* k1_scales;  // f8_e4m3 pools: each row's scale (null otherwise)
  const float* k2_scales;
  const float* v_scales;
  void* out;
  float* partials;  // [splits][total_rows][dv + 2]
  const int32_t* query_start;
  const int32_t* context_lens;
  const int32_t* block_tables;
  int max_blocks_per_seq, block_size, num_blocks, num_tokens;
  FastDivisor block_divisor;  // key / block_size (the decode kernels' tile copies)
  int d1, d2, dv, dk_pad;
  int heads, kv_heads, group;
  int causal, window;
  float scale_log2;
  int num_splits, row_blocks, total_rows;
  int vec_keys;
  int flash_min_query_len;  // sequences with this many query rows or more ran on the tensor cores
  int token_major;          // the decode kernels write out [tokens, heads, dv] (else [heads, tokens, dv])
};

// Where the output row of (head, token) goes: head-major, or token-major when p.token_major.
__device__ __forceinline__ size_t paged_out_row(const PagedKernelParams& p, int head, int token) {
  return p.token_major ? static_cast<size_t>(token) * p.heads + head : static_cast<size_t>(head) * p.num_tokens + token;
}

inline constexpr int kPagedWarps = 4;

template <class TQ, class TK, int kRows, int kDvPerLane>
__global__ void __launch_bounds__(kPagedWarps * 32) paged_attention_kernel(PagedKernelParams p) {
  // f8_e4m3 rows carry a scale each: scores take the key's, softmax weights the value's.
  constexpr bool kScaledRows = std::is_same_v<TK, f8e4m3_t>;
  constexpr int kKeyBatch = 8;
  constexpr int kValueBatch = 8;
  extern __shared__ float shared[];
  float* q_rows = shared;                              // [kRows][dk_pad]
  float* merge_max = q_rows + kRows * p.dk_pad;        // [warps][kRows]
  float* merge_sum = merge_max + kPagedWarps * kRows;  // [warps][kRows]
  float* merge_acc = merge_sum + kPagedWarps * kRows;  // [warps][kRows][dv]

  const int split = blockIdx.x, kv_head = blockIdx.y / p.row_blocks, row_block = blockIdx.y % p.row_blocks;
  const int seq = blockIdx.z, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int dk = p.d1 + p.d2;
  const int q_first = p.query_start[seq];
  const int q_len = p.query_start[seq + 1] - q_first;
  const int kv_len = p.context_lens[seq];
  const int pos_offset = kv_len - q_len;
  const int rows_per_kv_head = p.group * q_len;
  if (row_block * kRows >= rows_per_kv_head) return;  // the whole block: this sequence has fewer rows
  if (q_len >= p.flash_min_query_len) return;         // the tensor-core kernel's

  int position[kRows];
  int q_min = INT_MAX, q_max = -1;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int rr = row_block * kRows + r;
    position[r] = -1;
    if (rr < rows_per_kv_head) {
      const int qi = rr % q_len;
      position[r] = pos_offset + qi;
      q_min = min(q_min, qi);
      q_max = max(q_max, qi);
    }
  }
  const TQ* q = static_cast<const TQ*>(p.q);
  for (int idx = threadIdx.x; idx < kRows * dk; idx += blockDim.x) {
    const int r = idx / dk, d = idx % dk, rr = row_block * kRows + r;
    float value = 0.0f;
    if (rr < rows_per_kv_head) {
      const int head = kv_head * p.group + rr / q_len, qi = rr % q_len;
      value = to_f32(q[(static_cast<size_t>(head) * p.num_tokens + q_first + qi) * dk + d]) * p.scale_log2;
    }
    q_rows[r * p.dk_pad + d] = value;
  }

  const int lo = p.window > 0 ? max(0, pos_offset + q_min - p.window + 1) : 0;
  const int hi = p.causal ? min(kv_len, pos_offset + q_max + 1) : kv_len;
  const int span = max(0, hi - lo);
  const int chunk = (span + p.num_splits * 32 - 1) / (p.num_splits * 32) * 32;
  const int begin = lo + split * chunk, end = min(hi, begin + chunk);
  __syncthreads();

  const int32_t* table = p.block_tables + static_cast<size_t>(seq) * p.max_blocks_per_seq;
  const size_t rows_per_block = static_cast<size_t>(p.kv_heads) * p.block_size;
  const size_t head_row = static_cast<size_t>(kv_head) * p.block_size;
  const TK* k1 = static_cast<const TK*>(p.k1);
  const TK* k2 = static_cast<const TK*>(p.k2);
  const TK* v = static_cast<const TK*>(p.v);

  float row_max[kRows], row_sum[kRows], acc[kRows][kDvPerLane];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    row_max[r] = -INFINITY;
    row_sum[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < kDvPerLane; ++c) acc[r][c] = 0.0f;
  }

  for (int tile = begin + warp * 32; tile < end; tile += kPagedWarps * 32) {
    const int key = tile + lane;
    // This lane's key row in the pools, or -1 (past the tile, or a block id outside the pool).
    long long key_row = -1;
    if (key < end) {
      const int block = table[key / p.block_size];
      if (block >= 0 && block < p.num_blocks) {
        key_row = static_cast<long long>(block * rows_per_block + head_row + key % p.block_size);
      }
    }
    float score[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) score[r] = 0.0f;
    float v_scale = 1.0f;  // this lane's value row scale, folded into its softmax weight
    if (key_row >= 0) {
      if constexpr (kScaledRows) {
        const float k1_scale = p.k1_scales[key_row];
        const float k2_scale = p.d2 > 0 ? p.k2_scales[key_row] : 0.0f;
        v_scale = p.v_scales[key_row];
        dot_key_segment<TK, kRows, kKeyBatch>(k1 + key_row * p.d1, q_rows, 0, p.d1, p.dk_pad, p.vec_keys, score);
#pragma unroll
        for (int r = 0; r < kRows; ++r) score[r] *= k1_scale;
        if (p.d2 > 0) {
          float part[kRows];
#pragma unroll
          for (int r = 0; r < kRows; ++r) part[r] = 0.0f;
          dot_key_segment<TK, kRows, kKeyBatch>(k2 + key_row * p.d2, q_rows, p.d1, p.d2, p.dk_pad, p.vec_keys, part);
#pragma unroll
          for (int r = 0; r < kRows; ++r) score[r] = fmaf(part[r], k2_scale, score[r]);
        }
      } else {
        dot_key_segment<TK, kRows, kKeyBatch>(k1 + key_row * p.d1, q_rows, 0, p.d1, p.dk_pad, p.vec_keys, score);
        if (p.d2 > 0) {
          dot_key_segment<TK, kRows, kKeyBatch>(k2 + key_row * p.d2, q_rows, p.d1, p.d2, p.dk_pad, p.vec_keys, score);
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const bool visible = key_row >= 0 && position[r] >= 0 && (!p.causal || key <= position[r]) &&
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
        const long long row = __shfl_sync(0xffffffffu, key_row, (j0 + u) & 31);
        const TK* v_row = v + (row >= 0 ? row : 0) * p.dv;
#pragma unroll
        for (int c = 0; c < kDvPerLane; ++c) {
          const int d = c * 32 + lane;
          values[u][c] = j0 + u < keys && row >= 0 && d < p.dv ? v_row[d] : from_f32<TK>(0.0f);
        }
      }
#pragma unroll
      for (int u = 0; u < kValueBatch; ++u) {
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          // Lanes past `keys` or with a masked key hold p = 0, so they add nothing.
          const float weight = __shfl_sync(0xffffffffu, score[r] * v_scale, (j0 + u) & 31);
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
    for (int w = 0; w < kPagedWarps; ++w) total_max = fmaxf(total_max, merge_max[w * kRows + r]);
    float total_sum = 0.0f, total_acc = 0.0f;
    if (total_max != -INFINITY) {
      for (int w = 0; w < kPagedWarps; ++w) {
        const float weight = exp2f(merge_max[w * kRows + r] - total_max);
        total_sum += merge_sum[w * kRows + r] * weight;
        total_acc += merge_acc[(w * kRows + r) * p.dv + d] * weight;
      }
    }
    const int head = kv_head * p.group + rr / q_len, qi = rr % q_len;
    const size_t out_row = static_cast<size_t>(head) * p.num_tokens + q_first + qi;
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

}  // namespace ferrum::cuda
