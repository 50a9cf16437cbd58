// Decode attention (one query row per head) for half-precision caches: version 4 of
// lab/attention_decode_lab.cu's lineage, written for the CUDA-graph decode step.
//
// Why a kernel of its own: in the 8B decode profile (run 2) the split-KV kernel took 11.3 us a layer
// plus 3.8 us for its combine kernel, for 2.6 MB of K/V: a chain of ~7 dependent memory round trips
// (q, K in two batches, V in two batches, partials, then the combine launch). Here:
//   - a block owns (split, KV head, batch): the GQA group's query rows share every K/V tile;
//   - the split's first 64-key tile of K and V is copied into shared memory with cp.async, issued
//     before waiting on the previous kernel (PDL): those rows are final; only the newest row, which
//     that kernel appends, is fetched after the wait;
//   - scores, softmax and P.V run out of shared memory (padded rows: conflict-free 16-byte reads);
//     longer splits loop over 64-key tiles with an online softmax;
//   - the last block of each (batch, KV head) to finish combines the splits' partials itself
//     (a counter in global memory, reset by that block), so there is no second launch;
//   - in a graph (device-state mode) the launch is shaped for the cache's capacity, and each step
//     spreads the keys cached so far over as few splits as keep whole tiles (the rest exit).
// Blocks of 256 threads by default: the GQA group's RoPE takes one round of warps, not two (8B
// Q4_K_M decode +0.5-1.3%, bench/results/2026-11-27-h100-gemv-split.md).
// Scores are in the log2 domain (q pre-scaled by scale * log2 e).
#pragma once

#include <cuda_pipeline_primitives.h>

#include "backend/backend_types.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/launch.cuh"

