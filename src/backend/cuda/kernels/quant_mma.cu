// Tensor-core GEMM over quantized GGUF weights (see quant_mma.h). Versions: lab/quant_mma_lab.cu.
// Shipped: v2's decoders for Q4_K (16-byte loads, 64 values per thread), Q6_K and Q8_0 (16-bit
// loads, integers to float without I2F); the other types keep v1's value-by-value decoder.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/gguf_group_decode.cuh"
#include "backend/cuda/kernels/launch.cuh"
#include "backend/cuda/kernels/mma_sm80.cuh"
#include "backend/cuda/kernels/quant_mma.h"

namespace ferrum::cuda {
namespace {

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

// A thread's share of the weight tiles [kTileRows, kSlice] (rows row0.., one slice of k at a time)
// decoded to bf16 in shared memory; rows past n and depths past k become zeros (a zero weight times
// a zero x: no NaN from stale shared memory). The memory latency hides behind the previous slice's
// work: Q4_K holds the next slice's bytes in registers (fetch), the other types ask L2 for the
// slice after next (prefetch). kGeneric keeps v1's decoder for every type (the lab's comparison).
template <DType kType, bool kGeneric, int kWarps>
struct WeightTiles {
  static constexpr int kThreads = kWarps * 32, kTileRows = kWarps * 16;
  static constexpr int kBlockElems = gguf_block_elems<kType>();
  static constexpr bool kFetched = kType == DType::kQ4_K && !kGeneric;

  const uint8_t* __restrict__ w;
  size_t row_bytes;
  int block_bytes, n, k, row0;

  // Q4_K: one task per (row, 64-value chunk), kTileRows * 2 tasks, one per thread.
  __device__ __forceinline__ Q4KChunk fetch(int slice) const {
    static_assert(kTileRows * kSlice / 64 == kThreads);
    const int row = row0 + threadIdx.x / 2, depth = slice * kSlice + (threadIdx.x % 2) * 64;
    if (row >= n || depth >= k) return {};
    return load_chunk_q4_k(w + row * row_bytes + static_cast<size_t>(depth / kBlockElems) * block_bytes,
                           (depth % kBlockElems) / 64);
  }

  __device__ __forceinline__ void store_fetched(const Q4KChunk& raw, int slice, bf16_t* tile) const {
    const int r = threadIdx.x / 2, half_slice = threadIdx.x % 2;
    const int depth = slice * kSlice + half_slice * 64;
    float low[32], high[32];
    if (row0 + r < n && depth < k) {
      decode_chunk_q4_k(raw, (depth % kBlockElems) / 64, low, high);
    } else {
#pragma unroll
      for (int j = 0; j < 32; ++j) low[j] = high[j] = 0.0f;
    }
    store_group(low, tile + r * kPitch + half_slice * 64);
    store_group(high, tile + r * kPitch + half_slice * 64 + 32);
  }

  // The other types: kTileRows * kSliceGroups (row, 32-value group) tasks, consecutive threads along
  // a row. Each task asks L2 for its group's first byte of slice + kPrefetchSlices, the row's last
  // group also for its last byte, so every cache line of the row's span is covered.
  __device__ __forceinline__ void prefetch(int slice) const {
    if constexpr (!kFetched) {
#pragma unroll
      for (int i = 0; i < kTileRows * kSliceGroups / kThreads; ++i) {
        const int task = threadIdx.x + i * kThreads;
        const int row = row0 + task / kSliceGroups, group = task % kSliceGroups;
        const int depth = (slice + kPrefetchSlices) * kSlice + group * 32;
        if (row >= n || depth >= k) continue;
        const uint8_t* row_start = w + row * row_bytes;
        prefetch_line_l2(row_start + static_cast<size_t>(depth) * block_bytes / kBlockElems);
        if (group == kSliceGroups - 1) {
          prefetch_line_l2(row_start + static_cast<size_t>(depth + 32) * block_bytes / kBlockElems - 1);
        }
      }
    }
  }

