// Paged attention for decode-only batches (one query row per sequence), version 3 of the paged
// kernels: attention_decode.cuh's tile scheme with the keys found through the block table.
//
// Why: in the 8B profile at 64 sequences (~190 keys each) the CUDA-core paged kernel took 58 us a
// layer for ~50 MB of K / V, about a fifth of the bandwidth. Each warp there walks its own 32-key
// tiles with a lane per key: the key loads, then the value loads in batches of eight, are memory
// round trips that follow each other, and at 134 registers a thread three blocks fit on an SM.
// Here, as in the contiguous decode kernel:
//   - a block owns (split, KV head, sequence): the GQA group's query rows share every K / V tile;
//   - a 64-key tile of K and V is copied into shared memory with cp.async, 16 bytes a thread and
//     step, every copy of the tile in flight together (a block-table block of one head is
//     block_size consecutive rows, so the copies stay contiguous);
//   - scores, the online softmax and P.V run out of shared memory, in the log2 domain (the decode
//     kernel's own decode_tile_* steps);
//   - splits write split_kv_combine_kernel's partials (the other paged kernels' layout).
// Keys whose block id falls outside the pool are masked, as in the other paged kernels.
#pragma once

#include "backend/cuda/kernels/attention_decode.cuh"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/mma_sm80.cuh"
#include "backend/cuda/kernels/paged_attention.cuh"