namespace ferrum::cuda {

inline constexpr int kDecodeKeys = 64;      // keys per tile
inline constexpr int kDecodeThreads = 128;  // 4 warps (the paged kernels; the one-row kernel picks its own)
inline constexpr int kDecodeMaxGroup = 8;   // query rows per KV head
inline constexpr int kDecodeMaxSplits = 64;

struct DecodeAttentionParams {
  const void* q;  // [batch, heads, 1, hd]
  const void* k;  // [batch, kv_heads, kv_stride, hd]
  const void* v;
  void* out;        // [batch, heads, 1, hd]
  float* partials;  // [splits][batch * heads][hd + 2]: acc, then max and sum
  int* counters;    // [batch * kv_heads], zero between launches
  int heads, kv_heads, group, kv_len, kv_stride, pos_offset, kv_minus_pos, window;
  float scale_log2;
  const int32_t* dyn_state;
  int num_splits, keys_per_split;
  bool resplit;  // device-state mode: spread the keys cached now over the splits (see the kernel)
  // Fused RoPE (kFusedRope): q and the new key / value come raw from the fused projection row
  // qkv [(heads + 2 kv_heads) * hd] (batch 1); the kernel applies QK-norm (mode 1) and RoPE, and the
  // block whose keys include the new position appends the new row to the caches.
  const void* qkv;
  const float* q_norm;
  const float* k_norm;
  const float* cos;  // [positions, hd / 2]
  const float* sin;
  int positions, rope_mode;
  float eps;
};

// QK-norm (mode 1) and rotate-half RoPE of one head row by one warp, as qk_norm_rope does;
// `store(d, value)` receives each output element.
template <class T, int kHeadDim, class Store>
__device__ __forceinline__ void rope_row(const T* in, const float* norm_w, const float* cos, const float* sin,
                                         int positions, int pos, int mode, float eps, Store store) {
  constexpr int kHalf = kHeadDim / 2;
  const int lane = threadIdx.x % 32;
  float inv_rms = 1.0f;
  if (mode == kQkNormRope) {
    float sum_sq = 0.0f;
    for (int d = lane; d < kHeadDim; d += 32) {
      const float x = to_f32(in[d]);
      sum_sq += x * x;
    }
    inv_rms = rsqrtf(warp_sum(sum_sq) / kHeadDim + eps);
  }
  const bool rotate = pos < positions;
  for (int d = lane; d < kHalf; d += 32) {
    float x1 = to_f32(in[d]), x2 = to_f32(in[d + kHalf]);
    if (mode == kQkNormRope) {
      x1 *= inv_rms * norm_w[d];
      x2 *= inv_rms * norm_w[d + kHalf];
    }
    const float c = rotate ? cos[static_cast<size_t>(pos) * kHalf + d] : 1.0f;
    const float s = rotate ? sin[static_cast<size_t>(pos) * kHalf + d] : 0.0f;
    store(d, x1 * c - x2 * s);
    store(d + kHalf, x2 * c + x1 * s);
  }
}

// Copies `rows` K and V rows starting at `first` into the padded shared tiles at row `to`.
template <class T, int kHeadDim, int kThreads = kDecodeThreads>
__device__ __forceinline__ void copy_kv_rows(const T* k, const T* v, T* k_tile, T* v_tile, int first, int rows,
                                             int to) {
  constexpr int kChunks = kHeadDim / 8;  // 16-byte pieces per row
  constexpr int kStride = kHeadDim + 8;
  for (int i = threadIdx.x; i < 2 * rows * kChunks; i += kThreads) {
    const bool is_v = i >= rows * kChunks;
    const int j = is_v ? i - rows * kChunks : i;
    const int row = j / kChunks, chunk = j % kChunks;
    const T* src = (is_v ? v : k) + static_cast<size_t>(first + row) * kHeadDim + chunk * 8;
    T* dst = (is_v ? v_tile : k_tile) + (to + row) * kStride + chunk * 8;
    __pipeline_memcpy_async(dst, src, 16);
  }
}

// How a decode block's threads cover the output: a thread owns dims (2 pair, 2 pair + 1) of rows
// row0, row0 + kRowStep, ... of the GQA group.
template <int kHeadDim, int kThreads = kDecodeThreads>
struct DecodeThreadMap {
  static constexpr int kPairs = kHeadDim / 2;         // output dim pairs
  static constexpr int kRowStep = kThreads / kPairs;  // rows apart for one thread's outputs
  static constexpr int kRowsPerThread = kDecodeMaxGroup / kRowStep;
};

// A decode block's dynamic shared memory (decode_attention_shared_bytes of it), carved.
template <class T>
struct DecodeTiles {
  T* k_tile;         // [keys][hd + 8]
  T* v_tile;         // [keys][hd + 8]
  float* q_rows;     // [group][hd]
  float* probs;      // [group][keys]
  float* row_max;    // running max
  float* row_scale;  // alpha of this tile
  float* row_sum;
};

template <class T, int kHeadDim>
__device__ __forceinline__ DecodeTiles<T> carve_decode_tiles(unsigned char* base) {
  constexpr int kStride = kHeadDim + 8;
  DecodeTiles<T> tiles;
  tiles.k_tile = reinterpret_cast<T*>(base);
  tiles.v_tile = tiles.k_tile + kDecodeKeys * kStride;
  tiles.q_rows = reinterpret_cast<float*>(tiles.v_tile + kDecodeKeys * kStride);
  tiles.probs = tiles.q_rows + kDecodeMaxGroup * kHeadDim;
  tiles.row_max = tiles.probs + kDecodeMaxGroup * kDecodeKeys;
  tiles.row_scale = tiles.row_max + kDecodeMaxGroup;
  tiles.row_sum = tiles.row_scale + kDecodeMaxGroup;
  return tiles;
}

// The three steps over one K / V tile in shared memory (padded rows of kHeadDim + 8), shared with
// paged_decode.cuh; the caller separates them with __syncthreads().
//
// Scores of the group's rows against the tile's keys into probs [group][kDecodeKeys] (log2
// domain; -inf for keys past `keys` or for which `usable(j)` is false): one (row, key) per thread
// and step, lanes of a warp taking consecutive keys of one row.
template <class T, int kHeadDim, int kThreads = kDecodeThreads, class Usable>
__device__ __forceinline__ void decode_tile_scores(const T* k_tile, const float* q_rows, float* probs, int group,
                                                   int keys, Usable usable) {
  constexpr int kStride = kHeadDim + 8;
  for (int item = threadIdx.x; item < group * kDecodeKeys; item += kThreads) {
    const int r = item / kDecodeKeys, j = item % kDecodeKeys;
    float score = -INFINITY;
    if (j < keys && usable(j)) {
      score = 0.0f;
      const T* key = k_tile + j * kStride;
      const float4* qr = reinterpret_cast<const float4*>(q_rows + r * kHeadDim);  // same row across the warp
#pragma unroll
      for (int d = 0; d < kHeadDim; d += 8) {
        float kv[8];
        load8(key + d, kv);
        const float4 lo = qr[d / 4], hi = qr[d / 4 + 1];
        score = fmaf(lo.x, kv[0], score);
        score = fmaf(lo.y, kv[1], score);
        score = fmaf(lo.z, kv[2], score);
        score = fmaf(lo.w, kv[3], score);
        score = fmaf(hi.x, kv[4], score);
        score = fmaf(hi.y, kv[5], score);
        score = fmaf(hi.z, kv[6], score);
        score = fmaf(hi.w, kv[7], score);
      }
    }
    probs[r * kDecodeKeys + j] = score;
  }
}

// Online softmax over the tile: a warp per row, two keys per lane; probs become the weights, and
// each row's alpha (the rescale of what came before) goes to row_scale.
template <int kThreads = kDecodeThreads>
__device__ __forceinline__ void decode_tile_softmax(float* probs, float* row_max, float* row_scale, float* row_sum,
                                                    int group) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < group; r += kThreads / 32) {
    const float s0 = probs[r * kDecodeKeys + lane], s1 = probs[r * kDecodeKeys + lane + 32];
    const float old_max = row_max[r];
    const float new_max = fmaxf(old_max, warp_max(fmaxf(s0, s1)));
    const float base = new_max == -INFINITY ? 0.0f : new_max;  // nothing visible yet
    const float p0 = exp2f(s0 - base), p1 = exp2f(s1 - base);
    probs[r * kDecodeKeys + lane] = p0;
    probs[r * kDecodeKeys + lane + 32] = p1;
    const float alpha = exp2f(old_max - base);
    const float tile_sum = warp_sum(p0 + p1);
    if (lane == 0) {
      row_scale[r] = alpha;
      row_max[r] = new_max;
      row_sum[r] = row_sum[r] * alpha + tile_sum;
    }
  }
}