  __device__ __forceinline__ void store(int slice, bf16_t* tile) const {
#pragma unroll
    for (int i = 0; i < kTileRows * kSliceGroups / kThreads; ++i) {
      const int task = threadIdx.x + i * kThreads;
      const int r = task / kSliceGroups, group = task % kSliceGroups;
      const int row = row0 + r, depth = slice * kSlice + group * 32;
      float v[32];
      if (row < n && depth < k) {
        const uint8_t* block = w + row * row_bytes + static_cast<size_t>(depth / kBlockElems) * block_bytes;
        decode_group<kType, kGeneric>(block, (depth % kBlockElems) / 32, v);
      } else {
#pragma unroll
        for (int j = 0; j < 32; ++j) v[j] = 0.0f;
      }
      store_group(v, tile + r * kPitch + group * 32);
    }
  }
};

// The activation tile [kTokens, kSlice] of x rows token0.. as bf16, zeros past m and k. bf16 x is
// copied with cp.async (the caller waits for it), f32 x is converted through registers.
template <int kTokens, int kThreads>
__device__ __forceinline__ void load_x_tile(const void* __restrict__ x, DType x_dtype, int m, int k, int token0, int k0,
                                            bf16_t* tile) {
  constexpr int kVectorsPerRow = kSlice / 8;
#pragma unroll
  for (int i = 0; i < kTokens * kVectorsPerRow / kThreads; ++i) {
    const int vector = threadIdx.x + i * kThreads;
    const int t = vector / kVectorsPerRow, c = vector % kVectorsPerRow;
    const int token = token0 + t, depth = k0 + c * 8;
    const bool valid = token < m && depth < k;
    const size_t offset = valid ? static_cast<size_t>(token) * k + depth : 0;
    if (x_dtype == DType::kBF16) {
      cp_async_16(tile + t * kPitch + c * 8, static_cast<const bf16_t*>(x) + offset, valid);
    } else {
      float v[8] = {};
      if (valid) load8(static_cast<const float*>(x) + offset, v);
      *reinterpret_cast<uint4*>(tile + t * kPitch + c * 8) = pack8(v);
    }
  }
  cp_async_commit();
}

// Block (row tile, token tile, k split). Warp w multiplies tile rows 16w..16w+15 by every token.
template <DType kType, int kTokens, bool kGeneric, int kWarps>
__global__ void __launch_bounds__(kWarps * 32, 16 / kWarps)
    quant_mma_kernel(const void* __restrict__ x, DType x_dtype, const uint8_t* __restrict__ w, size_t row_bytes,
                     int block_bytes, void* __restrict__ out, DType out_dtype, float* __restrict__ partials, int m,
                     int n, int k, int slices_per_split) {
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

  using Tiles = WeightTiles<kType, kGeneric, kWarps>;
  const Tiles tiles{w, row_bytes, block_bytes, n, k, row0};
  Q4KChunk pending{};
  if constexpr (Tiles::kFetched) {
    pending = tiles.fetch(slice_begin);
  } else {
    for (int ahead = 0; ahead < kPrefetchSlices; ++ahead) tiles.prefetch(slice_begin + ahead - kPrefetchSlices);
  }
  float acc[kTokens / 8][4] = {};
  for (int slice = slice_begin; slice < slice_end; ++slice) {
    Q4KChunk ready{};
    if constexpr (Tiles::kFetched) {
      ready = pending;
      if (slice + 1 < slice_end) pending = tiles.fetch(slice + 1);
    } else {
      if (slice + kPrefetchSlices < slice_end) tiles.prefetch(slice);
    }
    __syncthreads();  // the previous slice's fragments are read
    load_x_tile<kTokens, kThreads>(x, x_dtype, m, k, token0, slice * kSlice, x_tile);  // lands while we decode
    if constexpr (Tiles::kFetched) {
      tiles.store_fetched(ready, slice, w_tile);
    } else {
      tiles.store(slice, w_tile);
    }
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

  // Fragment c0, c1: row g, tokens 2t, 2t+1; c2, c3: row g + 8 (g = lane / 4, t = lane % 4).
  const int row_lo = row0 + warp * 16 + lane / 4;
#pragma unroll
  for (int tile = 0; tile < kTokens / 8; ++tile) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int row = row_lo + (c / 2) * 8, token = token0 + tile * 8 + 2 * (lane % 4) + c % 2;
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

// out[i] = the sum of the splits' partials in split order.
__global__ void __launch_bounds__(256) sum_partials_kernel(const float* __restrict__ partials, int splits, size_t count,
                                                           void* __restrict__ out, DType out_dtype) {
  pdl_launch_dependents();
  pdl_wait();
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < count; i += size_t{gridDim.x} * blockDim.x) {
    float total = 0.0f;
    for (int s = 0; s < splits; ++s) total += partials[s * count + i];
    store_value(out, out_dtype, i, total);
  }
}

struct SplitPlan {
  int warps = 8;
  int tokens = kSmallTokens;
  unsigned row_tiles = 0, token_tiles = 0;
  int splits = 1, slices_per_split = 1;
};

SplitPlan plan_split(size_t m, size_t n, size_t k, int num_sms, int warps) {
  SplitPlan plan;
  plan.tokens = m <= kSmallTokens ? kSmallTokens : kLargeTokens;
  // Lab run 5: 4 warps win at 16 tokens (Q4_K gate_up 78.7 vs 93.4 us), 8 at 64 (143 vs 170: a
  // block of 4 reads the x tile for half as many weight rows).
  plan.warps = warps == 4 || warps == 8 ? warps : plan.tokens == kSmallTokens ? 4 : 8;
  plan.row_tiles = ceil_div(n, size_t{16} * plan.warps);
  plan.token_tiles = ceil_div(m, plan.tokens);
  const int slices = static_cast<int>(ceil_div(k, kSlice));
  const size_t tiles = size_t{plan.row_tiles} * plan.token_tiles;
  // 16 resident warps per SM stream the weights; split k until the grid covers them.
  const size_t wanted = static_cast<size_t>(16 / plan.warps) * static_cast<size_t>(std::max(num_sms, 1));
  int splits = tiles >= wanted ? 1 : static_cast<int>((wanted + tiles - 1) / tiles);
  splits = std::clamp(splits, 1, std::max(1, slices / kMinSlicesPerSplit));
  plan.slices_per_split = (slices + splits - 1) / splits;
  plan.splits = (slices + plan.slices_per_split - 1) / plan.slices_per_split;
  return plan;
}

template <DType kType, int kTokens, bool kGeneric, int kWarps>
Status launch_tiles(const QuantMmaArgs& args, const SplitPlan& plan, cudaStream_t stream) {
  auto kernel = quant_mma_kernel<kType, kTokens, kGeneric, kWarps>;
  constexpr size_t kShared = Tile<kWarps, kTokens>::kSharedBytes;
  FERRUM_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kShared)),
                  "(quant_mma, ", kShared, " bytes of shared memory)");
  const int block_bytes = static_cast<int>(dtype_info(kType).block_bytes);
  const size_t row_bytes = args.k / gguf_block_elems<kType>() * block_bytes;
  float* partials = plan.splits > 1 ? static_cast<float*>(args.scratch) : nullptr;
  return launch_kernel("quant_mma", kernel, dim3(plan.row_tiles, plan.token_tiles, plan.splits),
                       dim3(Tile<kWarps, kTokens>::kThreads), kShared, stream, args.x, args.x_dtype,
                       static_cast<const uint8_t*>(args.w), row_bytes, block_bytes, args.out, args.out_dtype, partials,
                       static_cast<int>(args.m), static_cast<int>(args.n), static_cast<int>(args.k),
                       plan.slices_per_split);
}