namespace ferrum::cuda {

// Copies the tile's K and V rows [0, rows) of one KV head into the padded shared tiles (row j of
// the tile = key tile + j), through the sequence's block table; `key_ok[j]` says whether key j's
// block is in the pool (a masked key's rows are zeroed, so P.V reads finite values).
// A thread keeps one 16-byte column of the rows (tid % kChunks) and walks every kRowStep-th row,
// K and V of a row together: one table lookup and address per row and thread. The first version
// derived row, column, K or V, block and offset from a flat index for every 16 bytes (two runtime
// divisions each): Nsight Compute had the 64-sequence decode issue-bound (0.62 instructions a
// scheduler and cycle, ~3,500 a warp at 128 keys), half of them this copy. The second still spent
// ~64 instructions a row pass; here the key's block-table slot is a multiply-shift (FastDivisor),
// the pool row a 32-bit index (paged_decode_takes checks the pool's rows fit), and a masked row is
// zero-filled by the copy itself (cp.async with 0 source bytes): no branch, no shared-memory store.
// kZeroTail: rows [rows, kDecodeKeys) are zeroed in the same passes (the mma kernel reads whole
// 16-key slices, and stale or never-written rows could hold NaN bit patterns, which a zero
// probability does not cancel).
template <class T, int kHeadDim, bool kZeroTail = false>
__device__ __forceinline__ void copy_paged_rows(const PagedKernelParams& p, const int32_t* table, int kv_head, int tile,
                                                int rows, T* k_tile, T* v_tile, bool* key_ok) {
  constexpr int kChunks = kHeadDim / 8;  // 16-byte pieces per row
  constexpr int kRowStep = kDecodeThreads / kChunks;
  constexpr int kStride = kHeadDim + 8;
  static_assert(kDecodeThreads % kChunks == 0 && kDecodeKeys % kRowStep == 0, "whole rows per pass");
  const int chunk = static_cast<int>(threadIdx.x) % kChunks;
  const T* k = static_cast<const T*>(p.k1) + chunk * 8;
  const T* v = static_cast<const T*>(p.v) + chunk * 8;
  const auto block_size = static_cast<uint32_t>(p.block_size);
  const uint32_t head_row = static_cast<uint32_t>(kv_head) * block_size;  // the head's first row in a pool block
  const uint32_t block_rows = static_cast<uint32_t>(p.kv_heads) * block_size;
#pragma unroll
  for (int pass = 0; pass < kDecodeKeys / kRowStep; ++pass) {
    const int row = static_cast<int>(threadIdx.x) / kChunks + pass * kRowStep;
    if (!kZeroTail && row >= rows) break;
    const int key = tile + row;
    const int slot = p.block_divisor.quotient(key);
    const int block = row < rows ? table[slot] : -1;
    const bool ok = static_cast<unsigned>(block) < static_cast<unsigned>(p.num_blocks);
    if (chunk == 0 && row < rows) key_ok[row] = ok;
    const uint32_t pool_row = ok ? static_cast<uint32_t>(block) * block_rows + head_row +
                                       static_cast<uint32_t>(p.block_divisor.remainder(key, slot))
                                 : 0u;
    const size_t offset = static_cast<size_t>(pool_row) * kHeadDim;
    cp_async_16(k_tile + row * kStride + chunk * 8, k + offset, ok);
    cp_async_16(v_tile + row * kStride + chunk * 8, v + offset, ok);
  }
}

// What block (split, sequence) of a decode-only launch attends over: the keys [begin, end) of its
// split of the sequence's window, the query row's token and the sequence's block table.
struct DecodeKeyRange {
  int q_first, begin, end;
  const int32_t* table;
};

// False for a sequence without exactly one query row (the host launches these kernels for decode
// rows only); every thread of the block gets the same answer.
__device__ __forceinline__ bool decode_key_range(const PagedKernelParams& p, int split, int seq, DecodeKeyRange& r) {
  r.q_first = p.query_start[seq];
  if (p.query_start[seq + 1] - r.q_first != 1) return false;
  const int kv_len = p.context_lens[seq];
  const int pos = kv_len - 1;
  const int lo = p.window > 0 ? max(0, pos - p.window + 1) : 0;
  const int span = max(0, kv_len - lo);
  const int chunk = (span + p.num_splits * kDecodeKeys - 1) / (p.num_splits * kDecodeKeys) * kDecodeKeys;
  r.begin = lo + split * chunk;
  r.end = min(kv_len, r.begin + chunk);
  r.table = p.block_tables + static_cast<size_t>(seq) * p.max_blocks_per_seq;
  return true;
}

template <class T, int kHeadDim>
__global__ void __launch_bounds__(kDecodeThreads) paged_decode_kernel(PagedKernelParams p) {
  constexpr int kPairs = DecodeThreadMap<kHeadDim>::kPairs;
  constexpr int kRowStep = DecodeThreadMap<kHeadDim>::kRowStep;
  constexpr int kRowsPerThread = DecodeThreadMap<kHeadDim>::kRowsPerThread;
  extern __shared__ __align__(16) unsigned char decode_shared[];
  const auto [k_tile, v_tile, q_rows, probs, row_max, row_scale, row_sum] =
      carve_decode_tiles<T, kHeadDim>(decode_shared);
  __shared__ bool key_ok[kDecodeKeys];

  const int split = blockIdx.x, kv_head = blockIdx.y, seq = blockIdx.z;
  const int tid = threadIdx.x;
  DecodeKeyRange range;
  if (!decode_key_range(p, split, seq, range)) return;
  const auto [q_first, begin, end, table] = range;

  // The first tile's copies go out before the query rows are read.
  if (end > begin)
    copy_paged_rows<T, kHeadDim>(p, table, kv_head, begin, min(end - begin, kDecodeKeys), k_tile, v_tile, key_ok);
  cp_async_commit();
  const int group = p.group;
  const T* q = static_cast<const T*>(p.q);
  for (int i = tid; i < group * kHeadDim; i += kDecodeThreads) {
    const int r = i / kHeadDim, d = i % kHeadDim;
    const size_t head = static_cast<size_t>(kv_head) * group + r;
    q_rows[i] = to_f32(q[(head * p.num_tokens + q_first) * kHeadDim + d]) * p.scale_log2;
  }
  if (tid < kDecodeMaxGroup) {
    row_max[tid] = -INFINITY;
    row_sum[tid] = 0.0f;
  }
  float acc[kRowsPerThread][2] = {};
  const int pair = tid % kPairs, row0 = tid / kPairs;

  for (int tile = begin; tile < end; tile += kDecodeKeys) {
    const int keys = min(end - tile, kDecodeKeys);
    if (tile != begin) {
      __syncthreads();  // the previous tile is no longer read
      copy_paged_rows<T, kHeadDim>(p, table, kv_head, tile, keys, k_tile, v_tile, key_ok);
      cp_async_commit();
    }
    cp_async_wait<0>();
    __syncthreads();

    decode_tile_scores<T, kHeadDim>(k_tile, q_rows, probs, group, keys, [&](int j) { return key_ok[j]; });
    __syncthreads();
    decode_tile_softmax(probs, row_max, row_scale, row_sum, group);
    __syncthreads();
    decode_tile_pv<T, kHeadDim, kRowsPerThread, kRowStep>(v_tile, probs, row_scale, acc, group, keys, pair, row0);
  }
  __syncthreads();

#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i) {
    const int r = row0 + i * kRowStep;
    if (r >= group) break;
    const size_t out_row = (static_cast<size_t>(kv_head) * group + r) * p.num_tokens + q_first;
    if (p.num_splits == 1) {
      const float sum = row_sum[r];
      const int head = kv_head * group + r;
      T* out = static_cast<T*>(p.out) + paged_out_row(p, head, q_first) * kHeadDim + 2 * pair;
      out[0] = from_f32<T>(sum > 0.0f ? acc[i][0] / sum : 0.0f);
      out[1] = from_f32<T>(sum > 0.0f ? acc[i][1] / sum : 0.0f);
    } else {
      float* partial = p.partials + (static_cast<size_t>(split) * p.total_rows + out_row) * (kHeadDim + 2);
      partial[2 * pair] = acc[i][0];
      partial[2 * pair + 1] = acc[i][1];
      if (pair == 0) {
        partial[kHeadDim] = row_max[r];
        partial[kHeadDim + 1] = row_sum[r];
      }
    }
  }
}

}  // namespace ferrum::cuda