// P . V into acc: a thread owns dims (2 pair, 2 pair + 1) of rows row0, row0 + kRowStep, ...
template <class T, int kHeadDim, int kRowsPerThread, int kRowStep>
__device__ __forceinline__ void decode_tile_pv(const T* v_tile, const float* probs, const float* row_scale,
                                               float (&acc)[kRowsPerThread][2], int group, int keys, int pair,
                                               int row0) {
  constexpr int kStride = kHeadDim + 8;
#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i) {
    const int r = row0 + i * kRowStep;
    if (r >= group) break;
    const float alpha = row_scale[r];
    float a0 = acc[i][0] * alpha, a1 = acc[i][1] * alpha;
    // Unrolled so the shared-memory loads of several keys are in flight together (the tile's rows
    // past `keys` hold stale data, so the loop stops at `keys`).
#pragma unroll 8
    for (int j = 0; j < keys; ++j) {
      const float prob = probs[r * kDecodeKeys + j];
      const uint32_t pair_bits = *reinterpret_cast<const uint32_t*>(v_tile + j * kStride + 2 * pair);
      const T* value = reinterpret_cast<const T*>(&pair_bits);
      a0 = fmaf(prob, to_f32(value[0]), a0);
      a1 = fmaf(prob, to_f32(value[1]), a1);
    }
    acc[i][0] = a0;
    acc[i][1] = a1;
  }
}

