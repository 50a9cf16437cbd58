// The tensor-core GEMM for Q4_K weights with the decode going straight into mma fragments (the
// lab's v7; quant_mma.h). The shared-tile kernel (quant_mma_kernel.cuh) writes every decoded weight
// to shared memory and reads it back with ldmatrix between two barriers per slice; at 64 rows it
// reached 13-15% of the bandwidth. Here each warp owns 16 * kRowTiles weight rows (1 ships; 2 lost in
// the lab) for the block's whole k range and decodes them in registers: the order of k inside a dot
// product is free, so lane (g, t) takes the 8 contiguous nibble bytes 8t..8t+7 of each 64-value
// chunk of rows g and g + 8 (one 8-byte load per row) and calls them k slots 2t, 2t+1, 2t+8, 2t+9 of
// four mma steps; x's tile in shared memory is read with the same permutation (16 contiguous bytes
// per lane and token). Each warp streams its rows through its own ring of super-blocks (cp.async);
// the block-wide barriers only guard x's slices, one or two per 256-deep super-block. Two blocks per
// SM: at one (the common carveout) each scheduler had 2 warps and the kernel was latency-bound.
#include "backend/cuda/kernels/gguf_group_decode.cuh"
#include "backend/cuda/kernels/quant_mma_kernel.cuh"

namespace ferrum::cuda::quant_mma {
namespace {

constexpr int kSuperValues = 256;            // Q4_K values per super-block, the depth of one x slice
constexpr int kSuperBytes = 144;             // d, dmin, 12 bytes of scales, 128 of nibbles
constexpr int kXPitch = kSuperValues + 32;   // bf16 per x row: 576 bytes, so rows g and g + 1 use other banks
constexpr int kRawPitch = kSuperBytes + 16;  // bytes per staged weight row: rows g .. g + 3 on other banks
constexpr int kMinSuperBlocksPerSplit = 2;

// kStages super-blocks of weights in flight per warp; kXBuffers 2 double-buffers x's slices, 1 loads
// the next slice after a second barrier (half the shared memory: two blocks per SM at 64 tokens).
template <int kWarps, int kRowTiles, int kTokens, int kStages, int kXBuffers>
struct FragmentTile {
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kRows = kWarps * kRowTiles * 16;
  static constexpr int kWarpRows = kRowTiles * 16;
  static constexpr size_t kXBytes = size_t{kXBuffers} * kTokens * kXPitch * sizeof(bf16_t);
  static constexpr size_t kStageBytes = size_t{kWarpRows} * kRawPitch;           // one warp, one super-block
  static constexpr size_t kScaleBytes = size_t{kWarpRows} * 4 * sizeof(float4);  // one warp: [row][chunk]
  static constexpr size_t kSharedBytes = kXBytes + size_t{kWarps} * (kStages * kStageBytes + kScaleBytes);
};

// The 8 values of one sub-block in a lane's 8 bytes (low nibbles at shift 0, high at 4) as four bf16
// pairs (pairs[p]: bytes 2p and 2p + 1). A nibble q becomes the float 1 + q / 128 by placing it in
// mantissa bits 16..19 of 1.0f (one LOP3 per four values, one PRMT each), so q s - o is one FMA:
// (1 + q / 128) (128 s) - (128 s + o); the cancelled 128 s costs ~2^-16 s, far below bf16's rounding.
__device__ __forceinline__ void decode_pairs(uint2 q, int shift, float scale128, float offset, uint32_t (&pairs)[4]) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const uint32_t bytes = (((half == 0 ? q.x : q.y) >> shift) & 0x0F0F0F0Fu) | 0x80808080u;
    float v[4];
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      v[b] = fmaf(__uint_as_float(__byte_perm(bytes, 0x3F000000u, 0x7054u | (b << 8))), scale128, offset);
    }
    pairs[2 * half] = pack2<bf16_t>(v[0], v[1]);
    pairs[2 * half + 1] = pack2<bf16_t>(v[2], v[3]);
  }
}

// The (128 s, -(128 s + o)) of sub-blocks 2c and 2c + 1 of a staged super-block header, s = d * scale
// and o = dmin * min, for decode_pairs.
__device__ __forceinline__ float4 chunk_scales(const uint4& head, int c) {
  const uint8_t* packed = reinterpret_cast<const uint8_t*>(&head) + 4;
  int scale_lo, min_lo, scale_hi, min_hi;
  k4_scale_min(packed, 2 * c, scale_lo, min_lo);
  k4_scale_min(packed, 2 * c + 1, scale_hi, min_hi);
  const float d128 = 128.0f * f16_bits_to_float(head.x), dmin = f16_bits_to_float(head.x >> 16);
  const float s_lo = d128 * small_int_to_float(static_cast<uint32_t>(scale_lo));
  const float s_hi = d128 * small_int_to_float(static_cast<uint32_t>(scale_hi));
  return make_float4(s_lo, -fmaf(dmin, small_int_to_float(static_cast<uint32_t>(min_lo)), s_lo), s_hi,
                     -fmaf(dmin, small_int_to_float(static_cast<uint32_t>(min_hi)), s_hi));
}

