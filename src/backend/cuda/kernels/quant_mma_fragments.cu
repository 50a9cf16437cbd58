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
// of it becomes A fragments.
#include "backend/cuda/kernels/gguf_group_decode.cuh"
#include "backend/cuda/kernels/quant_mma_kernel.cuh"

namespace ferrum::cuda::quant_mma {
namespace {

constexpr int kSuperValues = 256;           // values per super-block, the depth of one x slice
constexpr int kXPitch = kSuperValues + 32;  // bf16 per x row: 576 bytes, so rows g and g + 1 use other banks
constexpr int kMinSuperBlocksPerSplit = 2;
constexpr int kFragmentWarps = 8;  // of 16 rows each (lab: 4 warps of 32 rows lost at every shape)
constexpr int kFragmentRows = kFragmentWarps * 16;

// Eight byte-coded values (bytes 0..7 of lo:hi) as four bf16 pairs of fma(f, scale, offset), f the
// float a PRMT makes of each byte and the constant kMagic: byte b lands where kSelector | b << kShift
// puts it. The K-quants code 0x80 | q (q < 128) into bits 16..23 of 1.0f, f = 1 + q / 128, so
// q s - o = f (128 s) - (128 s + o), the cancelled 128 s costing ~2^-16 s, far below bf16's
// rounding; Q8_0 puts q ^ 0x80 into bits 8..15 of 2^15 (below).
constexpr uint32_t kUnitMagic = 0x3F000000u, kUnitSelector = 0x7054u;
constexpr int kUnitShift = 8;

template <uint32_t kMagic = kUnitMagic, uint32_t kSelector = kUnitSelector, int kShift = kUnitShift>
__device__ __forceinline__ void decode_bytes(uint32_t lo, uint32_t hi, float scale, float offset,
                                             uint32_t (&pairs)[4]) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const uint32_t bytes = half == 0 ? lo : hi;
    float v[4];
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      v[b] = fmaf(__uint_as_float(__byte_perm(bytes, kMagic, kSelector | (b << kShift))), scale, offset);
    }
    pairs[2 * half] = pack2<bf16_t>(v[0], v[1]);
    pairs[2 * half + 1] = pack2<bf16_t>(v[2], v[3]);
  }
}

// One group's pairs into the A fragments of its two steps for row h (0: g, 1: g + 8): the first step
// takes pairs 0 (slots 2t..) and 1 (slots 2t + 8..), the second pairs 2 and 3.
__device__ __forceinline__ void place_pairs(const uint32_t (&pairs)[4], int h, uint32_t (&a)[2][4]) {
  a[0][h] = pairs[0];
  a[0][2 + h] = pairs[1];
  a[1][h] = pairs[2];
  a[1][2 + h] = pairs[3];
}

// Q4_K: 144-byte super-blocks (d, dmin, 12 bytes of 6-bit scales and mins, 128 of nibbles), 16-byte
// aligned. A chunk is 64 values: groups 2c (low nibbles) and 2c + 1 (high) of the same 32 bytes, of
// which lane t loads bytes 8t .. 8t + 7. Each warp decodes a super-block's scales once per (row,
// chunk) into a table the row's lanes read.
struct Q4KFormat {
  static constexpr int kSuperBytes = 144;
  static constexpr int kPieces = 9;                // 16-byte copies per staged row
  static constexpr int kPitch = kSuperBytes + 16;  // rows g .. g + 3 on other banks
  static constexpr int kChunks = 4, kGroupsPerChunk = 2;
  static constexpr size_t kTableBytes = 16 * 4 * sizeof(float4);  // a warp's [row][chunk] scales

  __device__ __forceinline__ static size_t window(int s) { return size_t{static_cast<unsigned>(s)} * kSuperBytes; }