// kThreads: 128 or 256 (decode_attention_threads(), default 256).
template <class T, int kHeadDim, bool kFusedRope, int kThreads>
__global__ void __launch_bounds__(kThreads) decode_attention_kernel(DecodeAttentionParams p) {
  constexpr int kStride = kHeadDim + 8;
  using Map = DecodeThreadMap<kHeadDim, kThreads>;
  constexpr int kPairs = Map::kPairs;
  constexpr int kRowStep = Map::kRowStep;
  constexpr int kRowsPerThread = Map::kRowsPerThread;
  extern __shared__ __align__(16) unsigned char decode_shared[];
  const auto [k_tile, v_tile, q_rows, probs, row_max, row_scale, row_sum] =
      carve_decode_tiles<T, kHeadDim>(decode_shared);
  __shared__ int is_last_block;
  __shared__ __align__(16) T new_key[kHeadDim];  // fused RoPE: the appended row, for its tile
  __shared__ __align__(16) T new_value[kHeadDim];

  const int split = blockIdx.x, kv_head = blockIdx.y, batch = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  pdl_launch_dependents();

  int pos = p.pos_offset, kv_len = p.kv_len;
  if (p.dyn_state != nullptr) {
    pos = p.dyn_state[DecodeStateSlots::kStep];
    kv_len = min(pos + p.kv_minus_pos, p.kv_stride);
  }
  const int lo = p.window > 0 ? max(0, pos - p.window + 1) : 0;
  const int hi = min(kv_len, pos + 1);
  int keys_per_split = p.keys_per_split, num_splits = p.num_splits;
  if (p.dyn_state != nullptr && p.resplit) {
    // The launch was shaped for the cache's capacity; the keys cached now are spread over as few
    // of its splits as keep each at the same number of tiles, and the other blocks leave (a short
    // context in a long cache would otherwise leave a few blocks walking many tiles each).
    const int tiles = max(1, (hi - lo + kDecodeKeys - 1) / kDecodeKeys);
    const int tiles_per_split = (tiles + static_cast<int>(gridDim.x) - 1) / static_cast<int>(gridDim.x);
    keys_per_split = tiles_per_split * kDecodeKeys;
    num_splits = (tiles + tiles_per_split - 1) / tiles_per_split;
    if (split >= num_splits) return;
  }
  const int begin = lo + split * keys_per_split;
  const int end = min(hi, begin + keys_per_split);
  const size_t kv_base = (static_cast<size_t>(batch) * p.kv_heads + kv_head) * p.kv_stride * kHeadDim;
  const T* k = static_cast<const T*>(p.k) + kv_base;
  const T* v = static_cast<const T*>(p.v) + kv_base;

  // The first tile's final rows (all but the newest key) before the wait.
  const int newest = hi - 1;
  const int first_tile_end = min(end, begin + kDecodeKeys);
  const int stable_end = min(first_tile_end, newest);
  if (stable_end > begin) copy_kv_rows<T, kHeadDim, kThreads>(k, v, k_tile, v_tile, begin, stable_end - begin, 0);
  __pipeline_commit();
  pdl_wait();

  const int group = p.group;
  if constexpr (kFusedRope) {
    // q rows (normed, rotated, pre-scaled) and, in the block that owns the newest key, its K row
    // (normed, rotated) and V row: into shared memory, and appended to the caches.
    const T* qkv = static_cast<const T*>(p.qkv);
    const bool owns_new = begin <= newest && newest < end;
    for (int item = warp; item < group + (owns_new ? 2 : 0); item += kThreads / 32) {
      if (item < group) {
        float* q_row = q_rows + item * kHeadDim;
        rope_row<T, kHeadDim>(qkv + static_cast<size_t>(kv_head * group + item) * kHeadDim, p.q_norm, p.cos, p.sin,
                              p.positions, newest, p.rope_mode, p.eps,
                              [&](int d, float value) { q_row[d] = value * p.scale_log2; });
      } else if (item == group) {
        // The caches are writable; the kernel only reads them through `k` / `v` elsewhere.
        T* cache_row = const_cast<T*>(k) + static_cast<size_t>(newest) * kHeadDim;
        rope_row<T, kHeadDim>(qkv + static_cast<size_t>(p.heads + kv_head) * kHeadDim, p.k_norm, p.cos, p.sin,
                              p.positions, newest, p.rope_mode, p.eps, [&](int d, float value) {
                                const T rounded = from_f32<T>(value);
                                new_key[d] = rounded;
                                cache_row[d] = rounded;
                              });
      } else {
        const T* src = qkv + static_cast<size_t>(p.heads + p.kv_heads + kv_head) * kHeadDim;
        T* cache_row = const_cast<T*>(v) + static_cast<size_t>(newest) * kHeadDim;
        for (int d = lane; d < kHeadDim; d += 32) {
          new_value[d] = src[d];
          cache_row[d] = src[d];
        }
      }
    }
    __syncthreads();
  } else {
    const T* q = static_cast<const T*>(p.q) + (static_cast<size_t>(batch) * p.heads + kv_head * group) * kHeadDim;
    for (int i = tid; i < group * kHeadDim; i += kThreads) q_rows[i] = to_f32(q[i]) * p.scale_log2;
  }
  if (tid < kDecodeMaxGroup) {
    row_max[tid] = -INFINITY;
    row_sum[tid] = 0.0f;
  }
  float acc[kRowsPerThread][2] = {};
  const int pair = tid % kPairs, row0 = tid / kPairs;

  for (int tile = begin; tile < end; tile += kDecodeKeys) {
    const int tile_end = min(end, tile + kDecodeKeys);
    const int keys = tile_end - tile;
    if (tile != begin) __syncthreads();  // the previous tile is no longer read
    // Rows before the newest are in the cache; the newest was just written by the previous kernel
    // (copied after the wait) or, with fused RoPE, computed above.
    const int copied_from = tile == begin ? stable_end : tile;
    const int copied_to = kFusedRope ? min(tile_end, newest) : tile_end;
    if (copied_to > copied_from) {
      copy_kv_rows<T, kHeadDim, kThreads>(k, v, k_tile, v_tile, copied_from, copied_to - copied_from,
                                          copied_from - tile);
    }
    if constexpr (kFusedRope) {
      if (tile <= newest && newest < tile_end) {
        for (int d = tid; d < kHeadDim; d += kThreads) {
          k_tile[(newest - tile) * kStride + d] = new_key[d];
          v_tile[(newest - tile) * kStride + d] = new_value[d];
        }
      }
    }
    __pipeline_commit();
    __pipeline_wait_prior(0);
    __syncthreads();

    decode_tile_scores<T, kHeadDim, kThreads>(k_tile, q_rows, probs, group, keys, [](int) { return true; });
    __syncthreads();
    decode_tile_softmax<kThreads>(probs, row_max, row_scale, row_sum, group);
    __syncthreads();
    decode_tile_pv<T, kHeadDim, kRowsPerThread, kRowStep>(v_tile, probs, row_scale, acc, group, keys, pair, row0);
  }
  __syncthreads();

  const size_t first_row = static_cast<size_t>(batch) * p.heads + kv_head * group;
  if (num_splits == 1) {
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) {
      const int r = row0 + i * kRowStep;
      if (r >= group) break;
      const float sum = row_sum[r];
      T* out = static_cast<T*>(p.out) + (first_row + r) * kHeadDim + 2 * pair;
      out[0] = from_f32<T>(sum > 0.0f ? acc[i][0] / sum : 0.0f);
      out[1] = from_f32<T>(sum > 0.0f ? acc[i][1] / sum : 0.0f);
    }
    return;
  }
  const size_t total_rows = static_cast<size_t>(gridDim.z) * p.heads;
  const size_t stride = kHeadDim + 2;
