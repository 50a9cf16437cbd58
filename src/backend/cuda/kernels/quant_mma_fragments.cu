// The tensor-core GEMM for Q4_K, Q6_K and Q8_0 weights with the decode going straight into mma
// fragments (the lab's v7; quant_mma.h). The shared-tile kernel (quant_mma_kernel.cuh) writes every decoded
// weight to shared memory and reads it back with ldmatrix between two barriers per slice; at 64 rows
// it reached 13-15% of the bandwidth. Here each warp owns 16 weight rows for the block's whole k
// range and decodes them in registers. The order of k inside a dot product is free, so each 32-deep
// group of a super-block is split so that lane (g, t) holds 8 of its values (k 8t .. 8t + 7 of the
// group) for rows g and g + 8, used as the lane's k slots (2t, 2t + 1, 2t + 8, 2t + 9) of two mma
// steps; x's tile in shared memory is read with the same permutation (16 contiguous bytes per lane
// and token). Each warp streams its rows through its own ring of super-blocks (cp.async); the
// block-wide barriers only guard x's slices, one or two per 256-deep super-block. Two blocks per SM:
// at one (the common carveout) each scheduler had 2 warps and the kernel was latency-bound. A weight
// format ("Format": Q4KFormat, Q6KFormat, Q80Format) says how a super-block is staged (window,
// pieces, pitch), what a warp prepares per super-block, what a lane loads per chunk and how a group
// of it becomes A fragments (quant_mma_formats.cuh). On Hopper, 64-token tiles take the same kernel
// on wgmma (quant_mma_wgmma.cu).
#include "backend/cuda/kernels/quant_mma_formats.cuh"