// A fragments of chunk c for one row (h = 0: row g, 1: row g + 8) of a 16-row tile, from the lane's 8
// nibble bytes and the chunk's scales, four mma steps: step 0 takes low-nibble pairs 0 and 1 (slots
// 2t.. and 2t + 8..), step 1 pairs 2 and 3, steps 2 and 3 the high nibbles likewise.
__device__ __forceinline__ void decode_row_chunk(uint2 q, const float4& scales, int h, uint32_t (&a)[4][4]) {
  uint32_t lo[4], hi[4];
  decode_pairs(q, 0, scales.x, scales.y, lo);
  decode_pairs(q, 4, scales.z, scales.w, hi);
  a[0][h] = lo[0];
  a[0][2 + h] = lo[1];
  a[1][h] = lo[2];
  a[1][2 + h] = lo[3];
  a[2][h] = hi[0];
  a[2][2 + h] = hi[1];
  a[3][h] = hi[2];
  a[3][2 + h] = hi[3];
}

// x[token0.., 256 s .. 256 s + 255] as bf16 into one buffer of the tile; zeros past m.
template <int kTokens, int kThreads>
__device__ __forceinline__ void load_x_slice(const bf16_t* __restrict__ x, int m, int k, int token0, int s,
                                             bf16_t* tile) {
  constexpr int kVectorsPerRow = kSuperValues / 8;
#pragma unroll
  for (int i = 0; i < kTokens * kVectorsPerRow / kThreads; ++i) {
    const int vector = threadIdx.x + i * kThreads;
    const int row = vector / kVectorsPerRow, column = vector % kVectorsPerRow;
    const bool valid = token0 + row < m;
    const size_t offset = valid ? static_cast<size_t>(token0 + row) * k + s * kSuperValues + column * 8 : 0;
    cp_async_16(tile + row * kXPitch + column * 8, x + offset, valid);
  }
}

// Super-block s of a warp's kRows weight rows (from row0; rows past n repeat row n - 1, whose sums
// are never stored) into one stage of the warp's ring, 16 bytes per copy.
template <int kRows>
__device__ __forceinline__ void stage_weights(const uint8_t* __restrict__ w, size_t row_bytes, int row0, int n, int s,
                                              uint8_t* stage) {
  constexpr int kPieces = kSuperBytes / 16;
  for (int v = threadIdx.x % 32; v < kRows * kPieces; v += 32) {
    const int r = v / kPieces, piece = v % kPieces;
    const uint8_t* src = w + static_cast<size_t>(min(row0 + r, n - 1)) * row_bytes + s * kSuperBytes + piece * 16;
    cp_async_16(stage + r * kRawPitch + piece * 16, src, true);
  }
}

