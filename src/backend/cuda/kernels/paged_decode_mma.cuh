// Paged attention for decode-only batches on the tensor cores: version 4 of the paged kernels,
// paged_decode.cuh's blocks and 64-key tiles with the arithmetic moved from shared-memory dot
// products to mma.sync.
//
// Why: Nsight Compute had v3 at 30 us a layer for the 8B's 64 sequences (~50 MB of K / V, 1.7 TB/s)
// and 21 us for one tensor-parallel rank's half (1.2 TB/s). Each score re-read its key row and query
// row from shared memory, and each P.V step one value pair per output pair, so a tile cost ~2,000
// shared-memory wavefronts a block: about 5 us a tile with four blocks an SM, longer than the
// tile's copy. Here each K and V element is read from shared memory once a tile (ldmatrix):
//   - the block (split, KV head, sequence), its 4 warps and the cp.async tile copy are v3's;
//   - warp w takes keys 16 w .. 16 w + 15 of every tile and keeps its own online softmax;
//   - scores are computed transposed, S^T = K . Q^T (m16n8k16: 16 keys x 8 query rows, the GQA
//     group padded to 8 with zero rows), so K comes straight from its tile as the A operand;
//   - P.V is computed transposed too, O^T += V^T . P^T: A = V^T from the tile (ldmatrix.trans),
//     B = P^T, which movmatrix.trans makes from S^T's accumulators (P rounded to T, as the flash
//     kernel rounds it); each thread's accumulator columns are the same two query rows as its
//     softmax state, so no shuffles are needed for the rescale;
//   - at the end the 4 warps' states merge through shared memory into the output (one split) or
//     into split_kv_combine_kernel's partials.
// kStages = 2 double-buffers the tiles: tile t + 1's copies are in flight while tile t is scored.
// A block holds only a few tiles at the 8B's decode contexts (~190 keys) and a tensor-parallel
// rank's launch only ~2 blocks an SM, so there a block's time is its chain of copy latencies; two
// stages double the shared memory, so the launcher takes them only where every block still fits
// one wave (paged.cu).
// Scores are in the log2 domain (scale * log2 e applied to the f32 scores, q itself unscaled).
#pragma once

#include "backend/cuda/kernels/attention_decode.cuh"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/mma_sm80.cuh"
#include "backend/cuda/kernels/paged_attention.cuh"
#include "backend/cuda/kernels/paged_decode.cuh"

namespace ferrum::cuda {

inline constexpr int kMmaDecodeWarps = kDecodeThreads / 32;
inline constexpr int kMmaDecodeWarpKeys = kDecodeKeys / kMmaDecodeWarps;  // 16: one mma's m
static_assert(kMmaDecodeWarpKeys == 16 && kDecodeMaxGroup == 8, "the mma shapes below assume 16 keys x 8 rows a warp");

// The merge's rows of O^T columns are padded by 4 floats: a thread's two rows 2t, 2t + 1 then fall
// in different banks for the four t of a column (unpadded, the 4 x 32 stores of each thread were
// four-way bank conflicts).
constexpr int paged_decode_merge_stride(int head_dim) {
  return head_dim + 4;
}

// Dynamic shared memory of a block: the K and V tiles of each stage, which the warps' merge reuses.
constexpr size_t paged_decode_mma_shared_bytes(int head_dim, size_t element_bytes, int stages) {
  const size_t tiles = 2 * static_cast<size_t>(stages) * kDecodeKeys * (head_dim + 8) * element_bytes;
  const size_t merge = sizeof(float) * kMmaDecodeWarps * kDecodeMaxGroup *
                       (2 + static_cast<size_t>(paged_decode_merge_stride(head_dim)));
  return tiles > merge ? tiles : merge;
}

// An 8x8 b16 matrix held as C fragments (thread (g, t): row g, cols 2t..2t+1), transposed.
__device__ __forceinline__ uint32_t movmatrix_trans(uint32_t x) {
  uint32_t y;
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
  return y;
}

template <class T, int kHeadDim, int kStages>
__global__ void __launch_bounds__(kDecodeThreads) paged_decode_mma_kernel(PagedKernelParams p) {
  static_assert(kStages == 1 || kStages == 2, "one tile or two in flight");
  constexpr int kStride = kHeadDim + 8;
  constexpr int kTile = kDecodeKeys * kStride;  // elements of one K or V tile
  constexpr int kSteps = kHeadDim / 16;         // k steps of the scores, m tiles of P.V
  extern __shared__ __align__(16) unsigned char decode_shared[];
  // Stage s: K at tiles + 2 s kTile, V after it.
  T* tiles = reinterpret_cast<T*>(decode_shared);
  __shared__ bool stage_key_ok[kStages][kDecodeKeys];

  const int split = blockIdx.x, kv_head = blockIdx.y, seq = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  DecodeKeyRange range;
  if (!decode_key_range(p, split, seq, range)) return;
  const auto [q_first, begin, end, table] = range;
  const int group = p.group;

  // The first tile's copies go out before the query rows are read.
  if (end > begin) {
    copy_paged_rows<T, kHeadDim, true>(p, table, kv_head, begin, min(end - begin, kDecodeKeys), tiles, tiles + kTile,
                                       stage_key_ok[0]);
  }
  cp_async_commit();

  // Q^T as B fragments: b0 = q[row g][16 s + 2t ..], b1 = q[row g][16 s + 2t + 8 ..]; rows past
  // the group are zero.
  uint32_t q_frag[kSteps][2];
  {
    const T* q = static_cast<const T*>(p.q) +
                 ((static_cast<size_t>(kv_head) * group + g) * p.num_tokens + q_first) * kHeadDim + 2 * t;
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      q_frag[s][0] = g < group ? *reinterpret_cast<const uint32_t*>(q + 16 * s) : 0u;
      q_frag[s][1] = g < group ? *reinterpret_cast<const uint32_t*>(q + 16 * s + 8) : 0u;
    }
  }
  // This thread's two query rows (2t, 2t + 1): running max (log2 domain), sum, and O^T's columns.
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  float acc[kSteps][4] = {};
  const int my_key = kMmaDecodeWarpKeys * warp;  // the warp's first key in a tile

