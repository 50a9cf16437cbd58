// The fragment kernel on Hopper's warpgroup MMA (sm_90a; quant_mma_formats.cuh has what it shares
// with the mma.sync version in quant_mma_fragments.cu). Each warpgroup's 4 warps decode their 16
// rows into A fragments as there, but x never enters registers: one wgmma per k16 step multiplies
// the warpgroup's 64 rows by all 64 tokens straight from shared memory, where x's slices sit in the
// 128-byte swizzled K-major layout. Against the mma.sync kernel: a quarter of the shared-memory reads
// of x and no load instructions for it. A fragments are double-buffered by group so one group
// decodes while the previous one's wgmma run. The lab (lab/quant_mma_lab.cu, v8): 0.8-0.91x the
// mma.sync kernel's time at 64 tokens for the three formats; with x unswizzled 1.2-1.35x; at 16
// tokens (m64n16) 1.04x, so 16-token tiles stay on mma.sync.
#include "backend/cuda/kernels/quant_mma_formats.cuh"
#include "backend/cuda/kernels/wgmma_sm90.cuh"

namespace ferrum::cuda::quant_mma {
namespace {

constexpr int kTokens = kLargeTokens;  // 64 tokens a block: wgmma's N
constexpr int kTokenTiles = kTokens / 8;

// Element offset of x's piece p (k 8p .. 8p + 7) of token r in a slice: B's K-major layout with
// 128-byte swizzling. Per 64 k, the tokens' 128-byte rows in 1 KB atoms of 8 (1 KB aligned), piece
// c of row r at 16-byte slot c ^ (r % 8), so the 8 rows of a core matrix fall on distinct banks.
__device__ __forceinline__ int x_offset(int token, int piece) {
  return ((piece / 8) * kTokens * 128 + (token / 8) * 1024 + (token % 8) * 128 + ((piece % 8) ^ (token % 8)) * 16) / 2;
}

// x[token0.., 256 s .. 256 s + 255] into one slice, zeros past m. A warp's copies cover 8 tokens x 4
// pieces: 64 contiguous bytes of each token, one 128-byte row set of shared memory per piece.
template <int kThreads>
__device__ __forceinline__ void load_x_slice(const bf16_t* __restrict__ x, int m, int k, int token0, int s,
                                             bf16_t* slice) {
  constexpr int kPieces = kSuperValues / 8;
  static_assert(kTokens * kPieces % kThreads == 0, "whole copies per thread");
#pragma unroll
  for (int i = 0; i < kTokens * kPieces / kThreads; ++i) {
    const int v = threadIdx.x + i * kThreads;
    const int token = v % 8 + 8 * ((v / 32) % (kTokens / 8));
    const int piece = (v / 8) % 4 + 4 * (v / (4 * kTokens));
    const int row = token0 + token, depth = s * kSuperValues + piece * 8;
    const bool valid = row < m && depth < k;
    cp_async_16(slice + x_offset(token, piece), x + (valid ? static_cast<size_t>(row) * k + depth : 0), valid);
  }
}

template <class Format, int kStages, int kXBuffers>
struct WgmmaTile {
  static constexpr int kThreads = kFragmentWarps * 32;
  static constexpr size_t kSliceElems = size_t{kTokens} * kSuperValues;
  static constexpr size_t kXBytes = kXBuffers * kSliceElems * sizeof(bf16_t);
  static constexpr size_t kStageBytes = size_t{16} * Format::kPitch;  // one warp, one super-block
  static constexpr size_t kWarpBytes = kStages * kStageBytes + Format::kTableBytes;
  static constexpr size_t kSharedBytes = kXBytes + kFragmentWarps * kWarpBytes;
};

// Block (row tile, the 64-token tile, k split); warpgroup q of the block owns rows 64q .. 64q + 63,
// warp w of it rows 16w .. 16w + 15 of those, streamed through the warp's ring as in the mma.sync
// kernel. Commit groups per thread: the ring's first kStages - 1 super-blocks, x's first slice (and
// an empty group with two x buffers), then per super-block the ring's next super-block and x's next
// slice (order below).
template <class Source, int kStages, int kXBuffers>
__global__ void __launch_bounds__(kFragmentWarps * 32, 2)
    fragment_wgmma_kernel(const bf16_t* __restrict__ x, const Source source, void* __restrict__ out, DType out_dtype,
                          float* __restrict__ partials, int m, int n, int k, int blocks_per_split) {
  using Format = typename Source::Format;
  using Shape = WgmmaTile<Format, kStages, kXBuffers>;
  constexpr int kGroups = Format::kChunks * Format::kGroupsPerChunk;  // 32-value groups per super-block
  extern __shared__ __align__(1024) unsigned char shared_raw[];
  bf16_t* x_slices = reinterpret_cast<bf16_t*>(shared_raw);  // [kXBuffers][kSliceElems]
  if (shared_address(shared_raw) % 1024 != 0) __trap();      // the swizzle pattern starts at 1 KB boundaries
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
  load_x_slice<Shape::kThreads>(x, m, k, token0, begin, x_slices);
  cp_async_commit();
  if constexpr (kXBuffers == 2) cp_async_commit();

  float acc[kTokenTiles][4] = {};
  for (int s = begin; s < end; ++s) {
    const int i = s - begin;
    const auto stage_next = [&] { refill_ring<kStages, Shape::kStageBytes>(source, warp_row0, n, s, i, end, ring); };
    const auto load_next_x = [&] {
      if (s + 1 < end) {
        load_x_slice<Shape::kThreads>(x, m, k, token0, s + 1, x_slices + ((i + 1) % kXBuffers) * Shape::kSliceElems);
      }
      cp_async_commit();
    };
    // One buffer: the ring's next super-block is committed before the wait and x's next slice after
    // the iteration's last wgmma, so "all but the newest" covers x's slice and the ring's super-block.
    // Two buffers: both go after the barrier (x first), and with a 2-deep ring the super-block needed
    // next is the newest group, so the wait covers everything.
    if constexpr (kXBuffers == 1) stage_next();
    if constexpr (kXBuffers == 2 && kStages == 2) {
      cp_async_wait<0>();
    } else {
      cp_async_wait<1>();
    }
    fence_shared_for_async_proxy();  // this thread's copies of x, before wgmma reads them
    __syncthreads();
    if constexpr (kXBuffers == 2) {
      load_next_x();
      stage_next();
    }

    const bf16_t* slice = x_slices + (i % kXBuffers) * Shape::kSliceElems;
    const uint8_t* stage = ring + (i % kStages) * Shape::kStageBytes;
    source.prepare(stage, lane, table, s, warp_row0, n);
    __syncwarp();
    uint32_t a[2][2][4] = {};  // [group parity][step][register]
#pragma unroll
    for (int c = 0; c < Format::kChunks; ++c) {
      typename Format::RowChunk rows[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) rows[h] = Format::load_in_order(stage, table, h * 8 + g, s, c, t);
#pragma unroll
      for (int group = 0; group < Format::kGroupsPerChunk; ++group) {
        const int index = c * Format::kGroupsPerChunk + group, buffer = index % 2;
#pragma unroll
        for (int h = 0; h < 2; ++h) Format::decode_in_order(rows[h], group, h, t, a[buffer]);
        wgmma_fence();  // the fragments just written, before the wgmma that read them
#pragma unroll
        for (int step = 0; step < 2; ++step) {
          const int depth = 32 * index + 16 * step;  // the step's k within the slice
          const bf16_t* start = slice + (depth / 64) * kTokens * 64 + depth % 64;
          wgmma_bf16(acc, a[buffer][step], wgmma_descriptor_swizzled(start, 1024));
        }
        wgmma_commit();
        wgmma_wait<1>();  // the previous group's wgmma are done: its fragments may be rewritten
#pragma unroll
        for (int step = 0; step < 2; ++step) {
#pragma unroll
          for (int r = 0; r < 4; ++r) wgmma_keep(a[buffer ^ 1][step][r]);
        }
      }
    }
    wgmma_wait<0>();  // nothing reads x's slice or this super-block's fragments any more
#pragma unroll
    for (int step = 0; step < 2; ++step) {
#pragma unroll
      for (int r = 0; r < 4; ++r) wgmma_keep(a[(kGroups - 1) % 2][step][r]);
    }
    if constexpr (kXBuffers == 1) {
      __syncthreads();  // every warpgroup is done with x slice s
      load_next_x();
    }
  }
  cp_async_wait<0>();  // no copy outlives the block
#pragma unroll
  for (int nt = 0; nt < kTokenTiles; ++nt) {
#pragma unroll
    for (int r = 0; r < 4; ++r) wgmma_keep(acc[nt][r]);
  }
  store_accumulators(acc, warp_row0, token0, m, n, partials, out, out_dtype);
}

template <class Source, int kStages, int kXBuffers>
Status launch_shape(const QuantMmaArgs& args, const FragmentPlan& plan, const Source& source, cudaStream_t stream) {
  using Shape = WgmmaTile<typename Source::Format, kStages, kXBuffers>;
  auto kernel = fragment_wgmma_kernel<Source, kStages, kXBuffers>;
  FERRUM_CUDA_TRY(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Shape::kSharedBytes)),
      "(quant_mma wgmma, ", Shape::kSharedBytes, " bytes of shared memory)");
  apply_shared_carveout(reinterpret_cast<const void*>(kernel), 100);  // two blocks per SM
  float* partials = plan.splits > 1 ? static_cast<float*>(args.scratch) : nullptr;
  return launch_kernel("quant_mma(wgmma)", kernel, dim3(plan.row_tiles, plan.token_tiles, plan.splits),
                       dim3(Shape::kThreads), Shape::kSharedBytes, stream, static_cast<const bf16_t*>(args.x), source,
                       args.out, args.out_dtype, partials, static_cast<int>(args.m), static_cast<int>(args.n),
                       static_cast<int>(args.k), plan.blocks_per_split);
}

}  // namespace

