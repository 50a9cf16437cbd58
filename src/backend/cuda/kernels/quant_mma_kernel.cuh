// The tensor-core GEMM over quantized weights shared by its GGUF (quant_mma.cu) and GPTQ / AWQ
// (quant_mma_packed.cu) launches: tile shapes, the x tile, the kernel (templated on the weight
// decoder, "Tiles"), the k split and the partial sums. See quant_mma.h.
#pragma once

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/launch.cuh"
#include "backend/cuda/kernels/mma_sm80.cuh"
#include "backend/cuda/kernels/quant_mma.h"

namespace ferrum::cuda::quant_mma {

constexpr int kSlice = 128;                // k values per shared-memory stage
constexpr int kSliceGroups = kSlice / 32;  // 32-value decode tasks per tile row and slice
constexpr int kPitch = kSlice + 8;         // bf16 per shared row: +16 bytes spreads ldmatrix rows over banks
constexpr int kMinSlicesPerSplit = 4;      // a k split keeps at least 512 deep, so partials stay small
constexpr int kSmallTokens = 16, kLargeTokens = 64;
constexpr int kPrefetchSlices = 2;  // how far ahead L2 prefetches run (types other than Q4_K)

// A block of kWarps warps owns 16 weight rows per warp and kTokens activation rows.
template <int kWarps, int kTokens>
struct Tile {
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kRows = kWarps * 16;
  static constexpr size_t kSharedBytes = size_t{kRows + kTokens} * kPitch * sizeof(bf16_t);
};

__device__ __forceinline__ void store_value(void* out, DType dtype, size_t index, float value) {
  switch (dtype) {
    case DType::kF16: static_cast<f16_t*>(out)[index] = __float2half_rn(value); break;
    case DType::kBF16: static_cast<bf16_t*>(out)[index] = __float2bfloat16_rn(value); break;
    default: static_cast<float*>(out)[index] = value; break;
  }
}

__device__ __forceinline__ uint4 pack8(const float (&v)[8]) {
  return make_uint4(pack2<bf16_t>(v[0], v[1]), pack2<bf16_t>(v[2], v[3]), pack2<bf16_t>(v[4], v[5]),
                    pack2<bf16_t>(v[6], v[7]));
}

// 32 decoded values as bf16 into shared memory (four 16-byte stores).
__device__ __forceinline__ void store_group(const float (&v)[32], bf16_t* dst) {
#pragma unroll
  for (int q = 0; q < 4; ++q) reinterpret_cast<uint4*>(dst)[q] = pack8(*reinterpret_cast<const float(*)[8]>(v + 8 * q));
}

__device__ __forceinline__ void prefetch_line_l2(const void* p) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

// A warp's m16n8 accumulators of 16 weight rows from row0 and kTokenTiles * 8 tokens from token0
// into out[token, row], or into this block's split of the f32 partials (k split over blockIdx.z).
// Fragment c0, c1: row g, tokens 2t, 2t + 1; c2, c3: row g + 8 (g = lane / 4, t = lane % 4).
template <int kTokenTiles>
__device__ __forceinline__ void store_accumulators(const float (&acc)[kTokenTiles][4], int row0, int token0, int m,
                                                   int n, float* __restrict__ partials, void* __restrict__ out,
                                                   DType out_dtype) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int tile = 0; tile < kTokenTiles; ++tile) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int row = row0 + lane / 4 + (c / 2) * 8, token = token0 + tile * 8 + 2 * (lane % 4) + c % 2;
      if (row >= n || token >= m) continue;
      const size_t index = static_cast<size_t>(token) * n + row;
      if (partials != nullptr) {
        partials[static_cast<size_t>(blockIdx.z) * m * n + index] = acc[tile][c];
      } else {
        store_value(out, out_dtype, index, acc[tile][c]);
      }
    }
  }
}