  for (int tile = begin, index = 0; tile < end; tile += kDecodeKeys, ++index) {
    const int keys = min(end - tile, kDecodeKeys);
    const int stage = kStages == 1 ? 0 : index % 2;
    const T* k_tile = tiles + 2 * stage * kTile;
    const T* v_tile = k_tile + kTile;
    const bool* key_ok = stage_key_ok[stage];
    if (tile != begin) __syncthreads();  // the stage refilled below was read by the previous tile
    if constexpr (kStages == 1) {
      if (tile != begin) {
        copy_paged_rows<T, kHeadDim, true>(p, table, kv_head, tile, keys, tiles, tiles + kTile, stage_key_ok[0]);
        cp_async_commit();
      }
      cp_async_wait<0>();
    } else {
      const int next = tile + kDecodeKeys;
      if (next < end) {
        T* next_k = tiles + 2 * (1 - stage) * kTile;
        copy_paged_rows<T, kHeadDim, true>(p, table, kv_head, next, min(end - next, kDecodeKeys), next_k,
                                           next_k + kTile, stage_key_ok[1 - stage]);
      }
      cp_async_commit();  // possibly empty: the wait below always leaves just the newest group
      cp_async_wait<1>();
    }
    __syncthreads();
    if (my_key >= keys) continue;  // nothing of this warp's in the tile (only its last one)

    // S^T [16 keys x 8 rows]: A = the warp's K rows (key = my_key + row, dims of step s).
    float score[4] = {};
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      uint32_t a[4];
      const int row = my_key + (lane % 8) + ((lane / 8) % 2) * 8, col = 16 * s + (lane / 16) * 8;
      ldmatrix_x4(a, k_tile + row * kStride + col);
      mma_16816<T>(score, a, q_frag[s][0], q_frag[s][1]);
    }
    // score[0..1]: key my_key + g, rows 2t, 2t + 1; score[2..3]: key my_key + g + 8.
    const int key_lo = my_key + g, key_hi = key_lo + 8;
    const bool lo_ok = key_lo < keys && key_ok[key_lo], hi_ok = key_hi < keys && key_ok[key_hi];
    float probs[4];
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const float s_lo = lo_ok ? score[j] * p.scale_log2 : -INFINITY;
      const float s_hi = hi_ok ? score[2 + j] * p.scale_log2 : -INFINITY;
      float tile_max = fmaxf(s_lo, s_hi);
#pragma unroll
      for (int mask = 4; mask < 32; mask *= 2) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, mask));
      const float new_max = fmaxf(row_max[j], tile_max);
      const float base = new_max == -INFINITY ? 0.0f : new_max;  // nothing visible yet
      probs[j] = exp2f(s_lo - base);
      probs[2 + j] = exp2f(s_hi - base);
      float tile_sum = probs[j] + probs[2 + j];