#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i) {
    const int r = row0 + i * kRowStep;
    if (r >= group) break;
    float* partial = p.partials + (split * total_rows + first_row + r) * stride;
    partial[2 * pair] = acc[i][0];
    partial[2 * pair + 1] = acc[i][1];
    if (pair == 0) {
      partial[kHeadDim] = row_max[r];
      partial[kHeadDim + 1] = row_sum[r];
    }
  }
  // The last block of this (batch, KV head) combines every split's partial.
  __threadfence();
  __syncthreads();
  int* counter = p.counters + batch * p.kv_heads + kv_head;
  if (tid == 0) is_last_block = atomicAdd(counter, 1) == num_splits - 1;
  __syncthreads();
  if (!is_last_block) return;
  __threadfence();
  // Each output pair merges every split's (max, sum, acc) with a running max, as the online softmax
  // does over tiles: no load depends on another's result, so the unrolled loop has all of a
  // batch of splits' loads in flight at once (one round trip to L2, not one for the maxima and a
  // second for the sums).
  for (int item = tid; item < group * kPairs; item += kThreads) {
    const int r = item / kPairs, d = 2 * (item % kPairs);
    float total_max = -INFINITY, sum = 0.0f, a0 = 0.0f, a1 = 0.0f;
#pragma unroll 8
    for (int s = 0; s < num_splits; ++s) {
      const float* partial = p.partials + (s * total_rows + first_row + r) * stride;
      const float2 acc_pair = __ldcg(reinterpret_cast<const float2*>(partial + d));
      const float2 max_sum = __ldcg(reinterpret_cast<const float2*>(partial + kHeadDim));
      const float new_max = fmaxf(total_max, max_sum.x);
      if (new_max == -INFINITY) continue;  // nothing visible so far
      const float rescale = exp2f(total_max - new_max), weight = exp2f(max_sum.x - new_max);
      sum = sum * rescale + max_sum.y * weight;
      a0 = a0 * rescale + acc_pair.x * weight;
      a1 = a1 * rescale + acc_pair.y * weight;
      total_max = new_max;
    }
    T* out = static_cast<T*>(p.out) + (first_row + r) * kHeadDim + d;
    out[0] = from_f32<T>(sum > 0.0f ? a0 / sum : 0.0f);
    out[1] = from_f32<T>(sum > 0.0f ? a1 / sum : 0.0f);
  }
  if (tid == 0) *counter = 0;  // ready for the next launch (graph replays reuse it)
}

inline size_t decode_attention_shared_bytes(int head_dim, size_t elem_bytes) {
  return 2 * static_cast<size_t>(kDecodeKeys) * (head_dim + 8) * elem_bytes +
         sizeof(float) * (kDecodeMaxGroup * head_dim + kDecodeMaxGroup * kDecodeKeys + 3 * kDecodeMaxGroup);
}

}  // namespace ferrum::cuda
