// What the fragment kernels share (quant_mma_fragments.cu: mma.sync, any sm_80+; quant_mma_wgmma.cu:
// Hopper's wgmma): the weight formats (Q4_0, Q4_K, Q5_K, Q6_K, Q8_0, 4-bit GPTQ: how a super-block
// of 256 k is staged, what a lane loads of it in either kernel's k order and how a 32-value group
// becomes bf16 A fragments), the weight sources (GgufRows, GptqWords: how a warp's 16 rows are
// copied into its ring and where the scales come from), the ring and the launch plan.
#pragma once

#include "backend/cuda/kernels/gguf_group_decode.cuh"
#include "backend/cuda/kernels/packed_int.cuh"
#include "backend/cuda/kernels/quant_mma_kernel.cuh"

namespace ferrum::cuda::quant_mma {

constexpr int kSuperValues = 256;  // values per super-block, the depth of one x slice
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

// scale_hi and offset_hi apply to hi's four values (the wgmma kernel's Q6_K, whose two steps have
// different scales); the overload below uses one pair for all eight.
template <uint32_t kMagic = kUnitMagic, uint32_t kSelector = kUnitSelector, int kShift = kUnitShift>
__device__ __forceinline__ void decode_bytes(uint32_t lo, uint32_t hi, float scale, float offset, uint32_t (&pairs)[4],
                                             float scale_hi, float offset_hi) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const uint32_t bytes = half == 0 ? lo : hi;
    float v[4];
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      v[b] = fmaf(__uint_as_float(__byte_perm(bytes, kMagic, kSelector | (b << kShift))), half == 0 ? scale : scale_hi,
                  half == 0 ? offset : offset_hi);
    }
    pairs[2 * half] = pack2<bf16_t>(v[0], v[1]);
    pairs[2 * half + 1] = pack2<bf16_t>(v[2], v[3]);
  }
}

template <uint32_t kMagic = kUnitMagic, uint32_t kSelector = kUnitSelector, int kShift = kUnitShift>
__device__ __forceinline__ void decode_bytes(uint32_t lo, uint32_t hi, float scale, float offset,
                                             uint32_t (&pairs)[4]) {
  decode_bytes<kMagic, kSelector, kShift>(lo, hi, scale, offset, pairs, scale, offset);
}

