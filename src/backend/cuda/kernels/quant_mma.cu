// Tensor-core GEMM over quantized GGUF weights (see quant_mma.h). Versions: lab/quant_mma_lab.cu.
// Shipped: v2's decoders for Q4_K (16-byte loads, 64 values per thread, fetched a slice ahead), Q6_K
// and Q8_0 (16-bit loads, L2 prefetch two slices ahead); the other types keep v1's value-by-value
// decoder.
#include <type_traits>

#include "backend/cuda/kernels/gguf_group_decode.cuh"
#include "backend/cuda/kernels/quant_mma_kernel.cuh"

namespace ferrum::cuda {
namespace {

using namespace quant_mma;  // NOLINT(google-build-using-namespace): the kernel's building blocks

// A thread's share of the weight tiles [kTileRows, kSlice] (rows row0.., one slice of k at a time)
// decoded to bf16 in shared memory; rows past n and depths past k become zeros (a zero weight times
// a zero x: no NaN from stale shared memory). The memory latency hides behind the previous slice's
// work: Q4_K holds the next slice's bytes in registers (fetch), the other types ask L2 for the
// slice after next (prefetch). kGeneric keeps v1's decoder for every type (the lab's comparison).
template <DType kType, bool kGeneric, int kWarps>
struct GgufTiles {
  static constexpr int kThreads = kWarps * 32, kTileRows = kWarps * 16;
  static constexpr int kBlockElems = gguf_block_elems<kType>();
  static constexpr bool kFetched = kType == DType::kQ4_K && !kGeneric;
  struct Nothing {};
  using Raw = std::conditional_t<kFetched, Q4KChunk, Nothing>;

  const uint8_t* __restrict__ w;
  size_t row_bytes;
  int block_bytes, n, k, row0;

  // Q4_K: one task per (row, 64-value chunk), kTileRows * 2 tasks, one per thread.
  __device__ __forceinline__ Raw fetch(int slice) const {
    if constexpr (kFetched) {
      static_assert(kTileRows * kSlice / 64 == kThreads);
      const int row = row0 + threadIdx.x / 2, depth = slice * kSlice + (threadIdx.x % 2) * 64;
      if (row >= n || depth >= k) return {};
      return load_chunk_q4_k(w + row * row_bytes + static_cast<size_t>(depth / kBlockElems) * block_bytes,
                             (depth % kBlockElems) / 64);
    } else {
      return {};
    }
  }

  __device__ __forceinline__ void store(const Raw& raw, int slice, bf16_t* tile) const {
    if constexpr (kFetched) {
      store_fetched(raw, slice, tile);
    } else {
      store_groups(slice, tile);
    }
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

  __device__ __forceinline__ void store_groups(int slice, bf16_t* tile) const {
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

template <DType kType, bool kGeneric, int kTokens, int kWarps>
Status launch_tiles(const QuantMmaArgs& args, const SplitPlan& plan, cudaStream_t stream) {
  const int block_bytes = static_cast<int>(dtype_info(kType).block_bytes);
  const GgufTiles<kType, kGeneric, kWarps> tiles{static_cast<const uint8_t*>(args.w),
                                                 args.k / gguf_block_elems<kType>() * block_bytes,
                                                 block_bytes,
                                                 static_cast<int>(args.n),
                                                 static_cast<int>(args.k),
                                                 0};
  return launch_mma_tiles<GgufTiles<kType, kGeneric, kWarps>, kTokens, kWarps>(args, tiles, plan, stream);
}

template <DType kType, bool kGeneric>
Status launch_shape(const QuantMmaArgs& args, const SplitPlan& plan, cudaStream_t stream) {
  if (plan.tokens == kSmallTokens) {
    return plan.warps == 4 ? launch_tiles<kType, kGeneric, kSmallTokens, 4>(args, plan, stream)
                           : launch_tiles<kType, kGeneric, kSmallTokens, 8>(args, plan, stream);
  }
  return plan.warps == 4 ? launch_tiles<kType, kGeneric, kLargeTokens, 4>(args, plan, stream)
                         : launch_tiles<kType, kGeneric, kLargeTokens, 8>(args, plan, stream);
}

// v2's decoder where the type has one (and `generic` is false), else v1's.
template <DType kType>
Status launch_decoder(const QuantMmaArgs& args, const SplitPlan& plan, bool generic, cudaStream_t stream) {
  if constexpr (kType == DType::kQ4_K || kType == DType::kQ6_K || kType == DType::kQ8_0) {
    if (!generic) return launch_shape<kType, false>(args, plan, stream);
  }
  return launch_shape<kType, true>(args, plan, stream);
}

}  // namespace

namespace quant_mma {

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

// The partial sums of a split-k launch into out (nothing to do for one split).
Status finish_split(const QuantMmaArgs& args, const SplitPlan& plan, cudaStream_t stream) {
  if (plan.splits == 1) return ok();
  const size_t count = args.m * args.n;
  const unsigned blocks = std::min<unsigned>(ceil_div(count, 256), 4096);
  return launch_kernel("quant_mma(sum_partials)", sum_partials_kernel, dim3(blocks), dim3(256), 0, stream,
                       static_cast<const float*>(args.scratch), plan.splits, count, args.out, args.out_dtype);
}

}  // namespace quant_mma

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
    case DType::kQ6_K: return quant_mma::takes_shape(x_dtype, x, m, n, k);
    default: return false;
  }
}

size_t quant_mma_scratch_bytes(size_t m, size_t n, size_t k, int num_sms, int warps, int fill) {
  const SplitPlan plan = plan_split(m, n, k, num_sms, warps);
  const size_t shared_tiles = plan.splits > 1 ? size_t{static_cast<size_t>(plan.splits)} * m * n * sizeof(float) : 0;
  return std::max(shared_tiles, quant_mma::fragments_scratch_bytes(m, n, k, num_sms, fill));
}

Status launch_quant_mma(const QuantMmaArgs& args, cudaStream_t stream) {
  if (quant_mma::fragments_take(args)) return quant_mma::launch_fragments(args, stream);
  const SplitPlan plan = plan_split(args.m, args.n, args.k, args.num_sms, args.warps);
  FERRUM_TRY(check_split_scratch(args, plan));
  // Q4_K's decoder reads its super-blocks with 16-byte loads.
  const bool generic = args.generic_decode || (args.w_dtype == DType::kQ4_K && !is_aligned(args.w, 16));
  FERRUM_DISPATCH_GGUF(args.w_dtype, kType, "quant_mma",
                       FERRUM_TRY((launch_decoder<kType>(args, plan, generic, stream))));
  return finish_split(args, plan, stream);
}

}  // namespace ferrum::cuda