namespace ferrum::cuda::quant_mma {
namespace {

constexpr int kXPitch = kSuperValues + 32;  // bf16 per x row: 576 bytes, so rows g and g + 1 use other banks

// kStages super-blocks of weights in flight per warp; kXBuffers 2 double-buffers x's slices, 1 loads
// the next slice after a second barrier (two blocks per SM at 64 tokens).
template <class Format, int kTokens, int kStages, int kXBuffers>
struct FragmentTile {
  static constexpr int kThreads = kFragmentWarps * 32;
  static constexpr size_t kXBytes = size_t{kXBuffers} * kTokens * kXPitch * sizeof(bf16_t);
  static constexpr size_t kStageBytes = size_t{16} * Format::kPitch;  // one warp, one super-block
  static constexpr size_t kWarpBytes = kStages * kStageBytes + Format::kTableBytes;
  static constexpr size_t kSharedBytes = kXBytes + kFragmentWarps * kWarpBytes;
};

// x[token0.., 256 s .. 256 s + 255] (bf16) into one buffer of the tile; zeros past m.
template <int kTokens, int kThreads>
__device__ __forceinline__ void load_x_slice(const bf16_t* __restrict__ x, int m, int k, int token0, int s,
                                             bf16_t* tile) {
  load_x_tile<kTokens, kThreads, kSuperValues, kXPitch>(x, DType::kBF16, m, k, token0, s * kSuperValues, tile);
}

// Block (row tile, token tile, k split); warp w owns rows 16 w .. 16 w + 15 of the block's tile. Each
// warp streams its own rows through a ring of kStages super-blocks in shared memory (cp.async, no
// registers held); x's 256-deep slices are shared by the block. Commit groups per thread: the
// ring's first kStages - 1 super-blocks, x's first slice (and an empty group with two x buffers),
// then per super-block the ring's next super-block and x's next slice (order below).
template <class Source, int kTokens, int kStages, int kXBuffers>
__global__ void __launch_bounds__(kFragmentWarps * 32, 2)
    fragment_mma_kernel(const bf16_t* __restrict__ x, const Source source, void* __restrict__ out, DType out_dtype,
                        float* __restrict__ partials, int m, int n, int k, int blocks_per_split) {
  using Format = typename Source::Format;
  using Shape = FragmentTile<Format, kTokens, kStages, kXBuffers>;
  constexpr int kTokenTiles = kTokens / 8;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  bf16_t* x_tiles = reinterpret_cast<bf16_t*>(shared_raw);  // [kXBuffers][kTokens][kXPitch]
  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  uint8_t* ring = shared_raw + Shape::kXBytes + warp * Shape::kWarpBytes;
  void* table = ring + kStages * Shape::kStageBytes;
  const int warp_row0 = blockIdx.x * kFragmentRows + warp * 16;
  const int token0 = blockIdx.y * kTokens;
  const int super_blocks = k / kSuperValues;
  const int begin = blockIdx.z * blocks_per_split, end = min(begin + blocks_per_split, super_blocks);

  // Weights are never written by an earlier kernel: the ring fills before the wait.
  fill_ring<kStages, Shape::kStageBytes>(source, warp_row0, n, begin, end, ring);
  pdl_wait();
  load_x_slice<kTokens, Shape::kThreads>(x, m, k, token0, begin, x_tiles);
  cp_async_commit();
  if constexpr (kXBuffers == 2) cp_async_commit();

  float acc[kTokenTiles][4] = {};
  for (int s = begin; s < end; ++s) {
    const int i = s - begin;
    // The ring's next super-block goes into the stage this warp read last iteration.
    const auto stage_next = [&] { refill_ring<kStages, Shape::kStageBytes>(source, warp_row0, n, s, i, end, ring); };
    const auto load_next_x = [&] {
      if (s + 1 < end) {
        load_x_slice<kTokens, Shape::kThreads>(x, m, k, token0, s + 1,
                                               x_tiles + ((i + 1) % kXBuffers) * kTokens * kXPitch);
      }
      cp_async_commit();
    };
    // Commit order per iteration, one buffer: the ring's next super-block here, x's next slice after
    // the second barrier; two buffers: x's next slice, then the ring's, after the first barrier. The
    // newest group is then never x's current slice or the ring's current super-block (with one
    // buffer even at a 2-deep ring), and "all but the newest" covers both.
    if constexpr (kXBuffers == 1) stage_next();
    cp_async_wait<1>();
    __syncthreads();  // x slice s and super-block s have landed; what iteration s - 1 read is free
    if constexpr (kXBuffers == 2) {
      static_assert(kStages >= 3, "two x buffers commit the ring's super-block last: it needs 3 stages");
      load_next_x();
      stage_next();
    }

    const bf16_t* tile = x_tiles + (i % kXBuffers) * kTokens * kXPitch;
    const uint8_t* stage = ring + (i % kStages) * Shape::kStageBytes;
    source.prepare(stage, lane, table, s, warp_row0, n);
    __syncwarp();
#pragma unroll
    for (int c = 0; c < Format::kChunks; ++c) {
      // Per group of the chunk: both rows' fragments of its two steps, x's 16 bytes per token for
      // them, then the mma; consecutive mma go to different accumulators, so an in-order warp does
      // not wait on its own previous one.
      typename Format::RowChunk rows[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        rows[h] = Format::load(stage, table, h * 8 + g, s, c, t);
      }
#pragma unroll
      for (int group = 0; group < Format::kGroupsPerChunk; ++group) {
        uint32_t a[2][4];
#pragma unroll
        for (int h = 0; h < 2; ++h) Format::decode_group(rows[h], group, h, t, a);
        uint4 xs[kTokenTiles];
#pragma unroll
        for (int nt = 0; nt < kTokenTiles; ++nt) {
          xs[nt] = *reinterpret_cast<const uint4*>(tile + (nt * 8 + g) * kXPitch +
                                                   32 * (c * Format::kGroupsPerChunk + group) + 8 * t);
        }
#pragma unroll
        for (int nt = 0; nt < kTokenTiles; ++nt) mma_16816<bf16_t>(acc[nt], a[0], xs[nt].x, xs[nt].y);
#pragma unroll
        for (int nt = 0; nt < kTokenTiles; ++nt) mma_16816<bf16_t>(acc[nt], a[1], xs[nt].z, xs[nt].w);
      }
    }
    if constexpr (kXBuffers == 1) {
      __syncthreads();  // x slice s is read
      load_next_x();
    }
  }
  cp_async_wait<0>();  // no copy outlives the block

  store_accumulators(acc, warp_row0, token0, m, n, partials, out, out_dtype);
}

template <class Source, int kTokens, int kStages, int kXBuffers>
Status launch_fragment_shape(const QuantMmaArgs& args, const FragmentPlan& plan, const Source& source,
                             cudaStream_t stream) {
  using Shape = FragmentTile<typename Source::Format, kTokens, kStages, kXBuffers>;
  auto kernel = fragment_mma_kernel<Source, kTokens, kStages, kXBuffers>;
  FERRUM_CUDA_TRY(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Shape::kSharedBytes)),
      "(quant_mma fragments, ", Shape::kSharedBytes, " bytes of shared memory)");
  // Two blocks per SM need more than the common carveout (launch_settings.h): occupancy, not PDL's
  // overlap with the neighbours, bounds this kernel (one block per SM left each scheduler 2 warps).
  apply_shared_carveout(reinterpret_cast<const void*>(kernel), 100);
  float* partials = plan.splits > 1 ? static_cast<float*>(args.scratch) : nullptr;
  return launch_kernel("quant_mma(fragments)", kernel, dim3(plan.row_tiles, plan.token_tiles, plan.splits),
                       dim3(Shape::kThreads), Shape::kSharedBytes, stream, static_cast<const bf16_t*>(args.x), source,
                       args.out, args.out_dtype, partials, static_cast<int>(args.m), static_cast<int>(args.n),
                       static_cast<int>(args.k), plan.blocks_per_split);
}

