// Flash attention on tensor cores for prefill (versions 2 and 3 of lab/attention_prefill_lab.cu),
// over a contiguous cache or (kPaged, version 4) the serving engine's paged pools: there blockIdx.z
// is a sequence of a ragged batch, and each K / V row of a tile is found through its block table.
//
// A block of kWarps warps owns 16 * kWarps query rows of one head (16 per warp) and walks the visible key tiles
// of Bc keys. K and V tiles are copied to shared memory with cp.async two stages deep, so the next
// tile loads while this one computes. S = Q K^T and O += P V use mma.sync m16n8k16 with f32
// accumulators; P goes from the S accumulators straight into A fragments (their layouts match), so
// it never touches shared memory. The online softmax runs in registers in the log2 domain; the row
// statistics of a row live in the 4 lanes of a quad and are reduced with two shuffles. Shared rows
// are padded by 16 bytes so ldmatrix's eight row addresses hit eight different bank groups.
#pragma once

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/mma_sm80.cuh"

namespace ferrum::cuda {

struct FlashParams {
  const void* q;  // [batch, heads, q_len, D]; paged: [heads, num_tokens, D]
  const void* k;  // [batch, kv_heads, kv_stride, D]; paged: the pool [num_blocks, kv_heads, block_size, D]
  const void* v;
  void* out;  // as q
  int heads, kv_heads, q_len, kv_len, kv_stride, pos_offset;
  int causal, window;
  float scale_log2;
  // Paged mode (a ragged batch, blockIdx.z a sequence; PagedAttnBatch's layouts): each sequence's
  // rows, positions and key count come from the metadata; sequences with fewer than
  // min_query_len query rows are left to the CUDA-core paged kernel. With num_splits > 1,
  // blockIdx.x = query tile * num_splits + split, each split takes a share of the key tiles and
  // writes unnormalised rows with their max and sum to partials ([splits][total_rows][D + 2], the
  // layout split_kv_combine_kernel merges).
  const int32_t* query_start;
  const int32_t* context_lens;
  const int32_t* block_tables;
  int num_tokens, max_blocks_per_seq, block_size, num_blocks, min_query_len;
  int seq_offset;  // blockIdx.z + seq_offset is the sequence
  float* partials;
  int num_splits, total_rows;
};

// Version 2 used 4 warps (64 rows); version 3 (shipped) uses 8 warps (128 rows): each K/V tile
// copied from L2 then serves twice the query rows, and twice the warps per SM hide latency.
inline constexpr int kFlashWarps = 8;

template <int kD, int kBc, int kWarps, bool kPaged = false>
constexpr size_t flash_shared_bytes() {
  return static_cast<size_t>(16 * kWarps + 4 * kBc) * (kD + 8) * 2 + (kPaged ? 2 * kBc : 0);
}

// With 8 warps and head_dim <= 128 the register cap of 128 lets two blocks share an SM (the kernel
// needs ~133 unconstrained, so the cap costs a few spills at most).
template <class T, int kD, int kBc, int kWarps = kFlashWarps, bool kPaged = false>
__global__ void __launch_bounds__(kWarps * 32, (kWarps == 8 && kD <= 128) ? 2 : 1)
    flash_attention_kernel(FlashParams p) {
  constexpr int kFlashRows = 16 * kWarps;  // query rows per block
  constexpr int kPitch = kD + 8;           // elements per shared row: +16 bytes against bank conflicts
  constexpr int kChunksPerRow = kD / 8;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  T* q_tile = reinterpret_cast<T*>(shared_raw);
  T* k_tiles = q_tile + kFlashRows * kPitch;  // [2][kBc][kPitch]
  T* v_tiles = k_tiles + 2 * kBc * kPitch;
  unsigned char* key_ok = reinterpret_cast<unsigned char*>(v_tiles + 2 * kBc * kPitch);  // paged: [2][kBc]

  const int head = blockIdx.y, batch = static_cast<int>(blockIdx.z) + (kPaged ? p.seq_offset : 0);
  // This block's sequence: its query rows (q_base: the row of its first), key count, first position.
  int q_len = p.q_len, kv_len = p.kv_len, pos_offset = p.pos_offset;
  size_t q_base = (static_cast<size_t>(batch) * p.heads + head) * p.q_len;
  if constexpr (kPaged) {
    const int q_first = p.query_start[batch];
    q_len = p.query_start[batch + 1] - q_first;
    kv_len = p.context_lens[batch];
    pos_offset = kv_len - q_len;
    q_base = static_cast<size_t>(head) * p.num_tokens + q_first;
    if (q_len < p.min_query_len) return;  // the CUDA-core paged kernel's
  }
  const int split = kPaged ? static_cast<int>(blockIdx.x) % p.num_splits : 0;
  const int q_slot = kPaged ? static_cast<int>(blockIdx.x) / p.num_splits : static_cast<int>(blockIdx.x);
  const int tiles_q = (q_len + kFlashRows - 1) / kFlashRows;
  if (q_slot >= tiles_q) return;  // paged: shorter than the longest sequence
  // Causal: the last query tiles see the most keys, so start them first.
  const int q_tile_index = p.causal ? tiles_q - 1 - q_slot : q_slot;
  const int kv_head = head / (p.heads / p.kv_heads);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int q0 = q_tile_index * kFlashRows;

  const T* q = static_cast<const T*>(p.q) + q_base * kD;
  const size_t kv_base = kPaged ? 0 : (static_cast<size_t>(batch) * p.kv_heads + kv_head) * p.kv_stride * kD;
  const T* k = static_cast<const T*>(p.k) + kv_base;
  const T* v = static_cast<const T*>(p.v) + kv_base;
  T* out = static_cast<T*>(p.out) + q_base * kD;

  const int last_q = min(q0 + kFlashRows, q_len) - 1;
  const int kv_hi = p.causal ? min(kv_len, pos_offset + last_q + 1) : kv_len;
  const int kv_lo = p.window > 0 ? max(0, pos_offset + q0 - p.window + 1) : 0;
  int tile_begin = kv_lo / kBc, tile_end = kv_hi > kv_lo ? (kv_hi + kBc - 1) / kBc : tile_begin;
  if (kPaged && p.num_splits > 1) {
    // This split's share of the key tiles (possibly none: it still writes its empty partials).
    const int share = (tile_end - tile_begin + p.num_splits - 1) / p.num_splits;
    tile_begin = min(tile_end, tile_begin + split * share);
    tile_end = min(tile_end, tile_begin + share);
  }

  for (int c = threadIdx.x; c < kFlashRows * kChunksPerRow; c += blockDim.x) {
    const int row = c / kChunksPerRow, col = (c % kChunksPerRow) * 8;
    const bool valid = q0 + row < q_len;
    cp_async_16(q_tile + row * kPitch + col, valid ? q + static_cast<size_t>(q0 + row) * kD + col : q, valid);
  }
  const int32_t* table = kPaged ? p.block_tables + static_cast<size_t>(batch) * p.max_blocks_per_seq : nullptr;
  auto load_kv_tile = [&](int tile, int stage) {
    for (int c = threadIdx.x; c < kBc * kChunksPerRow; c += blockDim.x) {
      const int row = c / kChunksPerRow, col = (c % kChunksPerRow) * 8, key = tile * kBc + row;
      // Keys past kv_len become zeros: their P is 0, and 0 * garbage could still be NaN.
      bool valid = key < kv_len;
      size_t offset = static_cast<size_t>(key) * kD + col;
      if constexpr (kPaged) {
        // Key j: row j % block_size of the table's block j / block_size. A block id outside the
        // pool reads as a masked key (key_ok), never past the pool.
        const int block = valid ? table[key / p.block_size] : -1;
        valid = block >= 0 && block < p.num_blocks;
        offset = ((static_cast<size_t>(block) * p.kv_heads + kv_head) * p.block_size + key % p.block_size) * kD + col;
        if (col == 0) key_ok[stage * kBc + row] = valid;
      }
      if (!valid) offset = 0;
      cp_async_16(k_tiles + (stage * kBc + row) * kPitch + col, k + offset, valid);
      cp_async_16(v_tiles + (stage * kBc + row) * kPitch + col, v + offset, valid);
    }
  };
  if (tile_begin < tile_end) load_kv_tile(tile_begin, 0);
  cp_async_commit();

  // This thread's two query rows (g and g + 8 of the warp's 16) and their absolute positions.
  const int row_g = q0 + warp * 16 + lane / 4;
  const int pos_g = pos_offset + row_g, pos_g8 = pos_g + 8;
  float o[kD / 8][4];
#pragma unroll
  for (int i = 0; i < kD / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float max_g = -INFINITY, max_g8 = -INFINITY, sum_g = 0.0f, sum_g8 = 0.0f;

  for (int tile = tile_begin; tile < tile_end; ++tile) {
    const int stage = (tile - tile_begin) & 1;
    if (tile + 1 < tile_end) {
      load_kv_tile(tile + 1, stage ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const T* k_tile = k_tiles + stage * kBc * kPitch;
    const T* v_tile = v_tiles + stage * kBc * kPitch;

    float s[kBc / 8][4];
#pragma unroll
    for (int i = 0; i < kBc / 8; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < kD / 16; ++ks) {
      uint32_t a[4];
      ldmatrix_x4(a, q_tile + (warp * 16 + lane % 16) * kPitch + ks * 16 + (lane / 16) * 8);
#pragma unroll
      for (int nt = 0; nt < kBc / 16; ++nt) {
        uint32_t b[4];
        ldmatrix_x4(b, k_tile + (nt * 16 + lane % 8 + (lane / 16) * 8) * kPitch + ks * 16 + ((lane / 8) % 2) * 8);
        mma_16816<T>(s[2 * nt], a, b[0], b[1]);
        mma_16816<T>(s[2 * nt + 1], a, b[2], b[3]);
      }
    }

    // Scale into the log2 domain and mask (only tiles that straddle a boundary pay for the mask).
    const int key0 = tile * kBc;
    const bool needs_mask = kPaged || key0 + kBc > kv_len || (p.causal && key0 + kBc - 1 > pos_offset + q0) ||
                            (p.window > 0 && key0 + p.window <= pos_offset + last_q);
    float tile_max_g = -INFINITY, tile_max_g8 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kBc / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float value = s[nt][e] * p.scale_log2;
        if (needs_mask) {
          const int key = key0 + nt * 8 + 2 * (lane % 4) + (e & 1);
          const int pos = e < 2 ? pos_g : pos_g8;
          bool visible = key < kv_len && (!p.causal || key <= pos) && (p.window == 0 || key + p.window > pos);
          if constexpr (kPaged) visible = visible && key_ok[stage * kBc + key - key0];
          if (!visible) value = -INFINITY;
        }
        s[nt][e] = value;
      }
      tile_max_g = fmaxf(tile_max_g, fmaxf(s[nt][0], s[nt][1]));
      tile_max_g8 = fmaxf(tile_max_g8, fmaxf(s[nt][2], s[nt][3]));
    }
    tile_max_g = fmaxf(tile_max_g, __shfl_xor_sync(0xffffffffu, tile_max_g, 1));
    tile_max_g = fmaxf(tile_max_g, __shfl_xor_sync(0xffffffffu, tile_max_g, 2));
    tile_max_g8 = fmaxf(tile_max_g8, __shfl_xor_sync(0xffffffffu, tile_max_g8, 1));
    tile_max_g8 = fmaxf(tile_max_g8, __shfl_xor_sync(0xffffffffu, tile_max_g8, 2));
    const float new_max_g = fmaxf(max_g, tile_max_g), new_max_g8 = fmaxf(max_g8, tile_max_g8);
    const float base_g = new_max_g == -INFINITY ? 0.0f : new_max_g;
    const float base_g8 = new_max_g8 == -INFINITY ? 0.0f : new_max_g8;
    const float alpha_g = exp2f(max_g - base_g), alpha_g8 = exp2f(max_g8 - base_g8);
    max_g = new_max_g;
    max_g8 = new_max_g8;
    float part_g = 0.0f, part_g8 = 0.0f;
#pragma unroll
    for (int nt = 0; nt < kBc / 8; ++nt) {
      s[nt][0] = exp2f(s[nt][0] - base_g);
      s[nt][1] = exp2f(s[nt][1] - base_g);
      s[nt][2] = exp2f(s[nt][2] - base_g8);
      s[nt][3] = exp2f(s[nt][3] - base_g8);
      part_g += s[nt][0] + s[nt][1];
      part_g8 += s[nt][2] + s[nt][3];
    }
    // Per-thread partial sums: the quad's max is shared, so the lanes' sums add up at the end.
    sum_g = sum_g * alpha_g + part_g;
    sum_g8 = sum_g8 * alpha_g8 + part_g8;
#pragma unroll
    for (int dt = 0; dt < kD / 8; ++dt) {
      o[dt][0] *= alpha_g;
      o[dt][1] *= alpha_g;
      o[dt][2] *= alpha_g8;
      o[dt][3] *= alpha_g8;
    }

#pragma unroll
    for (int ks = 0; ks < kBc / 16; ++ks) {
      const uint32_t a[4] = {pack2<T>(s[2 * ks][0], s[2 * ks][1]), pack2<T>(s[2 * ks][2], s[2 * ks][3]),
                             pack2<T>(s[2 * ks + 1][0], s[2 * ks + 1][1]),
                             pack2<T>(s[2 * ks + 1][2], s[2 * ks + 1][3])};
#pragma unroll
      for (int dt = 0; dt < kD / 16; ++dt) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, v_tile + (ks * 16 + lane % 8 + ((lane / 8) % 2) * 8) * kPitch + dt * 16 + (lane / 16) * 8);
        mma_16816<T>(o[2 * dt], a, b[0], b[1]);
        mma_16816<T>(o[2 * dt + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // the next iteration's copies overwrite the stage just read
  }
  cp_async_wait<0>();  // no copy may still target shared memory when the block exits

  sum_g += __shfl_xor_sync(0xffffffffu, sum_g, 1);
  sum_g += __shfl_xor_sync(0xffffffffu, sum_g, 2);
  sum_g8 += __shfl_xor_sync(0xffffffffu, sum_g8, 1);
  sum_g8 += __shfl_xor_sync(0xffffffffu, sum_g8, 2);
  if (kPaged && p.num_splits > 1) {
    // Unnormalised rows, their max (log2 domain) and sum, for split_kv_combine_kernel.
    float* partial = p.partials + (static_cast<size_t>(split) * p.total_rows + q_base) * (kD + 2);
#pragma unroll
    for (int dt = 0; dt < kD / 8; ++dt) {
      const int col = dt * 8 + 2 * (lane % 4);
      if (row_g < q_len) {
        partial[static_cast<size_t>(row_g) * (kD + 2) + col] = o[dt][0];
        partial[static_cast<size_t>(row_g) * (kD + 2) + col + 1] = o[dt][1];
      }
      if (row_g + 8 < q_len) {
        partial[static_cast<size_t>(row_g + 8) * (kD + 2) + col] = o[dt][2];
        partial[static_cast<size_t>(row_g + 8) * (kD + 2) + col + 1] = o[dt][3];
      }
    }
    if (lane % 4 == 0 && row_g < q_len) {
      partial[static_cast<size_t>(row_g) * (kD + 2) + kD] = max_g;
      partial[static_cast<size_t>(row_g) * (kD + 2) + kD + 1] = sum_g;
    }
    if (lane % 4 == 0 && row_g + 8 < q_len) {
      partial[static_cast<size_t>(row_g + 8) * (kD + 2) + kD] = max_g8;
      partial[static_cast<size_t>(row_g + 8) * (kD + 2) + kD + 1] = sum_g8;
    }
    return;
  }
  const float inv_g = sum_g > 0.0f ? 1.0f / sum_g : 0.0f;
  const float inv_g8 = sum_g8 > 0.0f ? 1.0f / sum_g8 : 0.0f;
#pragma unroll
  for (int dt = 0; dt < kD / 8; ++dt) {
    const int col = dt * 8 + 2 * (lane % 4);
    if (row_g < q_len) {
      *reinterpret_cast<uint32_t*>(out + static_cast<size_t>(row_g) * kD + col) =
          pack2<T>(o[dt][0] * inv_g, o[dt][1] * inv_g);
    }
    if (row_g + 8 < q_len) {
      *reinterpret_cast<uint32_t*>(out + static_cast<size_t>(row_g + 8) * kD + col) =
          pack2<T>(o[dt][2] * inv_g8, o[dt][3] * inv_g8);
    }
  }
}

// The fields a contiguous problem (AttentionProblem) and a paged one (PagedAttentionProblem) share.
template <class Problem>
FlashParams flash_common_params(const Problem& a) {
  FlashParams p{};
  p.q = a.q;
  p.k = a.k1;
  p.v = a.v;
  p.out = a.out;
  p.heads = static_cast<int>(a.heads);
  p.kv_heads = static_cast<int>(a.kv_heads);
  p.causal = a.causal;
  p.window = static_cast<int>(a.window);
  p.scale_log2 = a.scale * 1.4426950408889634f;
  return p;
}

// Launches one instance with its dynamic shared memory; `what` names it in errors.
template <class T, int kD, int kBc, int kWarps, bool kPaged>
Status launch_flash_instance(const FlashParams& p, dim3 grid, const char* what, cudaStream_t stream) {
  constexpr size_t kShared = flash_shared_bytes<kD, kBc, kWarps, kPaged>();
  auto kernel = flash_attention_kernel<T, kD, kBc, kWarps, kPaged>;
  FERRUM_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kShared)),
                  "(", what, ", ", kShared, " bytes of shared memory)");
  const dim3 block(kWarps * 32);
  kernel<<<grid, block, kShared, stream>>>(p);
  return check_launch(what, grid, block, kShared);
}

// One instance of the kernel for a problem (host side; attention.cu and the lab use it).
template <class T, int kD, int kBc, int kWarps>
Status launch_flash_kernel(const AttentionProblem& a, cudaStream_t stream) {
  FlashParams p = flash_common_params(a);
  p.q_len = static_cast<int>(a.q_len);
  p.kv_len = static_cast<int>(a.kv_len);
  p.kv_stride = static_cast<int>(a.kv_stride);
  p.pos_offset = static_cast<int>(a.pos_offset);
  const dim3 grid(ceil_div(a.q_len, 16 * kWarps), static_cast<unsigned>(a.heads), static_cast<unsigned>(a.batch));
  return launch_flash_instance<T, kD, kBc, kWarps, false>(p, grid, "flash_attention", stream);
}

}  // namespace ferrum::cuda