// The activation tile [kTokens, kDepth] of x rows token0.. from depth k0 as bf16 (rows kRowPitch
// apart), zeros past m and k. bf16 x is copied with cp.async (the caller commits and waits), f32 x
// is converted through registers.
template <int kTokens, int kThreads, int kDepth = kSlice, int kRowPitch = kPitch>
__device__ __forceinline__ void load_x_tile(const void* __restrict__ x, DType x_dtype, int m, int k, int token0, int k0,
                                            bf16_t* tile) {
  constexpr int kVectorsPerRow = kDepth / 8;
#pragma unroll
  for (int i = 0; i < kTokens * kVectorsPerRow / kThreads; ++i) {
    const int vector = threadIdx.x + i * kThreads;
    const int t = vector / kVectorsPerRow, c = vector % kVectorsPerRow;
    const int token = token0 + t, depth = k0 + c * 8;
    const bool valid = token < m && depth < k;
    const size_t offset = valid ? static_cast<size_t>(token) * k + depth : 0;
    if (x_dtype == DType::kBF16) {
      cp_async_16(tile + t * kRowPitch + c * 8, static_cast<const bf16_t*>(x) + offset, valid);
    } else {
      float v[8] = {};
      if (valid) load8(static_cast<const float*>(x) + offset, v);
      *reinterpret_cast<uint4*>(tile + t * kRowPitch + c * 8) = pack8(v);
    }
  }
}

// Block (row tile, token tile, k split). Warp w multiplies tile rows 16w..16w+15 by every token.
// Tiles (GgufTiles, PackedTiles) decodes a thread's share of each weight tile: fetch(slice) loads
// what store() will need into registers (a slice ahead), prefetch(slice) asks L2 for slice +
// kPrefetchSlices, store(raw, slice, tile) writes bf16 into shared memory.
template <class Tiles, int kTokens, int kWarps>
__global__ void __launch_bounds__(kWarps * 32, 16 / kWarps)
    quant_mma_kernel(const void* __restrict__ x, DType x_dtype, Tiles tiles, void* __restrict__ out, DType out_dtype,
                     float* __restrict__ partials, int m, int n, int k, int slices_per_split) {
  extern __shared__ __align__(16) unsigned char shared_raw[];
  bf16_t* w_tile = reinterpret_cast<bf16_t*>(shared_raw);
  constexpr int kThreads = Tile<kWarps, kTokens>::kThreads;
  bf16_t* x_tile = w_tile + Tile<kWarps, kTokens>::kRows * kPitch;
  pdl_launch_dependents();
  pdl_wait();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row0 = blockIdx.x * Tile<kWarps, kTokens>::kRows, token0 = blockIdx.y * kTokens;
  const int slices = (k + kSlice - 1) / kSlice;
  const int slice_begin = blockIdx.z * slices_per_split;
  const int slice_end = min(slice_begin + slices_per_split, slices);

  tiles.row0 = row0;
  typename Tiles::Raw pending = tiles.fetch(slice_begin);
  for (int ahead = 0; ahead < kPrefetchSlices; ++ahead) tiles.prefetch(slice_begin + ahead - kPrefetchSlices);
  float acc[kTokens / 8][4] = {};
  for (int slice = slice_begin; slice < slice_end; ++slice) {
    const typename Tiles::Raw ready = pending;
    if (slice + 1 < slice_end) pending = tiles.fetch(slice + 1);
    if (slice + kPrefetchSlices < slice_end) tiles.prefetch(slice);
    __syncthreads();  // the previous slice's fragments are read
    load_x_tile<kTokens, kThreads>(x, x_dtype, m, k, token0, slice * kSlice, x_tile);  // lands while we decode
    cp_async_commit();
    tiles.store(ready, slice, w_tile);
    cp_async_wait<0>();
    __syncthreads();
#pragma unroll
    for (int ks = 0; ks < kSlice / 16; ++ks) {
      uint32_t a[4];
      ldmatrix_x4(a, w_tile + (warp * 16 + lane % 16) * kPitch + ks * 16 + (lane / 16) * 8);
#pragma unroll
      for (int nt = 0; nt < kTokens / 16; ++nt) {
        uint32_t b[4];
        ldmatrix_x4(b, x_tile + (nt * 16 + lane % 8 + (lane / 16) * 8) * kPitch + ks * 16 + ((lane / 8) % 2) * 8);
        mma_16816<bf16_t>(acc[2 * nt], a, b[0], b[1]);
        mma_16816<bf16_t>(acc[2 * nt + 1], a, b[2], b[3]);
      }
    }
  }

  store_accumulators(acc, row0 + warp * 16, token0, m, n, partials, out, out_dtype);
}

struct SplitPlan {
  int warps = 8;
  int tokens = kSmallTokens;
  unsigned row_tiles = 0, token_tiles = 0;
  int splits = 1, slices_per_split = 1;
};

// k split into `units` (slices, super-blocks) over blocks: enough splits that `tiles` blocks
// become `wanted`, each keeping at least `min_units`; returns {splits, units per split}.
struct KSplit {
  int splits = 1, per_split = 1;
};