// Block (row tile, token tile, k split); warp w owns rows kWarpRows * w .. of the block's tile. Each
// warp streams its own rows through a ring of kStages super-blocks in shared memory (cp.async, no
// registers held); x's 256-deep slices are shared by the block. Commit groups per thread: the
// ring's first kStages - 1 super-blocks, x's first slice, an empty group, then per super-block x's
// next slice and the ring's next super-block, so "all but the newest group" is always x's current
// slice and the ring's current super-block.
template <int kWarps, int kRowTiles, int kTokens, int kStages, int kXBuffers>
__global__ void __launch_bounds__(kWarps * 32, 2)
    q4k_fragment_mma_kernel(const bf16_t* __restrict__ x, const uint8_t* __restrict__ w, size_t row_bytes,
                            void* __restrict__ out, DType out_dtype, float* __restrict__ partials, int m, int n, int k,
                            int blocks_per_split) {
  using Shape = FragmentTile<kWarps, kRowTiles, kTokens, kStages, kXBuffers>;
  constexpr int kTokenTiles = kTokens / 8;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  bf16_t* x_tiles = reinterpret_cast<bf16_t*>(shared_raw);  // [kXBuffers][kTokens][kXPitch]
  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  uint8_t* ring = shared_raw + Shape::kXBytes + warp * kStages * Shape::kStageBytes;
  float4* chunk_scale_table =
      reinterpret_cast<float4*>(shared_raw + Shape::kXBytes + kWarps * kStages * Shape::kStageBytes) +
      warp * Shape::kWarpRows * 4;
  const int warp_row0 = blockIdx.x * Shape::kRows + warp * Shape::kWarpRows;
  const int token0 = blockIdx.y * kTokens;
  const int super_blocks = k / kSuperValues;
  const int begin = blockIdx.z * blocks_per_split, end = min(begin + blocks_per_split, super_blocks);

  // Weights are never written by an earlier kernel: the ring fills before the wait.
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) {
    if (begin + i < end) {
      stage_weights<Shape::kWarpRows>(w, row_bytes, warp_row0, n, begin + i, ring + i * Shape::kStageBytes);
    }
    cp_async_commit();
  }
  pdl_wait();
  load_x_slice<kTokens, Shape::kThreads>(x, m, k, token0, begin, x_tiles);
  cp_async_commit();
  cp_async_commit();

  float acc[kRowTiles][kTokenTiles][4] = {};
  for (int s = begin; s < end; ++s) {
    const int i = s - begin;
    cp_async_wait<1>();
    __syncthreads();  // x slice s and super-block s have landed; what iteration s - 1 read is free
    // The next x slice and super-block: now into the other buffer, or after this one is read.
    const auto request_next = [&] {
      if (s + 1 < end) {
        load_x_slice<kTokens, Shape::kThreads>(x, m, k, token0, s + 1,
                                               x_tiles + ((i + 1) % kXBuffers) * kTokens * kXPitch);
      }
      cp_async_commit();
      if (s + kStages - 1 < end) {
        stage_weights<Shape::kWarpRows>(w, row_bytes, warp_row0, n, s + kStages - 1,
                                        ring + ((i + kStages - 1) % kStages) * Shape::kStageBytes);
      }
      cp_async_commit();
    };
    if constexpr (kXBuffers == 2) request_next();

    const bf16_t* tile = x_tiles + (i % kXBuffers) * kTokens * kXPitch;
    const uint8_t* stage = ring + (i % kStages) * Shape::kStageBytes;
    // The warp's scales for this super-block, each (row, chunk) once, then read by the row's lanes.
    for (int e = lane; e < Shape::kWarpRows * 4; e += 32) {
      chunk_scale_table[e] = chunk_scales(*reinterpret_cast<const uint4*>(stage + (e / 4) * kRawPitch), e % 4);
    }
    __syncwarp();
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      uint32_t a[kRowTiles][4][4];
#pragma unroll
      for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int row = rt * 16 + h * 8 + g;
          const uint8_t* raw = stage + row * kRawPitch + 16 + 32 * c + 8 * t;
          decode_row_chunk(*reinterpret_cast<const uint2*>(raw), chunk_scale_table[row * 4 + c], h, a[rt]);
        }
      }
      // x's 16 bytes per token for steps 0 and 1 (low nibbles), then for steps 2 and 3; consecutive mma
      // go to different accumulators, so an in-order warp does not wait on its own previous one.
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        uint4 xs[kTokenTiles];
#pragma unroll
        for (int nt = 0; nt < kTokenTiles; ++nt) {
          xs[nt] = *reinterpret_cast<const uint4*>(tile + (nt * 8 + g) * kXPitch + c * 64 + 32 * half + 8 * t);
        }
#pragma unroll
        for (int step = 2 * half; step < 2 * half + 2; ++step) {
#pragma unroll
          for (int nt = 0; nt < kTokenTiles; ++nt) {
            const uint32_t b0 = step % 2 == 0 ? xs[nt].x : xs[nt].z, b1 = step % 2 == 0 ? xs[nt].y : xs[nt].w;
#pragma unroll
            for (int rt = 0; rt < kRowTiles; ++rt) mma_16816<bf16_t>(acc[rt][nt], a[rt][step], b0, b1);
          }
        }
      }
    }
    if constexpr (kXBuffers == 1) {
      __syncthreads();  // x slice s is read
      request_next();
    }
  }
  cp_async_wait<0>();  // no copy outlives the block

  // Fragment c0, c1: row g, tokens 2t, 2t + 1; c2, c3: row g + 8.
#pragma unroll
  for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
    for (int nt = 0; nt < kTokenTiles; ++nt) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int row = warp_row0 + rt * 16 + g + (c / 2) * 8, token = token0 + nt * 8 + 2 * t + c % 2;
        if (row >= n || token >= m) continue;
        const size_t index = static_cast<size_t>(token) * n + row;
        if (partials != nullptr) {
          partials[static_cast<size_t>(blockIdx.z) * m * n + index] = acc[rt][nt][c];
        } else {
          store_value(out, out_dtype, index, acc[rt][nt][c]);
        }
      }
    }
  }
}