  // (128 s, -(128 s + o)) of sub-blocks 2c and 2c + 1, s = d * scale and o = dmin * min.
  __device__ __forceinline__ static float4 chunk_scales(const uint4& head, int c) {
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

  __device__ __forceinline__ static void prepare(const uint8_t* stage, int lane, void* table) {
    for (int e = lane; e < 16 * 4; e += 32) {
      static_cast<float4*>(table)[e] = chunk_scales(*reinterpret_cast<const uint4*>(stage + (e / 4) * kPitch), e % 4);
    }
  }

  // What lane t needs of chunk c of row `row` (0..15 of the warp) of super-block s (staged at
  // `stage`): its 8 nibble bytes and the scales.
  struct RowChunk {
    uint2 q;
    float4 scales;
  };

  __device__ __forceinline__ static RowChunk load(const uint8_t* stage, const void* table, int row, int, int c, int t) {
    return {*reinterpret_cast<const uint2*>(stage + row * kPitch + 16 + 32 * c + 8 * t),
            static_cast<const float4*>(table)[row * 4 + c]};
  }

  // Group j of the chunk (0: low nibbles, 1: high) into the A fragments of its two steps, row half h.
  __device__ __forceinline__ static void decode_group(const RowChunk& chunk, int j, int h, int, uint32_t (&a)[2][4]) {
    const int shift = 4 * j;
    uint32_t pairs[4];
    decode_bytes(((chunk.q.x >> shift) & 0x0F0F0F0Fu) | 0x80808080u, ((chunk.q.y >> shift) & 0x0F0F0F0Fu) | 0x80808080u,
                 j == 0 ? chunk.scales.x : chunk.scales.z, j == 0 ? chunk.scales.y : chunk.scales.w, pairs);
    place_pairs(pairs, h, a);
  }
};

// 8 bytes at a 2-byte aligned shared address, from three aligned words.
__device__ __forceinline__ uint2 load8_even(const uint8_t* p) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(p);
  const uint32_t* words = reinterpret_cast<const uint32_t*>(address & ~uintptr_t{3});
  const uint32_t shift = static_cast<uint32_t>(address & 3) * 8;
  const uint32_t w0 = words[0], w1 = words[1], w2 = words[2];
  return make_uint2(__funnelshift_r(w0, w1, shift), __funnelshift_r(w1, w2, shift));
}

// Q6_K: 210-byte super-blocks (128 bytes of low nibbles ql, 64 of 2-bit highs qh, 16 int8 scales, d),
// 2-byte aligned; super-block s of a row is staged as the 16-byte aligned 224-byte window around it
// (rows whose byte count is a multiple of 16: the last window ends at the row's end) and read at its
// offset. A chunk is one 128-value half n: group j (0..3) holds q = ql[64 n + 32 (j % 2) + l] (low
// nibble for j < 2, high after) | ((qh[32 n + l] >> 2 j) & 3) << 4 for l = 0..31, scale
// scales[8 n + 2 j + l / 16]; lane t takes l = 8t .. 8t + 7, all under one scale.
struct Q6KFormat {
  static constexpr int kSuperBytes = 210;
  static constexpr int kPieces = 14;
  static constexpr int kPitch = kPieces * 16 + 16;
  static constexpr int kChunks = 2, kGroupsPerChunk = 4;
  static constexpr size_t kTableBytes = 0;

  __device__ __forceinline__ static size_t window(int s) {
    return (size_t{static_cast<unsigned>(s)} * kSuperBytes) & ~size_t{15};
  }
  __device__ __forceinline__ static void prepare(const uint8_t*, int, void*) {}

  // What lane t needs of half n of row `row` of super-block s (its window staged at `stage`).
  struct RowChunk {
    uint2 low, low2, high, scales;
    float d128;
  };

  __device__ __forceinline__ static RowChunk load(const uint8_t* stage, const void*, int row, int s, int n, int t) {
    const uint8_t* block = stage + row * kPitch + ((s * kSuperBytes) & 15);  // 2-byte aligned
    return {load8_even(block + 64 * n + 8 * t), load8_even(block + 64 * n + 32 + 8 * t),
            load8_even(block + 128 + 32 * n + 8 * t), load8_even(block + 192 + 8 * n),
            128.0f * f16_bits_to_float(*reinterpret_cast<const uint16_t*>(block + 208))};
  }