inline KSplit split_k(size_t tiles, size_t wanted, int units, int min_units) {
  int splits = tiles >= wanted ? 1 : static_cast<int>((wanted + tiles - 1) / tiles);
  splits = std::clamp(splits, 1, std::max(1, units / min_units));
  KSplit split;
  split.per_split = (units + splits - 1) / splits;
  split.splits = (units + split.per_split - 1) / split.per_split;
  return split;
}

inline SplitPlan plan_split(size_t m, size_t n, size_t k, int num_sms, int warps) {
  SplitPlan plan;
  plan.tokens = m <= kSmallTokens ? kSmallTokens : kLargeTokens;
  // The lab (bench/results/2026-11-26-h100-quant-mma.md): 4 warps win at 16 tokens (Q4_K gate_up
  // 79.1 vs 94.6 us), 8 at 64 (150 vs 171: a block of 4 reads the x tile for half as many rows).
  plan.warps = warps == 4 || warps == 8 ? warps : plan.tokens == kSmallTokens ? 4 : 8;
  plan.row_tiles = ceil_div(n, size_t{16} * plan.warps);
  plan.token_tiles = ceil_div(m, plan.tokens);
  const int slices = static_cast<int>(ceil_div(k, kSlice));
  const size_t tiles = size_t{plan.row_tiles} * plan.token_tiles;
  // 16 resident warps per SM stream the weights; split k until the grid covers them.
  const size_t wanted = static_cast<size_t>(16 / plan.warps) * static_cast<size_t>(std::max(num_sms, 1));
  const KSplit split = split_k(tiles, wanted, slices, kMinSlicesPerSplit);
  plan.splits = split.splits;
  plan.slices_per_split = split.per_split;
  return plan;
}

// Launches quant_mma_kernel (then the partial sums when k is split) for `tiles`.
template <class Tiles, int kTokens, int kWarps>
Status launch_mma_tiles(const QuantMmaArgs& args, const Tiles& tiles, const SplitPlan& plan, cudaStream_t stream) {
  auto kernel = quant_mma_kernel<Tiles, kTokens, kWarps>;
  constexpr size_t kShared = Tile<kWarps, kTokens>::kSharedBytes;
  FERRUM_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kShared)),
                  "(quant_mma, ", kShared, " bytes of shared memory)");
  float* partials = plan.splits > 1 ? static_cast<float*>(args.scratch) : nullptr;
  return launch_kernel("quant_mma", kernel, dim3(plan.row_tiles, plan.token_tiles, plan.splits),
                       dim3(Tile<kWarps, kTokens>::kThreads), kShared, stream, args.x, args.x_dtype, tiles, args.out,
                       args.out_dtype, partials, static_cast<int>(args.m), static_cast<int>(args.n),
                       static_cast<int>(args.k), plan.slices_per_split);
}

// The partial sums of a split-k launch into out (nothing to do for one split); quant_mma.cu.
Status finish_split(const QuantMmaArgs& args, const SplitPlan& plan, cudaStream_t stream);

// The kernel that decodes Q4_K / Q6_K / Q8_0 into mma fragments (quant_mma_fragments.cu): whether
// it takes these arguments, its split-k scratch, its launch (the partial sums included).
bool fragments_take(const QuantMmaArgs& args);
size_t fragments_scratch_bytes(size_t m, size_t n, size_t k, int num_sms, int fill);
Status launch_fragments(const QuantMmaArgs& args, cudaStream_t stream);

// What every weight format needs of x and the shape: f32 / bf16 x 16-byte aligned, k a multiple of
// 32, sizes within int range.
inline bool takes_shape(DType x_dtype, const void* x, size_t m, size_t n, size_t k) {
  constexpr size_t kIntLimit = size_t{1} << 30;
  return (x_dtype == DType::kF32 || x_dtype == DType::kBF16) && is_aligned(x, 16) && k % 32 == 0 && m > 0 &&
         m < kIntLimit && n > 0 && n < kIntLimit && k > 0 && k < kIntLimit;
}

inline Status check_split_scratch(const QuantMmaArgs& args, const SplitPlan& plan) {
  FERRUM_CHECK(plan.splits == 1 || args.scratch != nullptr, ErrorCode::kInvalidArgument,
               "quant_mma: a split-k launch needs its partials scratch");
  return ok();
}

}  // namespace ferrum::cuda::quant_mma