// Two blocks per SM: ring depths and x buffers per token tile as shared memory allows (Q4_K's and
// Q4_0's 160-byte staged rows and GPTQ's 128: 4 deep with two x buffers at 16 tokens, 3 with one at 64;
// Q5_K's 224-byte and Q6_K's 240-byte rows 3 and 2; Q8_0's 288-byte rows 2 with one buffer at both). The lab's
// x_buffers = 2 at 64 tokens takes one ring stage more (one block per SM). On sm_90a 64-token tiles
// take the wgmma kernel.
template <int kSmallStages, int kSmallBuffers, int kLargeStages, class Source>
Status launch_source(const QuantMmaArgs& args, const FragmentPlan& plan, const Source& source, cudaStream_t stream) {
  if (wgmma_takes(args, plan)) return launch_wgmma(args, plan, source, stream);
  FERRUM_CHECK(args.kernel != QuantMmaKernel::kWgmma, ErrorCode::kUnsupported,
               "quant_mma: the wgmma kernel needs an sm_90a build and more than ", kSmallTokens, " rows of x");
  if (plan.tokens == kSmallTokens) {
    return launch_fragment_shape<Source, kSmallTokens, kSmallStages, kSmallBuffers>(args, plan, source, stream);
  }
  if (plan.x_buffers == 2) {
    return launch_fragment_shape<Source, kLargeTokens, kLargeStages + 1, 2>(args, plan, source, stream);
  }
  return launch_fragment_shape<Source, kLargeTokens, kLargeStages, 1>(args, plan, source, stream);
}

// Plans the launch, runs launch(plan) and sums the k splits' partials when there are any.
template <class Launch>
Status with_fragment_plan(const QuantMmaArgs& args, cudaStream_t stream, Launch&& launch) {
  const FragmentPlan plan = plan_fragments(args.m, args.n, args.k, args.num_sms, args.fill, args.x_buffers);
  FERRUM_CHECK(plan.splits == 1 || args.scratch != nullptr, ErrorCode::kInvalidArgument,
               "quant_mma: a split-k launch needs its partials scratch");
  FERRUM_TRY(launch(plan));
  SplitPlan split;
  split.splits = plan.splits;
  return finish_split(args, split, stream);
}

template <class Format, int kSmallStages, int kSmallBuffers, int kLargeStages>
Status launch_format(const QuantMmaArgs& args, const FragmentPlan& plan, cudaStream_t stream) {
  const GgufRows<Format> rows{static_cast<const uint8_t*>(args.w), args.k / kSuperValues * Format::kSuperBytes};
  return launch_source<kSmallStages, kSmallBuffers, kLargeStages>(args, plan, rows, stream);
}

}  // namespace