  // Group j (0..3) of the half into the A fragments of its two steps, row half h.
  __device__ __forceinline__ static void decode_group(const RowChunk& chunk, int j, int h, int t, uint32_t (&a)[2][4]) {
    const uint2 nibbles = j % 2 == 0 ? chunk.low : chunk.low2;
    const int shift = j < 2 ? 0 : 4;
    const uint32_t lo =
        ((nibbles.x >> shift) & 0x0F0F0F0Fu) | (((chunk.high.x >> (2 * j)) & 0x03030303u) << 4) | 0x80808080u;
    const uint32_t hi =
        ((nibbles.y >> shift) & 0x0F0F0F0Fu) | (((chunk.high.y >> (2 * j)) & 0x03030303u) << 4) | 0x80808080u;
    const int index = t / 2 + 2 * j;  // the scales byte of (n, j, l / 16)
    const uint32_t scale_byte = ((index < 4 ? chunk.scales.x : chunk.scales.y) >> (8 * (index % 4))) & 0xFF;
    // d * scale * (q - 32) = (1 + q / 128) * 128 s - 160 s, s = d * int8 scale.
    const float scale128 = chunk.d128 * (small_int_to_float(scale_byte ^ 0x80u) - 128.0f);
    uint32_t pairs[4];
    decode_bytes(lo, hi, scale128, -1.25f * scale128, pairs);
    place_pairs(pairs, h, a);
  }
};

// Q8_0: 34-byte blocks (d, 32 int8), 8 of them (272 bytes, 16-byte aligned when k is a multiple of
// 256) staged as one super-block. A chunk is two blocks, a group one block: lane t takes its bytes
// 8t .. 8t + 7. An int8 q becomes the float 2^15 + (q ^ 0x80) by a PRMT into byte 1 of 2^15, and
// d q = fma(that, d, -(2^15 + 128) d): an f16 d times 2^15 + 128 is exact in f32, so the one rounding
// is the reference's.
struct Q80Format {
  static constexpr int kSuperBytes = 272;
  static constexpr int kPieces = 17;
  static constexpr int kPitch = kSuperBytes + 16;  // 288: rows g .. g + 3 on other banks
  static constexpr int kChunks = 4, kGroupsPerChunk = 2;
  static constexpr size_t kTableBytes = 0;

  __device__ __forceinline__ static size_t window(int s) { return size_t{static_cast<unsigned>(s)} * kSuperBytes; }
  __device__ __forceinline__ static void prepare(const uint8_t*, int, void*) {}

  struct RowChunk {
    uint2 q[2];
    float d[2];
  };

  __device__ __forceinline__ static RowChunk load(const uint8_t* stage, const void*, int row, int, int c, int t) {
    const uint8_t* super_block = stage + row * kPitch;
    RowChunk chunk;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const uint8_t* block = super_block + 34 * (2 * c + j);
      chunk.q[j] = load8_even(block + 2 + 8 * t);
      chunk.d[j] = f16_bits_to_float(*reinterpret_cast<const uint16_t*>(block));
    }
    return chunk;
  }

  __device__ __forceinline__ static void decode_group(const RowChunk& chunk, int j, int h, int, uint32_t (&a)[2][4]) {
    const float d = chunk.d[j];
    uint32_t pairs[4];
    decode_bytes<0x47000000u, 0x7504u, 4>(chunk.q[j].x ^ 0x80808080u, chunk.q[j].y ^ 0x80808080u, d, -32896.0f * d,
                                          pairs);
    place_pairs(pairs, h, a);
  }
};

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