#pragma unroll
      for (int mask = 4; mask < 32; mask *= 2) tile_sum += __shfl_xor_sync(0xffffffffu, tile_sum, mask);
      const float alpha = exp2f(row_max[j] - base);
      row_sum[j] = row_sum[j] * alpha + tile_sum;
      row_max[j] = new_max;
#pragma unroll
      for (int m = 0; m < kSteps; ++m) {
        acc[m][j] *= alpha;
        acc[m][2 + j] *= alpha;
      }
    }
    // P^T as B fragments: b0 = P[row g][keys 2t, 2t + 1], b1 = the same 8 keys on.
    const uint32_t p_lo = movmatrix_trans(pack2<T>(probs[0], probs[1]));
    const uint32_t p_hi = movmatrix_trans(pack2<T>(probs[2], probs[3]));
    // O^T [dims of tile m x 8 rows] += V^T . P^T: A = V^T, the V rows transposed by ldmatrix.
#pragma unroll
    for (int m = 0; m < kSteps; ++m) {
      uint32_t a[4];
      const int row = my_key + (lane % 8) + (lane / 16) * 8, col = 16 * m + ((lane / 8) % 2) * 8;
      ldmatrix_x4_trans(a, v_tile + row * kStride + col);
      mma_16816<T>(acc[m], a, p_lo, p_hi);
    }
  }
  __syncthreads();  // every warp is done with the tiles: their memory holds the merge below

  // Merge the warps: per warp, rows' max and sum, then O^T's columns as rows [8][kHeadDim].
  float* warp_max = reinterpret_cast<float*>(decode_shared);
  float* warp_sum = warp_max + kMmaDecodeWarps * kDecodeMaxGroup;
  float* warp_out = warp_sum + kMmaDecodeWarps * kDecodeMaxGroup;
  constexpr int kMergeStride = paged_decode_merge_stride(kHeadDim);
  float* mine = warp_out + warp * kDecodeMaxGroup * kMergeStride;
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    if (g == 0) {
      warp_max[warp * kDecodeMaxGroup + 2 * t + j] = row_max[j];
      warp_sum[warp * kDecodeMaxGroup + 2 * t + j] = row_sum[j];
    }
#pragma unroll
    for (int m = 0; m < kSteps; ++m) {
      mine[(2 * t + j) * kMergeStride + 16 * m + g] = acc[m][j];
      mine[(2 * t + j) * kMergeStride + 16 * m + g + 8] = acc[m][2 + j];
    }
  }
  __syncthreads();
  for (int item = threadIdx.x; item < group * kHeadDim; item += kDecodeThreads) {
    const int r = item / kHeadDim, d = item % kHeadDim;
    float total_max = -INFINITY;
#pragma unroll
    for (int w = 0; w < kMmaDecodeWarps; ++w) total_max = fmaxf(total_max, warp_max[w * kDecodeMaxGroup + r]);
    const float base = total_max == -INFINITY ? 0.0f : total_max;
    float sum = 0.0f, out = 0.0f;
#pragma unroll
    for (int w = 0; w < kMmaDecodeWarps; ++w) {
      const float weight = exp2f(warp_max[w * kDecodeMaxGroup + r] - base);
      sum += weight * warp_sum[w * kDecodeMaxGroup + r];
      out += weight * warp_out[(w * kDecodeMaxGroup + r) * kMergeStride + d];
    }
    // Partials are indexed head-major whatever the output's layout (the combine kernel maps them).
    const size_t out_row = (static_cast<size_t>(kv_head) * group + r) * p.num_tokens + q_first;
    if (p.num_splits == 1) {
      const int head = kv_head * group + r;
      static_cast<T*>(p.out)[paged_out_row(p, head, q_first) * kHeadDim + d] =
          from_f32<T>(sum > 0.0f ? out / sum : 0.0f);
    } else {
      float* partial = p.partials + (static_cast<size_t>(split) * p.total_rows + out_row) * (kHeadDim + 2);
      partial[d] = out;
      if (d == 0) {
        partial[kHeadDim] = total_max;
        partial[kHeadDim + 1] = sum;
      }
    }
  }
}

}  // namespace ferrum::cuda