struct FragmentPlan {
  int tokens = kLargeTokens;
  int x_buffers = 1;  // at 64 tokens; 16 tokens always double-buffer
  unsigned row_tiles = 0, token_tiles = 0;
  int splits = 1, blocks_per_split = 1;
};

constexpr int kFragmentWarps = 8;  // of 16 rows each (lab: 4 warps of 32 rows lost at every shape)
constexpr int kFragmentRows = kFragmentWarps * 16;

FragmentPlan plan_fragments(size_t m, size_t n, size_t k, int num_sms, int fill, int x_buffers) {
  FragmentPlan plan;
  plan.tokens = m <= kSmallTokens ? kSmallTokens : kLargeTokens;
  plan.x_buffers = x_buffers == 2 ? 2 : 1;
  plan.row_tiles = ceil_div(n, kFragmentRows);
  plan.token_tiles = ceil_div(m, plan.tokens);
  const int super_blocks = static_cast<int>(k / kSuperValues);
  const size_t tiles = size_t{plan.row_tiles} * plan.token_tiles;
  // Two blocks fit an SM (full shared-memory carveout); split k until `fill` blocks per SM.
  const size_t wanted = static_cast<size_t>(fill > 0 ? fill : 2) * static_cast<size_t>(std::max(num_sms, 1));
  const KSplit split = split_k(tiles, wanted, super_blocks, kMinSuperBlocksPerSplit);
  plan.splits = split.splits;
  plan.blocks_per_split = split.per_split;
  return plan;
}

template <int kTokens, int kStages, int kXBuffers>
Status launch_fragment_shape(const QuantMmaArgs& args, const FragmentPlan& plan, cudaStream_t stream) {
  using Shape = FragmentTile<kFragmentWarps, 1, kTokens, kStages, kXBuffers>;
  auto kernel = q4k_fragment_mma_kernel<kFragmentWarps, 1, kTokens, kStages, kXBuffers>;
  FERRUM_CUDA_TRY(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Shape::kSharedBytes)),
      "(quant_mma fragments, ", Shape::kSharedBytes, " bytes of shared memory)");
  // Two blocks per SM need more than the common carveout (launch_settings.h): occupancy, not PDL's
  // overlap with the neighbours, bounds this kernel (one block per SM left each scheduler 2 warps).
  apply_shared_carveout(reinterpret_cast<const void*>(kernel), 100);
  float* partials = plan.splits > 1 ? static_cast<float*>(args.scratch) : nullptr;
  const size_t row_bytes = args.k / kSuperValues * kSuperBytes;
  return launch_kernel("quant_mma(q4_k fragments)", kernel, dim3(plan.row_tiles, plan.token_tiles, plan.splits),
                       dim3(Shape::kThreads), Shape::kSharedBytes, stream, static_cast<const bf16_t*>(args.x),
                       static_cast<const uint8_t*>(args.w), row_bytes, args.out, args.out_dtype, partials,
                       static_cast<int>(args.m), static_cast<int>(args.n), static_cast<int>(args.k),
                       plan.blocks_per_split);
}

}  // namespace

bool fragments_take(const QuantMmaArgs& args) {
  return args.w_dtype == DType::kQ4_K && args.kernel != QuantMmaKernel::kSharedTiles && !args.generic_decode &&
         args.x_dtype == DType::kBF16 && is_aligned(args.w, 16) && args.k % kSuperValues == 0 &&
         quant_mma_fragments_enabled();
}

size_t fragments_scratch_bytes(size_t m, size_t n, size_t k, int num_sms, int fill) {
  const FragmentPlan plan = plan_fragments(m, n, k, num_sms, fill, 1);
  return plan.splits > 1 ? static_cast<size_t>(plan.splits) * m * n * sizeof(float) : 0;
}

Status launch_fragments(const QuantMmaArgs& args, cudaStream_t stream) {
  const FragmentPlan plan = plan_fragments(args.m, args.n, args.k, args.num_sms, args.fill, args.x_buffers);
  FERRUM_CHECK(plan.splits == 1 || args.scratch != nullptr, ErrorCode::kInvalidArgument,
               "quant_mma: a split-k launch needs its partials scratch");
  if (plan.tokens == kSmallTokens) {
    FERRUM_TRY((launch_fragment_shape<kSmallTokens, 4, 2>(args, plan, stream)));
  } else if (plan.x_buffers == 2) {
    FERRUM_TRY((launch_fragment_shape<kLargeTokens, 4, 2>(args, plan, stream)));
  } else {
    FERRUM_TRY((launch_fragment_shape<kLargeTokens, 3, 1>(args, plan, stream)));
  }
  SplitPlan split;
  split.splits = plan.splits;
  return finish_split(args, split, stream);
}

}  // namespace ferrum::cuda::quant_mma