// Super-block s of a warp's 16 weight rows (from row0; rows past n repeat row n - 1, whose sums are
// never stored) into one stage of the warp's ring, 16 bytes per copy.
template <class Format>
__device__ __forceinline__ void stage_weights(const uint8_t* __restrict__ w, size_t row_bytes, int row0, int n, int s,
                                              uint8_t* stage) {
  for (int v = threadIdx.x % 32; v < 16 * Format::kPieces; v += 32) {
    const int r = v / Format::kPieces, piece = v % Format::kPieces;
    const uint8_t* src = w + static_cast<size_t>(min(row0 + r, n - 1)) * row_bytes + Format::window(s) + piece * 16;
    cp_async_16(stage + r * Format::kPitch + piece * 16, src, true);
  }
}

// Block (row tile, token tile, k split); warp w owns rows 16 w .. 16 w + 15 of the block's tile. Each
// warp streams its own rows through a ring of kStages super-blocks in shared memory (cp.async, no
// registers held); x's 256-deep slices are shared by the block. Commit groups per thread: the
// ring's first kStages - 1 super-blocks, x's first slice (and an empty group with two x buffers),
// then per super-block the ring's next super-block and x's next slice (order below).
template <class Format, int kTokens, int kStages, int kXBuffers>
__global__ void __launch_bounds__(kFragmentWarps * 32, 2)
    fragment_mma_kernel(const bf16_t* __restrict__ x, const uint8_t* __restrict__ w, size_t row_bytes,
                        void* __restrict__ out, DType out_dtype, float* __restrict__ partials, int m, int n, int k,
                        int blocks_per_split) {
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
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) {
    if (begin + i < end) stage_weights<Format>(w, row_bytes, warp_row0, n, begin + i, ring + i * Shape::kStageBytes);
    cp_async_commit();
  }
  pdl_wait();
  load_x_slice<kTokens, Shape::kThreads>(x, m, k, token0, begin, x_tiles);
  cp_async_commit();
  if constexpr (kXBuffers == 2) cp_async_commit();

  float acc[kTokenTiles][4] = {};
  for (int s = begin; s < end; ++s) {
    const int i = s - begin;
    // The ring's next super-block goes into the stage this warp read last iteration.
    const auto stage_next = [&] {
      if (s + kStages - 1 < end) {
        stage_weights<Format>(w, row_bytes, warp_row0, n, s + kStages - 1,
                              ring + ((i + kStages - 1) % kStages) * Shape::kStageBytes);
      }
      cp_async_commit();
    };
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
    Format::prepare(stage, lane, table);
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

struct FragmentPlan {
  int tokens = kLargeTokens;
  int x_buffers = 1;  // at 64 tokens (the lab tries 2); 16 tokens: per format (launch_format)
  unsigned row_tiles = 0, token_tiles = 0;
  int splits = 1, blocks_per_split = 1;
};

FragmentPlan plan_fragments(size_t m, size_t n, size_t k, int num_sms, int fill, int x_buffers) {
  FragmentPlan plan;
  plan.tokens = m <= kSmallTokens ? kSmallTokens : kLargeTokens;
  plan.x_buffers = x_buffers == 2 ? 2 : 1;
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

template <class Format, int kTokens, int kStages, int kXBuffers>
Status launch_fragment_shape(const QuantMmaArgs& args, const FragmentPlan& plan, cudaStream_t stream) {
  using Shape = FragmentTile<Format, kTokens, kStages, kXBuffers>;
  auto kernel = fragment_mma_kernel<Format, kTokens, kStages, kXBuffers>;
  FERRUM_CUDA_TRY(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Shape::kSharedBytes)),
      "(quant_mma fragments, ", Shape::kSharedBytes, " bytes of shared memory)");
  // Two blocks per SM need more than the common carveout (launch_settings.h): occupancy, not PDL's
  // overlap with the neighbours, bounds this kernel (one block per SM left each scheduler 2 warps).
  apply_shared_carveout(reinterpret_cast<const void*>(kernel), 100);
  float* partials = plan.splits > 1 ? static_cast<float*>(args.scratch) : nullptr;
  const size_t row_bytes = args.k / kSuperValues * Format::kSuperBytes;
  return launch_kernel("quant_mma(fragments)", kernel, dim3(plan.row_tiles, plan.token_tiles, plan.splits),
                       dim3(Shape::kThreads), Shape::kSharedBytes, stream, static_cast<const bf16_t*>(args.x),
                       static_cast<const uint8_t*>(args.w), row_bytes, args.out, args.out_dtype, partials,
                       static_cast<int>(args.m), static_cast<int>(args.n), static_cast<int>(args.k),
                       plan.blocks_per_split);
}