// Bytes p, p + 1, p + 8, p + 9 (.x) and p + 16, p + 17, p + 24, p + 25 (.y) at a 2-byte aligned
// shared address: what the wgmma kernel's lane t takes of a 32-value group (p = its start + 2t).
__device__ __forceinline__ uint2 load_quarter_pairs(const uint8_t* p) {
  const auto pair = [&](int quarter) {
    return static_cast<uint32_t>(*reinterpret_cast<const uint16_t*>(p + 8 * quarter));
  };
  return make_uint2(pair(0) | pair(1) << 16, pair(2) | pair(3) << 16);
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
    const auto [scale_lo, min_lo, scale_hi, min_hi] = k4_chunk_scales(head, c);
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

  // The same for the wgmma kernel, whose x stays in k order: a step's slots are its k, so lane t takes
  // bytes 2t, 2t + 1 of each 8-byte quarter of the chunk (q.x: step 0's, q.y: step 1's).
  __device__ __forceinline__ static RowChunk load_in_order(const uint8_t* stage, const void* table, int row, int, int c,
                                                           int t) {
    return {load_quarter_pairs(stage + row * kPitch + 16 + 32 * c + 2 * t),
            static_cast<const float4*>(table)[row * 4 + c]};
  }
  __device__ __forceinline__ static void decode_in_order(const RowChunk& chunk, int j, int h, int t,
                                                         uint32_t (&a)[2][4]) {
    decode_group(chunk, j, h, t, a);
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

// Q5_K: 176-byte super-blocks (d, dmin, Q4_K's 12 bytes of 6-bit scales and mins, 32 bytes qh of
// high bits, 128 of nibbles qs), 16-byte aligned. Chunk c is Q4_K's (groups 2c: low nibbles of qs
// 32c .. 32c + 31, 2c + 1: high nibbles) with bit 2c (2c + 1) of qh[l] as each value's bit 4.
struct Q5KFormat {
  static constexpr int kSuperBytes = 176;
  static constexpr int kPieces = 11;
  static constexpr int kPitch = kSuperBytes + 48;  // 224: rows g .. g + 3 of a lane quarter on other banks
  static constexpr int kChunks = 4, kGroupsPerChunk = 2;
  static constexpr size_t kTableBytes = Q4KFormat::kTableBytes;

  __device__ __forceinline__ static size_t window(int s) { return size_t{static_cast<unsigned>(s)} * kSuperBytes; }

  __device__ __forceinline__ static void prepare(const uint8_t* stage, int lane, void* table) {
    for (int e = lane; e < 16 * 4; e += 32) {
      static_cast<float4*>(table)[e] =
          Q4KFormat::chunk_scales(*reinterpret_cast<const uint4*>(stage + (e / 4) * kPitch), e % 4);
    }
  }

  struct RowChunk {
    uint2 q, high;  // the lane's nibble bytes, and its qh bytes shifted so bits 0 / 1 are groups 2c / 2c + 1
    float4 scales;
  };

  __device__ __forceinline__ static uint2 chunk_bits(uint2 qh, int c) {
    return make_uint2((qh.x >> (2 * c)) & 0x03030303u, (qh.y >> (2 * c)) & 0x03030303u);
  }
  __device__ __forceinline__ static RowChunk load(const uint8_t* stage, const void* table, int row, int, int c, int t) {
    const uint8_t* block = stage + row * kPitch;
    return {*reinterpret_cast<const uint2*>(block + 48 + 32 * c + 8 * t),
            chunk_bits(*reinterpret_cast<const uint2*>(block + 16 + 8 * t), c),
            static_cast<const float4*>(table)[row * 4 + c]};
  }
  __device__ __forceinline__ static RowChunk load_in_order(const uint8_t* stage, const void* table, int row, int, int c,
                                                           int t) {
    const uint8_t* block = stage + row * kPitch;
    return {load_quarter_pairs(block + 48 + 32 * c + 2 * t), chunk_bits(load_quarter_pairs(block + 16 + 2 * t), c),
            static_cast<const float4*>(table)[row * 4 + c]};
  }

  __device__ __forceinline__ static void decode_group(const RowChunk& chunk, int j, int h, int, uint32_t (&a)[2][4]) {
    const int shift = 4 * j;
    uint32_t pairs[4];
    decode_bytes(((chunk.q.x >> shift) & 0x0F0F0F0Fu) | (((chunk.high.x >> j) & 0x01010101u) << 4) | 0x80808080u,
                 ((chunk.q.y >> shift) & 0x0F0F0F0Fu) | (((chunk.high.y >> j) & 0x01010101u) << 4) | 0x80808080u,
                 j == 0 ? chunk.scales.x : chunk.scales.z, j == 0 ? chunk.scales.y : chunk.scales.w, pairs);
    place_pairs(pairs, h, a);
  }
  __device__ __forceinline__ static void decode_in_order(const RowChunk& chunk, int j, int h, int t,
                                                         uint32_t (&a)[2][4]) {
    decode_group(chunk, j, h, t, a);
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

  // Group j's 8 six-bit values of this lane as biased bytes (lo: the first 4, hi: the last 4).
  __device__ __forceinline__ static uint2 group_bytes(const RowChunk& chunk, int j) {
    const uint2 nibbles = j % 2 == 0 ? chunk.low : chunk.low2;
    const int shift = j < 2 ? 0 : 4;
    return make_uint2(
        ((nibbles.x >> shift) & 0x0F0F0F0Fu) | (((chunk.high.x >> (2 * j)) & 0x03030303u) << 4) | 0x80808080u,
        ((nibbles.y >> shift) & 0x0F0F0F0Fu) | (((chunk.high.y >> (2 * j)) & 0x03030303u) << 4) | 0x80808080u);
  }

  // 128 s of the half's scales byte `index` (d * scale * (q - 32) = (1 + q / 128) * 128 s - 160 s).
  __device__ __forceinline__ static float scale128(const RowChunk& chunk, int index) {
    const uint32_t scale_byte = ((index < 4 ? chunk.scales.x : chunk.scales.y) >> (8 * (index % 4))) & 0xFF;
    return chunk.d128 * (small_int_to_float(scale_byte ^ 0x80u) - 128.0f);
  }

  // Group j (0..3) of the half into the A fragments of its two steps, row half h.
  __device__ __forceinline__ static void decode_group(const RowChunk& chunk, int j, int h, int t, uint32_t (&a)[2][4]) {
    const uint2 bytes = group_bytes(chunk, j);
    const float s = scale128(chunk, t / 2 + 2 * j);  // the scales byte of (n, j, l / 16)
    uint32_t pairs[4];
    decode_bytes(bytes.x, bytes.y, s, -1.25f * s, pairs);
    place_pairs(pairs, h, a);
  }

  // The wgmma kernel's order: lane t takes l = 2t + {0, 1, 8, 9} (step 0, scale 2j) and 16 more
  // (step 1, scale 2j + 1).
  __device__ __forceinline__ static RowChunk load_in_order(const uint8_t* stage, const void*, int row, int s, int n,
                                                           int t) {
    const uint8_t* block = stage + row * kPitch + ((s * kSuperBytes) & 15);
    return {load_quarter_pairs(block + 64 * n + 2 * t), load_quarter_pairs(block + 64 * n + 32 + 2 * t),
            load_quarter_pairs(block + 128 + 32 * n + 2 * t), load8_even(block + 192 + 8 * n),
            128.0f * f16_bits_to_float(*reinterpret_cast<const uint16_t*>(block + 208))};
  }
  __device__ __forceinline__ static void decode_in_order(const RowChunk& chunk, int j, int h, int,
                                                         uint32_t (&a)[2][4]) {
    const uint2 bytes = group_bytes(chunk, j);
    const float s0 = scale128(chunk, 2 * j), s1 = scale128(chunk, 2 * j + 1);
    uint32_t pairs[4];
    decode_bytes(bytes.x, bytes.y, s0, -1.25f * s0, pairs, s1, -1.25f * s1);
    place_pairs(pairs, h, a);
  }
};

// The 32-value block types (Q8_0, Q4_0) stage eight blocks a super-block; a chunk is two blocks,
// a group one. What a lane holds of a chunk: per block, what lane_bytes took of the bytes after d,
// and d.
struct BlockPairChunk {
  uint2 q[2];
  float d[2];
};

template <int kBlockBytes, int kPitch, class LaneBytes>
__device__ __forceinline__ BlockPairChunk load_block_pair(const uint8_t* stage, int row, int c, LaneBytes lane_bytes) {
  const uint8_t* super_block = stage + row * kPitch;
  BlockPairChunk chunk;
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const uint8_t* block = super_block + kBlockBytes * (2 * c + j);
    chunk.q[j] = lane_bytes(block + 2);
    chunk.d[j] = f16_bits_to_float(*reinterpret_cast<const uint16_t*>(block));
  }
  return chunk;
}

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

  using RowChunk = BlockPairChunk;

  __device__ __forceinline__ static RowChunk load(const uint8_t* stage, const void*, int row, int, int c, int t) {
    return load_block_pair<34, kPitch>(stage, row, c, [t](const uint8_t* q) { return load8_even(q + 8 * t); });
  }
  __device__ __forceinline__ static RowChunk load_in_order(const uint8_t* stage, const void*, int row, int, int c,
                                                           int t) {
    return load_block_pair<34, kPitch>(stage, row, c, [t](const uint8_t* q) { return load_quarter_pairs(q + 2 * t); });
  }
  __device__ __forceinline__ static void decode_in_order(const RowChunk& chunk, int j, int h, int t,
                                                         uint32_t (&a)[2][4]) {
    decode_group(chunk, j, h, t, a);
  }

  __device__ __forceinline__ static void decode_group(const RowChunk& chunk, int j, int h, int, uint32_t (&a)[2][4]) {
    const float d = chunk.d[j];
    uint32_t pairs[4];
    decode_bytes<0x47000000u, 0x7504u, 4>(chunk.q[j].x ^ 0x80808080u, chunk.q[j].y ^ 0x80808080u, d, -32896.0f * d,
                                          pairs);
    place_pairs(pairs, h, a);
  }
};

// Q4_0: 18-byte blocks (d, 16 bytes of nibbles: value i the low nibble of byte i, value 16 + i its
// high one), 8 of them (144 bytes, 16-byte aligned when k is a multiple of 256) staged as one
// super-block; a group is a block. The mma.sync kernel's lane t takes values 8t .. 8t + 7: the low
// (t < 2) or high nibbles of bytes 8 (t % 2) .. 8 (t % 2) + 7; the wgmma kernel's lane t the low
// (step 0) and high (step 1) nibbles of bytes 2t, 2t + 1, 2t + 8, 2t + 9. d (q - 8) = (1 + q / 128)
// 128 d - 136 d, both constants exact for an f16 d.
struct Q40Format {
  static constexpr int kSuperBytes = 144;
  static constexpr int kPieces = 9;
  static constexpr int kPitch = kSuperBytes + 16;  // 160, as Q4_K's
  static constexpr int kChunks = 4, kGroupsPerChunk = 2;
  static constexpr size_t kTableBytes = 0;

  __device__ __forceinline__ static size_t window(int s) { return size_t{static_cast<unsigned>(s)} * kSuperBytes; }
  __device__ __forceinline__ static void prepare(const uint8_t*, int, void*) {}

  using RowChunk = BlockPairChunk;  // q: the lane's 8 values of a block as nibbles (.x step 0's, .y step 1's)

  __device__ __forceinline__ static RowChunk load(const uint8_t* stage, const void*, int row, int, int c, int t) {
    return load_block_pair<18, kPitch>(stage, row, c, [t](const uint8_t* q) {
      const uint2 bytes = load8_even(q + 8 * (t % 2));
      const int shift = 4 * (t / 2);
      return make_uint2((bytes.x >> shift) & 0x0F0F0F0Fu, (bytes.y >> shift) & 0x0F0F0F0Fu);
    });
  }
  __device__ __forceinline__ static RowChunk load_in_order(const uint8_t* stage, const void*, int row, int, int c,
                                                           int t) {
    return load_block_pair<18, kPitch>(stage, row, c, [t](const uint8_t* q) {
      const uint32_t bytes = load_quarter_pairs(q + 2 * t).x;  // bytes 2t, 2t + 1, 2t + 8, 2t + 9
      return make_uint2(bytes & 0x0F0F0F0Fu, (bytes >> 4) & 0x0F0F0F0Fu);
    });
  }

  __device__ __forceinline__ static void decode_group(const RowChunk& chunk, int j, int h, int, uint32_t (&a)[2][4]) {
    const float d128 = 128.0f * chunk.d[j];
    uint32_t pairs[4];
    decode_bytes(chunk.q[j].x | 0x80808080u, chunk.q[j].y | 0x80808080u, d128, -1.0625f * d128, pairs);
    place_pairs(pairs, h, a);
  }
  __device__ __forceinline__ static void decode_in_order(const RowChunk& chunk, int j, int h, int t,
                                                         uint32_t (&a)[2][4]) {
    decode_group(chunk, j, h, t, a);
  }
};

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

// GGUF rows as a fragment kernel's weight source: row r of `w` is row_bytes long; the format's
// super-blocks are staged as they are and its prepare() reads the staged bytes only.
template <class FormatT>
struct GgufRows {
  using Format = FormatT;
  const uint8_t* __restrict__ w;
  size_t row_bytes;

  __device__ __forceinline__ void stage(int row0, int n, int s, uint8_t* dst) const {
    stage_weights<Format>(w, row_bytes, row0, n, s, dst);
  }
  __device__ __forceinline__ void prepare(const uint8_t* staged, int lane, void* table, int, int, int) const {
    Format::prepare(staged, lane, table);
  }
};

// GPTQ, 4 bits, no g_idx, group size a multiple of 32: words [k / 8, n] (nibble e of a word is k
// 8 w + e), zeros [groups, n / 8] stored minus one, scales [groups, n]. A warp's 16 rows are 16
// output columns; super-block s is word rows 32 s .. 32 s + 31, staged as [word row][16 columns]
// (64 bytes each, the two 8-column halves swapped where bit 1 of the word row is set, so that the
// mma.sync kernel's four word rows of a group land on distinct banks). Group j is word rows
// 4 j .. 4 j + 3: the mma.sync kernel's lane t takes word row 4 j + t whole (k 8t .. 8t + 7), the
// wgmma kernel's byte t of each of the four (k 2t, 2t + 1 of each 8).
struct GptqFormat {
  static constexpr int kPitch = 128;  // 16 * kPitch: a warp's stage, 32 word rows x 64 bytes
  static constexpr int kChunks = 8, kGroupsPerChunk = 1;
  static constexpr size_t kTableBytes = 16 * 8 * sizeof(float2);  // [row][group] (128 s, -(128 s + z s))

  __device__ __forceinline__ static int word_offset(int word_row, int column) {
    return word_row * 64 + (column ^ (((word_row >> 1) & 1) * 8)) * 4;
  }

  struct RowChunk {
    uint2 q;  // biased bytes of the lane's eight values: .x step 0's, .y step 1's
    float2 scale;
  };

  // Bytes b0, b1 of `word` as four biased nibble bytes: b0's low and high nibble, then b1's.
  __device__ __forceinline__ static uint32_t nibble_bytes(uint32_t word, uint32_t selector) {
    const uint32_t doubled = __byte_perm(word, 0, selector);  // b0, b0, b1, b1
    return (doubled & 0x000F000Fu) | ((doubled >> 4) & 0x0F000F00u) | 0x80808080u;
  }

  __device__ __forceinline__ static RowChunk load(const uint8_t* stage, const void* table, int row, int, int c, int t) {
    const uint32_t word = *reinterpret_cast<const uint32_t*>(stage + word_offset(4 * c + t, row));
    return {make_uint2(nibble_bytes(word, 0x1100), nibble_bytes(word, 0x3322)),
            static_cast<const float2*>(table)[row * 8 + c]};
  }
  __device__ __forceinline__ static RowChunk load_in_order(const uint8_t* stage, const void* table, int row, int, int c,
                                                           int t) {
    uint32_t words[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) words[q] = *reinterpret_cast<const uint32_t*>(stage + word_offset(4 * c + q, row));
    const uint32_t select = static_cast<uint32_t>(t) | static_cast<uint32_t>(t + 4) << 4;
    const uint32_t lane_bytes =
        __byte_perm(__byte_perm(words[0], words[1], select), __byte_perm(words[2], words[3], select), 0x5410);
    return {make_uint2(nibble_bytes(lane_bytes, 0x1100), nibble_bytes(lane_bytes, 0x3322)),
            static_cast<const float2*>(table)[row * 8 + c]};
  }
  __device__ __forceinline__ static void decode_group(const RowChunk& chunk, int, int h, int, uint32_t (&a)[2][4]) {
    uint32_t pairs[4];
    decode_bytes(chunk.q.x, chunk.q.y, chunk.scale.x, chunk.scale.y, pairs);
    place_pairs(pairs, h, a);
  }
  __device__ __forceinline__ static void decode_in_order(const RowChunk& chunk, int j, int h, int t,
                                                         uint32_t (&a)[2][4]) {
    decode_group(chunk, j, h, t, a);
  }
};

template <class Scale>
struct GptqWords {
  using Format = GptqFormat;
  const int32_t* __restrict__ qweight;
  const Scale* __restrict__ scales;
  const int32_t* __restrict__ zeros;
  int group_size;
  GptqWordLayout layout;

  // 32 word rows x 4 pieces of 4 columns (n a multiple of 4: pieces past n copy the last one, whose
  // sums are never stored).
  __device__ __forceinline__ void stage(int row0, int n, int s, uint8_t* dst) const {
    for (int v = threadIdx.x % 32; v < 32 * 4; v += 32) {
      const int word_row = v / 4, piece = v % 4;
      const int column = min(row0 + 4 * piece, n - 4);
      const int32_t* src = qweight + layout.at(static_cast<size_t>(s) * 32 + word_row, column);
      cp_async_16(dst + word_row * 64 + (piece ^ (((word_row >> 1) & 1) * 2)) * 16, src, true);
    }
  }
  // The warp's [row][group] table for super-block s: the scale and zero of each 32-value group.
  __device__ __forceinline__ void prepare(const uint8_t*, int lane, void* table, int s, int row0, int n) const {
    for (int e = lane; e < 16 * 8; e += 32) {
      const int column = min(row0 + e / 8, n - 1);
      const size_t group = static_cast<size_t>((s * kSuperValues + (e % 8) * 32) / group_size);
      const float scale = to_f32(scales[group * n + column]);
      const uint32_t zero_word = static_cast<uint32_t>(zeros[group * (n / 8) + column / 8]);
      const float zero = small_int_to_float(((zero_word >> (4 * (column % 8))) & 0xFu) + 1);
      const float scale128 = 128.0f * scale;
      static_cast<float2*>(table)[e] = make_float2(scale128, -fmaf(zero, scale, scale128));
    }
  }
};

// A warp's ring of kStages super-blocks (kStageBytes each): the first kStages - 1 of the block's
// range [begin, end), one commit group each (empty past the end).
template <int kStages, size_t kStageBytes, class Source>
__device__ __forceinline__ void fill_ring(const Source& source, int row0, int n, int begin, int end, uint8_t* ring) {
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) {
    if (begin + i < end) source.stage(row0, n, begin + i, ring + i * kStageBytes);
    cp_async_commit();
  }
}