bool wgmma_takes(const QuantMmaArgs& args, const FragmentPlan& plan) {
#ifdef FERRUM_CUDA_SM90A
  if (plan.tokens != kTokens) return false;
  if (args.kernel == QuantMmaKernel::kWgmma) return true;
  return args.kernel == QuantMmaKernel::kAuto && quant_mma_wgmma_enabled() && args.compute_capability == 90;
#else
  (void)args, (void)plan;
  return false;
#endif
}

// Two blocks per SM. Q4_K and Q4_0 (160-byte staged rows) and GPTQ (128): two x slices and a 2-deep ring (the
// lab's x_buffers = 1: one slice, 3 deep); Q5_K (224), Q6_K (240) and Q8_0 (288): one slice, 2 deep.
template <class Source>
Status launch_wgmma(const QuantMmaArgs& args, const FragmentPlan& plan, const Source& source, cudaStream_t stream) {
  using Format = typename Source::Format;
  if constexpr (std::is_same_v<Format, Q5KFormat> || std::is_same_v<Format, Q6KFormat> ||
                std::is_same_v<Format, Q80Format>) {
    return launch_shape<Source, 2, 1>(args, plan, source, stream);
  } else {
    if (plan.x_buffers == 1) return launch_shape<Source, 3, 1>(args, plan, source, stream);
    return launch_shape<Source, 2, 2>(args, plan, source, stream);
  }
}

template Status launch_wgmma(const QuantMmaArgs&, const FragmentPlan&, const GgufRows<Q40Format>&, cudaStream_t);
template Status launch_wgmma(const QuantMmaArgs&, const FragmentPlan&, const GgufRows<Q4KFormat>&, cudaStream_t);
template Status launch_wgmma(const QuantMmaArgs&, const FragmentPlan&, const GgufRows<Q5KFormat>&, cudaStream_t);
template Status launch_wgmma(const QuantMmaArgs&, const FragmentPlan&, const GgufRows<Q6KFormat>&, cudaStream_t);
template Status launch_wgmma(const QuantMmaArgs&, const FragmentPlan&, const GgufRows<Q80Format>&, cudaStream_t);
template Status launch_wgmma(const QuantMmaArgs&, const FragmentPlan&, const GptqWords<f16_t>&, cudaStream_t);
template Status launch_wgmma(const QuantMmaArgs&, const FragmentPlan&, const GptqWords<bf16_t>&, cudaStream_t);
template Status launch_wgmma(const QuantMmaArgs&, const FragmentPlan&, const GptqWords<float>&, cudaStream_t);

}  // namespace ferrum::cuda::quant_mma