FragmentPlan plan_fragments(size_t m, size_t n, size_t k, int num_sms, int fill, int x_buffers) {
  FragmentPlan plan;
  plan.tokens = m <= kSmallTokens ? kSmallTokens : kLargeTokens;
  plan.x_buffers = x_buffers;
  plan.row_tiles = ceil_div(n, kFragmentRows);
  plan.token_tiles = ceil_div(m, plan.tokens);
  const size_t tiles = size_t{plan.row_tiles} * plan.token_tiles;
  // Two blocks fit an SM (full shared-memory carveout). By default k is split until two blocks per
  // SM, unless the tiles alone give every SM one: then the partials' traffic costs more than the
  // second block gains (the lab, 64 rows: gate_up 85 us unsplit against 96 split in two; down, 32
  // tiles, 46 against 56 at one block per SM). `fill` (the lab) sets the blocks per SM instead.
  const size_t sms = static_cast<size_t>(std::max(num_sms, 1));
  const size_t wanted = fill > 0 ? static_cast<size_t>(fill) * sms : tiles >= sms ? tiles : 2 * sms;
  const KSplit split = split_k(tiles, wanted, static_cast<int>(k / kSuperValues), kMinSuperBlocksPerSplit);
  plan.splits = split.splits;
  plan.blocks_per_split = split.per_split;
  return plan;
}

bool fragments_take(const QuantMmaArgs& args) {
  return args.kernel != QuantMmaKernel::kSharedTiles && !args.generic_decode &&
         quant_mma_fragments_apply(args.w_dtype, args.x_dtype, args.w, args.k);
}

size_t fragments_scratch_bytes(size_t m, size_t n, size_t k, int num_sms, int fill) {
  const FragmentPlan plan = plan_fragments(m, n, k, num_sms, fill, 1);
  return plan.splits > 1 ? static_cast<size_t>(plan.splits) * m * n * sizeof(float) : 0;
}

Status launch_fragments(const QuantMmaArgs& args, cudaStream_t stream) {
  return with_fragment_plan(args, stream, [&](const FragmentPlan& plan) -> Status {
    switch (args.w_dtype) {
      case DType::kQ6_K: return launch_format<Q6KFormat, 3, 2, 2>(args, plan, stream);
      case DType::kQ5_K: return launch_format<Q5KFormat, 3, 2, 2>(args, plan, stream);
      case DType::kQ4_0: return launch_format<Q40Format, 4, 2, 3>(args, plan, stream);
      case DType::kQ8_0: return launch_format<Q80Format, 2, 1, 2>(args, plan, stream);
      default: return launch_format<Q4KFormat, 4, 2, 3>(args, plan, stream);
    }
  });
}

bool gptq_fragments_take(const QuantMmaArgs& args, const PackedIntWeight& packed) {
  return args.kernel != QuantMmaKernel::kSharedTiles && quant_mma_fragments_enabled() && args.x_dtype == DType::kBF16 &&
         packed.bits == 4 && packed.g_idx == nullptr && packed.group_size > 0 && packed.group_size % 32 == 0 &&
         packed.k % kSuperValues == 0 && packed.n % 4 == 0 && is_aligned(packed.qweight, 16) &&
         (packed.scales_dtype == DType::kF16 || packed.scales_dtype == DType::kBF16 ||
          packed.scales_dtype == DType::kF32);
}

Status launch_gptq_fragments(const QuantMmaArgs& args, const PackedIntWeight& packed, cudaStream_t stream) {
  return with_fragment_plan(args, stream, [&](const FragmentPlan& plan) -> Status {
    FERRUM_DISPATCH_FLOAT(packed.scales_dtype, Scale, "quant_mma (GPTQ scales)", {
      const GptqWords<Scale> words{packed.qweight, static_cast<const Scale*>(packed.scales), packed.zeros,
                                   static_cast<int>(packed.group_size), GptqWordLayout::of(packed)};
      FERRUM_TRY((launch_source<4, 2, 3>(args, plan, words, stream)));
    });
    return ok();
  });
}

}  // namespace ferrum::cuda::quant_mma

namespace ferrum::cuda {

bool quant_mma_fragments_apply(DType w_dtype, DType x_dtype, const void* w, size_t k) {
  using quant_mma::kSuperValues;
  if (x_dtype != DType::kBF16 || !is_aligned(w, 16) || k % kSuperValues != 0 || !quant_mma_fragments_enabled()) {
    return false;
  }
  // Q6_K rows must start 16-byte aligned too (a multiple of 8 super-blocks); Q8_0's do at k % 256 == 0.
  return w_dtype == DType::kQ4_0 || w_dtype == DType::kQ4_K || w_dtype == DType::kQ5_K || w_dtype == DType::kQ8_0 ||
         (w_dtype == DType::kQ6_K && k % (8 * kSuperValues) == 0);
}

}  // namespace ferrum::cuda