template <DType kType, int kTokens, bool kGeneric>
Status launch_warps(const QuantMmaArgs& args, const SplitPlan& plan, cudaStream_t stream) {
  return plan.warps == 4 ? launch_tiles<kType, kTokens, kGeneric, 4>(args, plan, stream)
                         : launch_tiles<kType, kTokens, kGeneric, 8>(args, plan, stream);
}

// v2's decoder where the type has one (and `generic` is false), else v1's.
template <DType kType, int kTokens>
Status launch_decoder(const QuantMmaArgs& args, const SplitPlan& plan, bool generic, cudaStream_t stream) {
  if constexpr (kType == DType::kQ4_K || kType == DType::kQ6_K || kType == DType::kQ8_0) {
    if (!generic) return launch_warps<kType, kTokens, false>(args, plan, stream);
  }
  return launch_warps<kType, kTokens, true>(args, plan, stream);
}

}  // namespace

bool quant_mma_supports(DType w_dtype, DType x_dtype, const void* x, size_t m, size_t n, size_t k) {
  switch (w_dtype) {
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K: break;
    default: return false;
  }
  constexpr size_t kIntLimit = size_t{1} << 30;
  return (x_dtype == DType::kF32 || x_dtype == DType::kBF16) && is_aligned(x, 16) && k % 32 == 0 && m > 0 &&
         m < kIntLimit && n > 0 && n < kIntLimit && k > 0 && k < kIntLimit;
}

size_t quant_mma_scratch_bytes(size_t m, size_t n, size_t k, int num_sms, int warps) {
  const SplitPlan plan = plan_split(m, n, k, num_sms, warps);
  return plan.splits > 1 ? size_t{static_cast<size_t>(plan.splits)} * m * n * sizeof(float) : 0;
}

Status launch_quant_mma(const QuantMmaArgs& args, cudaStream_t stream) {
  const SplitPlan plan = plan_split(args.m, args.n, args.k, args.num_sms, args.warps);
  FERRUM_CHECK(plan.splits == 1 || args.scratch != nullptr, ErrorCode::kInvalidArgument,
               "quant_mma: a split-k launch needs its partials scratch");
  // Q4_K's decoder reads its super-blocks with 16-byte loads.
  const bool generic = args.generic_decode || (args.w_dtype == DType::kQ4_K && !is_aligned(args.w, 16));
  FERRUM_DISPATCH_GGUF(args.w_dtype, kType, "quant_mma", {
    if (plan.tokens == kSmallTokens) {
      FERRUM_TRY((launch_decoder<kType, kSmallTokens>(args, plan, generic, stream)));
    } else {
      FERRUM_TRY((launch_decoder<kType, kLargeTokens>(args, plan, generic, stream)));
    }
  });
  if (plan.splits == 1) return ok();
  const size_t count = args.m * args.n;
  const unsigned blocks = std::min<unsigned>(ceil_div(count, 256), 4096);
  return launch_kernel("quant_mma(sum_partials)", sum_partials_kernel, dim3(blocks), dim3(256), 0, stream,
                       static_cast<const float*>(args.scratch), plan.splits, count, args.out, args.out_dtype);
}

}  // namespace ferrum::cuda