// In iteration i (super-block s = begin + i), the ring's super-block s + kStages - 1 into the stage
// iteration i - 1 read; one commit group (empty past the end).
template <int kStages, size_t kStageBytes, class Source>
__device__ __forceinline__ void refill_ring(const Source& source, int row0, int n, int s, int i, int end,
                                            uint8_t* ring) {
  if (s + kStages - 1 < end) source.stage(row0, n, s + kStages - 1, ring + ((i + kStages - 1) % kStages) * kStageBytes);
  cp_async_commit();
}

struct FragmentPlan {
  int tokens = kLargeTokens;
  int x_buffers = 0;  // x slices at 64 tokens: 0 each kernel's choice, or the lab's 1 / 2
  unsigned row_tiles = 0, token_tiles = 0;
  int splits = 1, blocks_per_split = 1;
};

// Row tiles, token tiles and k split of a launch (quant_mma_fragments.cu).
FragmentPlan plan_fragments(size_t m, size_t n, size_t k, int num_sms, int fill, int x_buffers);

// The wgmma kernel (quant_mma_wgmma.cu): whether it takes this launch (an sm_90a build, a 9.0
// device, 64-token tiles, quant_mma_wgmma_enabled() or args.kernel) and the launch itself.
bool wgmma_takes(const QuantMmaArgs& args, const FragmentPlan& plan);
template <class Source>
Status launch_wgmma(const QuantMmaArgs& args, const FragmentPlan& plan, const Source& source, cudaStream_t stream);

// GPTQ through the fragment kernels (quant_mma_fragments.cu): 4 bits, no g_idx, group size a multiple
// of 32, k a multiple of 256, n of 4, bf16 x, 16-byte aligned words.
bool gptq_fragments_take(const QuantMmaArgs& args, const PackedIntWeight& packed);
Status launch_gptq_fragments(const QuantMmaArgs& args, const PackedIntWeight& packed, cudaStream_t stream);

}  // namespace ferrum::cuda::quant_mma