// Two blocks per SM: ring depths and x buffers per token tile as shared memory allows (Q4_K's
// 160-byte staged rows: 4 deep with two x buffers at 16 tokens, 3 with one at 64; Q6_K's 240-byte
// rows 3 and 2; Q8_0's 288-byte rows 2 with one buffer at both). The lab's x_buffers = 2 at 64 tokens
// takes one ring stage more (one block per SM).
template <class Format, int kSmallStages, int kSmallBuffers, int kLargeStages>
Status launch_format(const QuantMmaArgs& args, const FragmentPlan& plan, cudaStream_t stream) {
  if (plan.tokens == kSmallTokens) {
    return launch_fragment_shape<Format, kSmallTokens, kSmallStages, kSmallBuffers>(args, plan, stream);
  }
  if (plan.x_buffers == 2) return launch_fragment_shape<Format, kLargeTokens, kLargeStages + 1, 2>(args, plan, stream);
  return launch_fragment_shape<Format, kLargeTokens, kLargeStages, 1>(args, plan, stream);
}

}  // namespace

bool fragments_take(const QuantMmaArgs& args) {
  return args.kernel != QuantMmaKernel::kSharedTiles && !args.generic_decode &&
         quant_mma_fragments_apply(args.w_dtype, args.x_dtype, args.w, args.k);
}

size_t fragments_scratch_bytes(size_t m, size_t n, size_t k, int num_sms, int fill) {
  const FragmentPlan plan = plan_fragments(m, n, k, num_sms, fill, 1);
  return plan.splits > 1 ? static_cast<size_t>(plan.splits) * m * n * sizeof(float) : 0;
}

Status launch_fragments(const QuantMmaArgs& args, cudaStream_t stream) {
  const FragmentPlan plan = plan_fragments(args.m, args.n, args.k, args.num_sms, args.fill, args.x_buffers);
  FERRUM_CHECK(plan.splits == 1 || args.scratch != nullptr, ErrorCode::kInvalidArgument,
               "quant_mma: a split-k launch needs its partials scratch");
  switch (args.w_dtype) {
    case DType::kQ6_K: FERRUM_TRY((launch_format<Q6KFormat, 3, 2, 2>(args, plan, stream))); break;
    case DType::kQ8_0: FERRUM_TRY((launch_format<Q80Format, 2, 1, 2>(args, plan, stream))); break;
    default: FERRUM_TRY((launch_format<Q4KFormat, 4, 2, 3>(args, plan, stream))); break;
  }
  SplitPlan split;
  split.splits = plan.splits;
  return finish_split(args, split, stream);
}

}  // namespace ferrum::cuda::quant_mma

namespace ferrum::cuda {

bool quant_mma_fragments_apply(DType w_dtype, DType x_dtype, const void* w, size_t k) {
  using quant_mma::kSuperValues;
  if (x_dtype != DType::kBF16 || !is_aligned(w, 16) || k % kSuperValues != 0 || !quant_mma_fragments_enabled()) {
    return false;
  }
  // Q6_K rows must start 16-byte aligned too (a multiple of 8 super-blocks); Q8_0's do at k % 256 == 0.
  return w_dtype == DType::kQ4_K || w_dtype == DType::kQ8_0 || (w_dtype == DType::kQ6_K && k % (8 * kSuperValues) == 0);
}

}  // namespace ferrum::cuda
