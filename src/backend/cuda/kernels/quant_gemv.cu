// Fused GGUF GEMV for decode (see quant_gemv.h). Versions and their numbers: lab/quant_gemv_lab.cu,
// lab/NOTES.md and bench/results/2026-11-27-h100-quant-gemv.md. Shipped:
// - Q8_0: v4's dp4a over blocks kept in place. The 34-byte blocks are only 2-byte aligned, so each
//   warp stages 32 blocks of its row in shared memory (as v2 does, instead of v4's repacking at
//   load, which would need a second weight layout in the backend contract), with cp.async,
//   double-buffered, where every step is whole 16-byte vectors (k % 256 == 0, every Llama shape):
//   the warp's next loads are in flight while it computes (at one row, its next x too). Q4_0,
//   Q4_1, Q5_0 and Q5_1 take the same kernel (`legacy_block_gemv_kernel`), a lane's block turned
//   into 32 integers.
// - Q6_K (no lab version; the Q4_K_M files' other type): staged the same way, 8 super-blocks a
//   step. Q3_K and Q2_K (the Q3_K_M / Q2_K files' main types) likewise, their 2-bit fields to int8.
// - Q4_K v4: eight lanes per super-block, so each warp-wide load covers contiguous bytes (Nsight
//   Compute had v3, a lane per 64 weights, at 85% of the L1 throughput and 66% of DRAM's). Q5_K
//   takes the same kernel with its high bits loaded beside the nibbles.
// All of them split a row's k over up to four warps when the matrix has too few rows to fill the GPU.
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/gguf_decode.cuh"
#include "backend/cuda/kernels/launch.cuh"
#include "backend/cuda/kernels/launch_settings.h"
#include "backend/cuda/kernels/mma_sm80.cuh"
#include "backend/cuda/kernels/quant_gemv.h"
#include "backend/cuda/kernels/rounded_rows.cuh"

namespace ferrum::cuda {
namespace {

constexpr int kWarps = 8;            // one weight row per warp
constexpr int kGroup = kRoundGroup;  // x values per int8 scale
constexpr int kQ8BlockBytes = 34;    // f16 d, then 32 int8
constexpr int kQ4KBlockBytes = 144;  // f16 d, f16 dmin, 12 scale bytes, 128 nibble bytes
constexpr int kQ5KBlockBytes = 176;  // Q4_K's with 32 bytes of high bits before the nibbles
constexpr int kStagedBlocks = 32;    // Q8_0 blocks a warp stages at once: one per lane
constexpr int kStagedVectors = kStagedBlocks * kQ8BlockBytes / 16;  // 1088 bytes = 68 x 16

// A warp per 32 values (rounded_rows.cuh).
template <class A>
__global__ void __launch_bounds__(kWarps * 32) quantize_x_kernel(const A* __restrict__ x, QuantizedX xq, int groups) {
  pdl_launch_dependents();
  pdl_wait();
  const int group = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (group >= groups) return;
  const size_t i = static_cast<size_t>(group) * kGroup + lane;
  const float v = to_f32(x[i]);
  const float scale = rounding_scale(warp_max(fabsf(v)));
  const int q = __float2int_rn(v / scale);
  xq.q[i] = static_cast<int8_t>(q);
  const float total = warp_sum(static_cast<float>(q));  // integers below 2^12: exact
  if (lane == 0) {
    xq.scale[group] = scale;
    xq.sum[group] = scale * total;
  }
}

__device__ __forceinline__ void store_out(void* out, DType dtype, size_t index, float value) {
  switch (dtype) {
    case DType::kF16: static_cast<f16_t*>(out)[index] = __float2half_rn(value); break;
    case DType::kBF16: static_cast<bf16_t*>(out)[index] = __float2bfloat16_rn(value); break;
    default: static_cast<float*>(out)[index] = value; break;
  }
}

// Rows too few to fill the GPU split their k over `warps_per_row` warps of a block (1, 2, 4 or 8):
// warp w of the block takes row blockIdx.x * (8 / warps_per_row) + w / warps_per_row and its part
// w % warps_per_row of the row's steps (steps part, part + warps_per_row, ...).
struct RowSlice {
  int row, part;
};

__device__ __forceinline__ RowSlice row_slice(int warps_per_row) {
  const int warp = threadIdx.x / 32;
  return {static_cast<int>(blockIdx.x) * (kWarps / warps_per_row) + warp / warps_per_row, warp % warps_per_row};
}

// Sums each warp's partial dot products (then the row's warps, in part order) and stores the row
// (activation row t's output at out[t * ldo + row]).
// Every thread of the block calls it: with warps_per_row > 1 it holds a block barrier.
template <int kM>
__device__ __forceinline__ void store_row(float (&acc)[kM], RowSlice slice, int warps_per_row, int n, int ldo,
                                          void* out, DType out_dtype) {
  __shared__ float partial[kWarps][kM];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int t = 0; t < kM; ++t) acc[t] = warp_sum(acc[t]);
  if (warps_per_row > 1) {
    if (lane == 0) {
#pragma unroll
      for (int t = 0; t < kM; ++t) partial[warp][t] = acc[t];
    }
    __syncthreads();
    if (slice.part != 0) return;
#pragma unroll
    for (int t = 0; t < kM; ++t) {
      for (int p = 1; p < warps_per_row; ++p) acc[t] += partial[warp + p][t];
    }
  }
  if (lane != 0 || slice.row >= n) return;
#pragma unroll
  for (int t = 0; t < kM; ++t) store_out(out, out_dtype, static_cast<size_t>(t) * ldo + slice.row, acc[t]);
}

// Four dp4a: the 16 int8 products of w[0..3] with x, added to dot.
__device__ __forceinline__ int dp4a_16(const int* w, const int4& x, int dot = 0) {
  dot = __dp4a(w[0], x.x, dot);
  dot = __dp4a(w[1], x.y, dot);
  dot = __dp4a(w[2], x.z, dot);
  return __dp4a(w[3], x.w, dot);
}

// The 32 products of w[0..7] with x (16-byte aligned), summed: both loads first, then one chain.
// Two chains added at the end (1a89fad) took the Q8_0 kernel from 40 to 32 registers and its
// gate_up from 47 to 57 us on an H100.
__device__ __forceinline__ int dp4a_32(const int (&w)[8], const int8_t* x) {
  const int4 x0 = reinterpret_cast<const int4*>(x)[0];
  const int4 x1 = reinterpret_cast<const int4*>(x)[1];
  return dp4a_16(w + 4, x1, dp4a_16(w, x0));
}

// Copies `bytes` (even) from a 2-byte aligned global address to 16-byte aligned shared memory,
// the warp's lanes side by side, with 16-, 4- or 2-byte loads as the address allows.
__device__ __forceinline__ void warp_stage(uint8_t* dst, const uint8_t* src, int bytes, int lane) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(src);
  int done = 0;
  if (address % 16 == 0) {
    const int vectors = bytes / 16;
    for (int i = lane; i < vectors; i += 32) {
      reinterpret_cast<uint4*>(dst)[i] = __ldg(reinterpret_cast<const uint4*>(src) + i);
    }
    done = vectors * 16;
  } else if (address % 4 == 0) {
    const int words = bytes / 4;
    for (int i = lane; i < words; i += 32) {
      reinterpret_cast<unsigned int*>(dst)[i] = __ldg(reinterpret_cast<const unsigned int*>(src) + i);
    }
    done = words * 4;
  }
  for (int i = done / 2 + lane; i < bytes / 2; i += 32) {
    reinterpret_cast<unsigned short*>(dst)[i] = __ldg(reinterpret_cast<const unsigned short*>(src) + i);
  }
}

// Walks a warp's steps of its weight row: steps first, first + stride, ... below `blocks`, each
// `step_blocks` blocks of `block_bytes` staged in the warp's shared memory (`buffers`, of
// `buffer_bytes` each: two for kAsync, else one), then compute(staged, first_block, count).
// Synchronous staging (kAsync false) waits for each step's loads before computing it, so a warp
// never has loads in flight while it computes; kAsync double-buffers with cp.async, the next step's
// copy issued before this step's compute. It needs every step 16-byte aligned and a whole number of
// 16-byte vectors (the caller checks). It holds the kernel's pdl_wait: weights are never written by
// an earlier kernel, so kAsync issues the first step's copy before waiting for the kernel that wrote
// x, and that copy's latency overlaps the previous kernel's tail.
template <bool kAsync, class Compute>
__device__ __forceinline__ void staged_steps(const uint8_t* w_row, int block_bytes, int step_blocks, int first,
                                             int stride, int blocks, uint8_t* buffers, int buffer_bytes, int lane,
                                             Compute&& compute) {
  const auto stage = [&](int step, uint8_t* dst) {
    const int count = min(step_blocks, blocks - step);
    const uint8_t* src = w_row + static_cast<size_t>(step) * block_bytes;
    if constexpr (kAsync) {
      for (int i = lane; i < count * block_bytes / 16; i += 32) cp_async_16(dst + 16 * i, src + 16 * i, true);
      cp_async_commit();
    } else {
      warp_stage(dst, src, count * block_bytes, lane);
    }
  };
  int buffer = 0;
  if constexpr (kAsync) {
    if (first < blocks) stage(first, buffers);
  }
  pdl_wait();
  for (int step = first; step < blocks; step += stride) {
    uint8_t* staged = buffers + buffer * buffer_bytes;
    if constexpr (kAsync) {
      if (step + stride < blocks) {
        stage(step + stride, buffers + (buffer ^ 1) * buffer_bytes);
        cp_async_wait<1>();  // this step's group has landed; the next one may still be in flight
      } else {
        cp_async_wait<0>();
      }
      buffer ^= 1;
    } else {
      stage(step, staged);
    }
    __syncwarp();  // the staged bytes are visible to every lane
    compute(staged, step, min(step_blocks, blocks - step));
    __syncwarp();  // every lane is done with the buffer before it is staged again
  }
}

// The 32-value block types this kernel takes: Q8_0 (f16 d, 32 int8), Q4_0 (f16 d, 16 nibble bytes:
// value i the low nibble of byte i, 16 + i its high one, minus 8), Q4_1 (d, f16 m, nibbles: d q + m),
// Q5_0 (d, 4 bytes qh whose bit i is value i's fifth bit, nibbles; minus 16) and Q5_1 (d, m, qh,
// nibbles: d q + m).
enum class LegacyBlock { kQ8_0, kQ4_0, kQ4_1, kQ5_0, kQ5_1 };

template <LegacyBlock F>
inline constexpr int kLegacyBlockBytes = F == LegacyBlock::kQ8_0   ? 34
                                         : F == LegacyBlock::kQ4_0 ? 18
                                         : F == LegacyBlock::kQ4_1 ? 20
                                         : F == LegacyBlock::kQ5_0 ? 22
                                                                   : 24;

// Bits 0..3 of `bits` as bit 4 of bytes 0..3 (a Q5 block's fifth bits next to four nibbles).
__device__ __forceinline__ uint32_t fifth_bits(uint32_t bits) {
  return ((bits & 1u) << 4) | ((bits & 2u) << 11) | ((bits & 4u) << 18) | ((bits & 8u) << 25);
}

// Legacy blocks: a warp per weight row; per step the warp stages 32 blocks (2-byte aligned in the
// file), then lane j takes block j: its 32 integers as 8 words, 8 dp4a per activation row against
// the int8 x, scaled by d * x's scale. The types with an offset add it through x's rounded sum:
// sum d (q - o) x = d (x_scale dot(q, xq) - o x_sum), and d q + m gives d x_scale dot + m x_sum.
// kXAhead (Q8_0 at one row): each step also loads the lane's x for the next step, so a step waits
// on its staged weights only. Nsight Compute had the 4096 x 14336 down GEMV stalled on L1TEX 64%
// of the time: the x loads came after each step's wait. It costs 6 registers, so its launch bound
// keeps six blocks an SM (40 registers, no spill; at 46 the 6144-row q / k / v took a second wave).
// A bound of 0 blocks is none: the other instantiations compile byte for byte as without it (an
// explicit 1 changed their code). H100, 8B Q8_0 decode 287.8 -> 293.4 tok/s, three rounds each
// (bench/results/2026-11-28-h100-occupancy-parts-tp.md, call 11).
template <int kM, bool kAsync, LegacyBlock F = LegacyBlock::kQ8_0, bool kXAhead = false>
__global__ void __launch_bounds__(kWarps * 32, kXAhead ? 6 : 0)
    legacy_block_gemv_kernel(const uint8_t* __restrict__ w, QuantizedX xq, void* __restrict__ out, DType out_dtype,
                             int n, int k, int warps_per_row, int ldo) {
  constexpr int kBlockBytes = kLegacyBlockBytes<F>;
  constexpr bool kHasMin = F == LegacyBlock::kQ4_1 || F == LegacyBlock::kQ5_1;
  constexpr bool kHasHigh = F == LegacyBlock::kQ5_0 || F == LegacyBlock::kQ5_1;
  constexpr int kNibbleHalf = 1 + (kHasMin ? 1 : 0) + (kHasHigh ? 2 : 0);  // halfwords before the nibbles
  constexpr float kOffset = F == LegacyBlock::kQ4_0 ? 8.0f : F == LegacyBlock::kQ5_0 ? 16.0f : 0.0f;
  __shared__ uint4 staged[kWarps][kAsync ? 2 : 1][kStagedVectors];
  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const RowSlice slice = row_slice(warps_per_row);
  const int blocks = k / kGroup;
  const uint8_t* w_row = w + static_cast<size_t>(slice.row) * blocks * kBlockBytes;
  float acc[kM] = {};
  const int first = slice.row < n ? slice.part * kStagedBlocks : blocks;
  int4 next_x0{}, next_x1{};  // kXAhead: the next step's x, its scale, and whether they are loaded
  float next_scale = 0.0f;
  bool have_next = false;
  staged_steps<kAsync>(
      w_row, kBlockBytes, kStagedBlocks, first, kStagedBlocks * warps_per_row, blocks,
      reinterpret_cast<uint8_t*>(staged[warp]), kStagedVectors * 16, lane,
      [&](const uint8_t* mine, int first_block, int count) {
        if (lane >= count) return;
        const unsigned short* b = reinterpret_cast<const unsigned short*>(mine + lane * kBlockBytes);
        const float d = __half2float(__ushort_as_half(b[0]));
        const auto word = [&](int halfword) { return b[halfword] | (static_cast<uint32_t>(b[halfword + 1]) << 16); };
        int words[8];
        if constexpr (F == LegacyBlock::kQ8_0) {
#pragma unroll
          for (int j = 0; j < 8; ++j) words[j] = static_cast<int>(word(1 + 2 * j));
        } else {
          const uint32_t high = kHasHigh ? word(kHasMin ? 2 : 1) : 0u;
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const uint32_t packed = word(kNibbleHalf + 2 * j);
            uint32_t low_values = packed & 0x0F0F0F0Fu, high_values = (packed >> 4) & 0x0F0F0F0Fu;
            if constexpr (kHasHigh) {
              low_values |= fifth_bits(high >> (4 * j));
              high_values |= fifth_bits(high >> (16 + 4 * j));
            }
            words[j] = static_cast<int>(low_values);
            words[4 + j] = static_cast<int>(high_values);
          }
        }
        const float m = kHasMin ? __half2float(__ushort_as_half(b[1])) : 0.0f;
        const int block = first_block + lane;
        if constexpr (kXAhead) {
          static_assert(kM == 1 && F == LegacyBlock::kQ8_0, "x ahead: one row of Q8_0");
          int4 x0, x1;
          float x_scale;
          if (have_next) {
            x0 = next_x0;
            x1 = next_x1;
            x_scale = next_scale;
          } else {
            x0 = reinterpret_cast<const int4*>(xq.q + block * kGroup)[0];
            x1 = reinterpret_cast<const int4*>(xq.q + block * kGroup)[1];
            x_scale = xq.scale[block];
          }
          const int next = block + kStagedBlocks * warps_per_row;
          have_next = next < blocks;
          if (have_next) {
            next_x0 = reinterpret_cast<const int4*>(xq.q + next * kGroup)[0];
            next_x1 = reinterpret_cast<const int4*>(xq.q + next * kGroup)[1];
            next_scale = xq.scale[next];
          }
          const int dot = dp4a_16(words + 4, x1, dp4a_16(words, x0));
          acc[0] = fmaf(d * x_scale, static_cast<float>(dot), acc[0]);
        } else {
#pragma unroll
          for (int t = 0; t < kM; ++t) {
            const int dot = dp4a_32(words, xq.q + static_cast<size_t>(t) * k + block * kGroup);
            const float x_scale = xq.scale[t * blocks + block];
            if constexpr (kHasMin) {
              acc[t] = fmaf(d * x_scale, static_cast<float>(dot), fmaf(m, xq.sum[t * blocks + block], acc[t]));
            } else if constexpr (kOffset != 0.0f) {
              acc[t] = fmaf(d, fmaf(x_scale, static_cast<float>(dot), -kOffset * xq.sum[t * blocks + block]), acc[t]);
            } else {
              acc[t] = fmaf(d * x_scale, static_cast<float>(dot), acc[t]);
            }
          }
        }
      });
  store_row(acc, slice, warps_per_row, n, ldo, out, out_dtype);
}

// Q4_K's scale and min for sub-blocks 2c and 2c + 1 and its d and dmin, from a super-block header.
struct Q4KChunkScales : K4ChunkScales {
  float d, dmin;
};

__device__ __forceinline__ Q4KChunkScales q4_k_chunk_scales(const uint4& header, int chunk) {
  return {k4_chunk_scales(header, chunk),
          __half2float(__ushort_as_half(static_cast<unsigned short>(header.x & 0xFFFFu))),
          __half2float(__ushort_as_half(static_cast<unsigned short>(header.x >> 16)))};
}

// Q4_K v4: eight lanes per super-block, four super-blocks per warp step. value = d * scale * q -
// dmin * min, so a sub-block contributes d * (scale * x_scale * dot(q, xq)) - dmin * (min * x_sum).
// Lane j (0..7) of a super-block takes 16 of its 128 nibble bytes, bytes 16 j .. 16 j + 15: chunk
// c = j / 2, half h = j % 2, so its low nibbles are weights 64 c + 16 h + 0..15 (sub-block 2c) and
// its high nibbles the same positions + 32 (sub-block 2c + 1). A warp-wide load of nibbles then
// covers 4 x 128 contiguous bytes and one of x 4 x 128 bytes (in pieces of 32), where v3's
// (lab/quant_gemv_lab.cu: a lane per 64-weight chunk) touched 16 lines. The two lanes of a chunk
// share its sub-blocks: lane h = 0 adds the dmin terms, once per sub-block.
// kHighBits: Q5_K, the same super-block with 32 bytes of high bits (qh, bytes 16..47) before the 128
// nibble bytes; lane j's 16 values take bits 2c and 2c + 1 of qh[16 h .. 16 h + 15] as their bit 4.
template <int kM, bool kHighBits = false>
__global__ void __launch_bounds__(kWarps * 32)
    q4_k_gemv_kernel(const uint8_t* __restrict__ w, QuantizedX xq, void* __restrict__ out, DType out_dtype, int n,
                     int k, int warps_per_row, int ldo) {
  constexpr int kBlockBytes = kHighBits ? kQ5KBlockBytes : kQ4KBlockBytes;
  constexpr int kNibbles = kHighBits ? 48 : 16;  // where a super-block's nibble bytes start
  pdl_launch_dependents();
  const int lane = threadIdx.x % 32;
  const RowSlice slice = row_slice(warps_per_row);
  const int blocks = k / 256, groups = k / kGroup;
  const int j = lane % 8, chunk = j / 2, half = j % 2;
  const float owns_min = half == 0 ? 1.0f : 0.0f;
  const uint8_t* w_row = w + static_cast<size_t>(slice.row) * blocks * kBlockBytes;
  float acc[kM] = {};
  const int first_block = slice.row < n ? slice.part * 4 + lane / 8 : blocks;
  // pdl_wait comes first here: loading the first step's weights before it (as the staged kernels
  // do) took the m = 1 kernel from 32 to 40-48 registers and was slower on the 1024- and 4096-row
  // matrices (k 3.85 -> 4.23 us, o 7.40 -> 7.85; H100, bench/results/2026-11-27-h100-round-ahead.md).
  pdl_wait();
  for (int block = first_block; block < blocks; block += 4 * warps_per_row) {
    const uint8_t* b = w_row + block * kBlockBytes;
    const uint4 header = __ldg(reinterpret_cast<const uint4*>(b));
    const uint4 nibbles = __ldg(reinterpret_cast<const uint4*>(b + kNibbles + 16 * j));
    const uint32_t packed[4] = {nibbles.x, nibbles.y, nibbles.z, nibbles.w};
    int low[4], high[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      low[i] = static_cast<int>(packed[i] & 0x0F0F0F0Fu);
      high[i] = static_cast<int>((packed[i] >> 4) & 0x0F0F0F0Fu);
    }
    if constexpr (kHighBits) {
      const uint4 qh = __ldg(reinterpret_cast<const uint4*>(b + 16 + 16 * half));
      const uint32_t bits[4] = {qh.x >> (2 * chunk), qh.y >> (2 * chunk), qh.z >> (2 * chunk), qh.w >> (2 * chunk)};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        low[i] |= static_cast<int>((bits[i] & 0x01010101u) << 4);
        high[i] |= static_cast<int>(((bits[i] >> 1) & 0x01010101u) << 4);
      }
    }
    const Q4KChunkScales sc = q4_k_chunk_scales(header, chunk);
    const int sub = block * 8 + chunk * 2;  // x's group of the low sub-block; the high one is next
#pragma unroll
    for (int t = 0; t < kM; ++t) {
      const int8_t* x = xq.q + static_cast<size_t>(t) * k + sub * kGroup + 16 * half;
      const int4 x_lo = *reinterpret_cast<const int4*>(x);
      const int4 x_hi = *reinterpret_cast<const int4*>(x + kGroup);
      const int dot_lo = dp4a_16(low, x_lo), dot_hi = dp4a_16(high, x_hi);
      const float2 x_scale = *reinterpret_cast<const float2*>(xq.scale + t * groups + sub);
      const float2 x_sum = *reinterpret_cast<const float2*>(xq.sum + t * groups + sub);
      acc[t] += sc.d * (sc.scale_lo * x_scale.x * dot_lo + sc.scale_hi * x_scale.y * dot_hi) -
                owns_min * sc.dmin * (sc.min_lo * x_sum.x + sc.min_hi * x_sum.y);
    }
  }
  store_row(acc, slice, warps_per_row, n, ldo, out, out_dtype);
}

// 32 bytes from a 2-byte aligned shared-memory address as 8 little-endian words: aligned 4-byte
// reads, shifted by the misalignment (9 reads instead of 16 two-byte ones).
__device__ __forceinline__ void load_words_shared(const uint8_t* p, uint32_t (&words)[8]) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(p);
  const uint32_t* base = reinterpret_cast<const uint32_t*>(address & ~uintptr_t{3});
  const uint32_t shift = 8 * static_cast<uint32_t>(address & 3);
  uint32_t low = base[0];
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const uint32_t high = base[j + 1];
    words[j] = __funnelshift_r(low, high, shift);
    low = high;
  }
}

// Q6_K: a warp per weight row; per step the warp stages 8 super-blocks (1680 bytes, 16-byte
// aligned when k % 2048 == 0) in shared memory, then each lane takes 32-value groups: group g
// (half h = g / 4, quarter c = g % 4) of a super-block is 128 h + 32 c + l: the low (c < 2) or
// high nibble of ql[64 h + 32 (c % 2) + l], bits 2c..2c+1 of qh[32 h + l] as bits 4-5, minus 32,
// with the signed scale scales[8 h + 2 c + l / 16]. The bytes q - 32 go to dp4a as int8.
constexpr int kQ6KBlockBytes = 210;  // ql[128], qh[64], scales i8[16], f16 d
constexpr int kQ6KStagedBlocks = 8;
constexpr int kQ6KStagedVectors = kQ6KStagedBlocks * kQ6KBlockBytes / 16;  // 105

// kXAhead (one row, cp.async staging): as the Q8_0 kernel's, each of a lane's two groups of a step
// loads its x for the next step while it computes this one. The staging already holds the kernel at
// four blocks an SM, so its extra registers are free up to 64 (the launch bound; 64, no spill). H100
// 8B Q4_K_M decode (Q6_K down in half the layers, lm_head) 398.8 / 398.3 / 391.5 -> 400.1 / 399.4 /
// 399.4 tok/s, alternated (bench/results/2026-11-28-h100-pdl-balance.md, call 8).
template <int kM, bool kAsync, bool kXAhead = false>
__global__ void __launch_bounds__(kWarps * 32, kXAhead ? 4 : 0)
    q6_k_gemv_kernel(const uint8_t* __restrict__ w, QuantizedX xq, void* __restrict__ out, DType out_dtype, int n,
                     int k, int warps_per_row, int ldo) {
  // + 1 vector: load_words_shared reads one word past a step's bytes
  __shared__ uint4 staged[kWarps][kAsync ? 2 : 1][kQ6KStagedVectors + 1];
  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const RowSlice slice = row_slice(warps_per_row);
  const int blocks = k / 256, groups = k / kGroup;
  const uint8_t* w_row = w + static_cast<size_t>(slice.row) * blocks * kQ6KBlockBytes;
  float acc[kM] = {};
  const int first = slice.row < n ? slice.part * kQ6KStagedBlocks : blocks;
  const int next_groups = kQ6KStagedBlocks * warps_per_row * 8;  // from a group to its next step's
  int4 next_x0[2] = {}, next_x1[2] = {};  // kXAhead: item i's next x, its scale, and whether loaded
  float next_scale[2] = {};
  bool have_next[2] = {};
  staged_steps<kAsync>(
      w_row, kQ6KBlockBytes, kQ6KStagedBlocks, first, kQ6KStagedBlocks * warps_per_row, blocks,
      reinterpret_cast<uint8_t*>(staged[warp]), (kQ6KStagedVectors + 1) * 16, lane,
      [&](const uint8_t* mine, int first_block, int count) {
        // Group `item` of the step (of 8 x 8); `i` is its index among the lane's two (x ahead only).
        const auto group_dot = [&](int item, [[maybe_unused]] int i) {
          const int local = item / 8, g = item % 8, half = g / 4, quarter = g % 4;
          const uint8_t* b = mine + local * kQ6KBlockBytes;
          uint32_t low_bits[8], high_bits[8];
          load_words_shared(b + 64 * half + 32 * (quarter % 2), low_bits);
          load_words_shared(b + 128 + 32 * half, high_bits);
          const unsigned short scale_pair = *reinterpret_cast<const unsigned short*>(b + 192 + 8 * half + 2 * quarter);
          const int scale_lo = static_cast<int8_t>(scale_pair & 0xFF), scale_hi = static_cast<int8_t>(scale_pair >> 8);
          const float d = __half2float(__ushort_as_half(*reinterpret_cast<const unsigned short*>(b + 208)));
          int q[8];
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            const uint32_t nibbles = (quarter < 2 ? low_bits[j] : low_bits[j] >> 4) & 0x0F0F0F0Fu;
            const uint32_t top = ((high_bits[j] >> (2 * quarter)) & 0x03030303u) << 4;
            q[j] = static_cast<int>(__vsub4(nibbles | top, 0x20202020u));
          }
          const int group = (first_block + local) * 8 + g;
          if constexpr (kXAhead) {
            static_assert(kM == 1, "x ahead: one row");
            int4 x0, x1;
            float x_scale;
            if (have_next[i]) {
              x0 = next_x0[i];
              x1 = next_x1[i];
              x_scale = next_scale[i];
            } else {
              x0 = reinterpret_cast<const int4*>(xq.q + group * kGroup)[0];
              x1 = reinterpret_cast<const int4*>(xq.q + group * kGroup)[1];
              x_scale = xq.scale[group];
            }
            const int next = group + next_groups;
            have_next[i] = next < groups;
            if (have_next[i]) {
              next_x0[i] = reinterpret_cast<const int4*>(xq.q + next * kGroup)[0];
              next_x1[i] = reinterpret_cast<const int4*>(xq.q + next * kGroup)[1];
              next_scale[i] = xq.scale[next];
            }
            const int dot_lo = dp4a_16(q, x0), dot_hi = dp4a_16(q + 4, x1);
            acc[0] = fmaf(d * x_scale, static_cast<float>(scale_lo * dot_lo + scale_hi * dot_hi), acc[0]);
          } else {
#pragma unroll
            for (int t = 0; t < kM; ++t) {
              const int4* x = reinterpret_cast<const int4*>(xq.q + static_cast<size_t>(t) * k + group * kGroup);
              const int4 x0 = x[0], x1 = x[1];
              const int dot_lo = dp4a_16(q, x0), dot_hi = dp4a_16(q + 4, x1);
              acc[t] = fmaf(d * xq.scale[t * groups + group], static_cast<float>(scale_lo * dot_lo + scale_hi * dot_hi),
                            acc[t]);
            }
          }
        };
        if constexpr (kXAhead) {
#pragma unroll
          for (int i = 0; i < 2; ++i) {
            if (lane + 32 * i < count * 8) group_dot(lane + 32 * i, i);
          }
        } else {
          for (int item = lane; item < count * 8; item += 32) group_dot(item, 0);
        }
      });
  store_row(acc, slice, warps_per_row, n, ldo, out, out_dtype);
}

// Q2_K and Q3_K: staged as Q6_K (8 super-blocks a step), each lane taking 32-value groups. Their
// 2-bit fields share one order (quant/dequantize_reference.cpp): group g = 4 h + s of a super-block
// (values 32 g .. 32 g + 31) is bits 2s..2s+1 of qs[32 h .. 32 h + 31], its first 16 values sub-block
// 2g, the rest 2g + 1. Q3_K (110 bytes: hmask[32], qs[64], scales[12], f16 d) adds bit g of
// hmask[0..31] as a third bit, q = bits - 4 (-4..3, an int8 for dp4a), with 6-bit signed scales.
// Q2_K (84 bytes: scales[16], qs[64], f16 d, f16 dmin): q = bits (0..3), value = d (sc & 15) q -
// dmin (sc >> 4), the min against x's 16-value sums (dp4a with ones).
constexpr int kQ2KBlockBytes = 84;
constexpr int kQ3KBlockBytes = 110;
constexpr int kQ23KStagedBlocks = 8;

// The sum of 16 int8 values (dp4a against ones).
__device__ __forceinline__ int sum_16(const int4& x) {
  constexpr int kOnes = 0x01010101;
  return __dp4a(x.w, kOnes, __dp4a(x.z, kOnes, __dp4a(x.y, kOnes, __dp4a(x.x, kOnes, 0))));
}

// Q3_K's scale of sub-block i (0..15) from its 12 packed bytes: low 4 bits from byte i (i < 8) or the
// high nibble of byte i - 8, high 2 bits from byte 8 + i % 4 at bit 2 (i / 4), stored + 32.
__device__ __forceinline__ int q3_k_scale(const uint8_t* packed, int i) {
  const int low = i < 8 ? packed[i] & 0xF : packed[i - 8] >> 4;
  const int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
  return (low | (high << 4)) - 32;
}

template <int kM, bool kAsync, bool kQ3>
__global__ void __launch_bounds__(kWarps * 32)
    q2_3_k_gemv_kernel(const uint8_t* __restrict__ w, QuantizedX xq, void* __restrict__ out, DType out_dtype, int n,
                       int k, int warps_per_row, int ldo) {
  constexpr int kBlockBytes = kQ3 ? kQ3KBlockBytes : kQ2KBlockBytes;
  constexpr int kQs = kQ3 ? 32 : 16;  // where qs starts in the block
  constexpr int kStagedVectors = kQ23KStagedBlocks * kBlockBytes / 16;
  // + 1 vector: load_words_shared reads one word past a step's bytes
  __shared__ uint4 staged[kWarps][kAsync ? 2 : 1][kStagedVectors + 1];
  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const RowSlice slice = row_slice(warps_per_row);
  const int blocks = k / 256, groups = k / kGroup;
  const uint8_t* w_row = w + static_cast<size_t>(slice.row) * blocks * kBlockBytes;
  float acc[kM] = {};
  const int first = slice.row < n ? slice.part * kQ23KStagedBlocks : blocks;
  staged_steps<kAsync>(
      w_row, kBlockBytes, kQ23KStagedBlocks, first, kQ23KStagedBlocks * warps_per_row, blocks,
      reinterpret_cast<uint8_t*>(staged[warp]), (kStagedVectors + 1) * 16, lane,
      [&](const uint8_t* mine, int first_block, int count) {
        for (int item = lane; item < count * 8; item += 32) {
          const int local = item / 8, g = item % 8, half = g / 4, shift = g % 4;
          const uint8_t* b = mine + local * kBlockBytes;
          uint32_t fields[8];
          load_words_shared(b + kQs + 32 * half, fields);
          int q[8];
          float d, dmin = 0.0f;
          int scale_lo, scale_hi, min_lo = 0, min_hi = 0;
          if constexpr (kQ3) {
            uint32_t third[8];
            load_words_shared(b, third);
#pragma unroll
            for (int j = 0; j < 8; ++j) {
              const uint32_t bits = ((fields[j] >> (2 * shift)) & 0x03030303u) | (((third[j] >> g) & 0x01010101u) << 2);
              q[j] = static_cast<int>(__vsub4(bits, 0x04040404u));
            }
            scale_lo = q3_k_scale(b + 96, 2 * g);
            scale_hi = q3_k_scale(b + 96, 2 * g + 1);
            d = __half2float(__ushort_as_half(*reinterpret_cast<const unsigned short*>(b + 108)));
          } else {
#pragma unroll
            for (int j = 0; j < 8; ++j) q[j] = static_cast<int>((fields[j] >> (2 * shift)) & 0x03030303u);
            const int packed_lo = b[2 * g], packed_hi = b[2 * g + 1];
            scale_lo = packed_lo & 0xF;
            scale_hi = packed_hi & 0xF;
            min_lo = packed_lo >> 4;
            min_hi = packed_hi >> 4;
            d = __half2float(__ushort_as_half(*reinterpret_cast<const unsigned short*>(b + 80)));
            dmin = __half2float(__ushort_as_half(*reinterpret_cast<const unsigned short*>(b + 82)));
          }
          const int group = (first_block + local) * 8 + g;
#pragma unroll
          for (int t = 0; t < kM; ++t) {
            const int4* x = reinterpret_cast<const int4*>(xq.q + static_cast<size_t>(t) * k + group * kGroup);
            const int4 x0 = x[0], x1 = x[1];
            const int dot = scale_lo * dp4a_16(q, x0) + scale_hi * dp4a_16(q + 4, x1);
            float total = d * static_cast<float>(dot);
            if constexpr (!kQ3) total -= dmin * static_cast<float>(min_lo * sum_16(x0) + min_hi * sum_16(x1));
            acc[t] = fmaf(xq.scale[t * groups + group], total, acc[t]);
          }
        }
      });
  store_row(acc, slice, warps_per_row, n, ldo, out, out_dtype);
}

// Warps a row's k is split over: doubled (to quant_gemv_max_warps_per_row) while the matrix has
// fewer than `kFill` warps of work and each warp keeps a step. On an H100 Q8_0 and Q6_K lose a few
// percent from splitting 4096-row matrices and gain at 1024 rows (k, v;
// bench/results/2026-11-27-h100-quant-gemv.md). Q4_K gained from 2 warps a row at 4096 rows (a fill
// of 8192) until the grids were spread by balanced residency: since, a 4096-row Q4_K GEMV is 512
// blocks at four an SM instead of 1,024 in 1.3 waves, and the 8B Q4_K_M decode 385 -> 395 tok/s
// (bench/results/2026-11-28-h100-pdl-balance.md).
constexpr size_t kFill = 4096;

int warps_per_row(size_t n, size_t steps, size_t fill) {
  int warps = 1;
  while (warps < quant_gemv_max_warps_per_row() && n * warps < fill && steps >= 2 * static_cast<size_t>(warps))
    warps *= 2;
  return warps;
}

bool is_legacy_block(DType type) {
  return type == DType::kQ8_0 || type == DType::kQ4_0 || type == DType::kQ4_1 || type == DType::kQ5_0 ||
         type == DType::kQ5_1;
}

const char* legacy_kernel_name(DType type) {
  switch (type) {
    case DType::kQ4_0: return "gemm_quant(q4_0 gemv)";
    case DType::kQ4_1: return "gemm_quant(q4_1 gemv)";
    case DType::kQ5_0: return "gemm_quant(q5_0 gemv)";
    case DType::kQ5_1: return "gemm_quant(q5_1 gemv)";
    default: return "gemm_quant(q8_0 gemv)";
  }
}

using GemvKernel = void (*)(const uint8_t*, QuantizedX, void*, DType, int, int, int, int);

template <int kM, LegacyBlock F>
GemvKernel legacy_kernel_of(bool async) {
  if constexpr (kM == 1 && F == LegacyBlock::kQ8_0) {
    if (async) return legacy_block_gemv_kernel<1, true, F, true>;
  }
  return async ? legacy_block_gemv_kernel<kM, true, F> : legacy_block_gemv_kernel<kM, false, F>;
}

template <int kM>
GemvKernel legacy_kernel(DType type, bool async) {
  switch (type) {
    case DType::kQ4_0: return legacy_kernel_of<kM, LegacyBlock::kQ4_0>(async);
    case DType::kQ4_1: return legacy_kernel_of<kM, LegacyBlock::kQ4_1>(async);
    case DType::kQ5_0: return legacy_kernel_of<kM, LegacyBlock::kQ5_0>(async);
    case DType::kQ5_1: return legacy_kernel_of<kM, LegacyBlock::kQ5_1>(async);
    default: return legacy_kernel_of<kM, LegacyBlock::kQ8_0>(async);
  }
}

// The kernel, its name, its grid and the warps a row's k is split over, for a launch of `a`.
struct RowsLaunch {
  GemvKernel kernel;
  const char* name;
  dim3 grid;
  int split;
};

template <int kM>
RowsLaunch plan_rows(const QuantGemvArgs& a) {
  // A step: 32 Q8_0 blocks, 8 Q6_K / Q3_K / Q2_K super-blocks (one staging each) or 4 Q4_K super-blocks.
  // Staging is asynchronous where every step is whole 16-byte vectors, except for 5..8 activation
  // rows of matrices of at most 4096 rows: there the kernel is bound by its arithmetic, and the
  // synchronous kernel's smaller footprint won (H100, 4096 x 14336 at 8 rows: Q8_0 53.7 against
  // 62.7 us, Q6_K 52.7 against 64.8); at 1 row async wins everywhere (Q8_0 gate_up 53.6 -> 47.2 us,
  // lm_head 212.8 -> 187.1), and on the large matrices at every row count.
  const bool async = quant_gemv_async_staging() && is_aligned(a.w, 16) && (kM <= 4 || a.n > 4096);
  GemvKernel kernel = q4_k_gemv_kernel<kM>;
  const char* name = "gemm_quant(q4_k gemv)";
  size_t steps = ceil_div(a.k / 256, 4);
  if (a.w_dtype == DType::kQ5_K) {
    kernel = q4_k_gemv_kernel<kM, true>;
    name = "gemm_quant(q5_k gemv)";
  } else if (is_legacy_block(a.w_dtype)) {
    // Every step whole 16-byte vectors when k % 256 == 0: 8 blocks of any of these sizes are.
    kernel = legacy_kernel<kM>(a.w_dtype, async && a.k % 256 == 0);
    name = legacy_kernel_name(a.w_dtype);
    steps = ceil_div(a.k / kGroup, kStagedBlocks);
  } else if (a.w_dtype == DType::kQ6_K) {
    if constexpr (kM == 1) {
      kernel = async && a.k % 2048 == 0 ? q6_k_gemv_kernel<1, true, true> : q6_k_gemv_kernel<1, false>;
    } else {
      kernel = async && a.k % 2048 == 0 ? q6_k_gemv_kernel<kM, true> : q6_k_gemv_kernel<kM, false>;
    }
    name = "gemm_quant(q6_k gemv)";
    steps = ceil_div(a.k / 256, kQ6KStagedBlocks);
  } else if (a.w_dtype == DType::kQ3_K || a.w_dtype == DType::kQ2_K) {
    const bool q3 = a.w_dtype == DType::kQ3_K;
    const bool staged_async = async && a.k % 2048 == 0;  // 8 super-blocks: whole 16-byte vectors
    kernel = q3 ? (staged_async ? q2_3_k_gemv_kernel<kM, true, true> : q2_3_k_gemv_kernel<kM, false, true>)
                : (staged_async ? q2_3_k_gemv_kernel<kM, true, false> : q2_3_k_gemv_kernel<kM, false, false>);
    name = q3 ? "gemm_quant(q3_k gemv)" : "gemm_quant(q2_k gemv)";
    steps = ceil_div(a.k / 256, kQ23KStagedBlocks);
  }
  const int split = warps_per_row(a.n, steps, quant_gemv_fill_override() != 0 ? quant_gemv_fill_override() : kFill);
  return {kernel, name, dim3(ceil_div(a.n, kWarps / split)), split};
}

template <int kM>
Status launch_rows(const QuantGemvArgs& a, const QuantizedX& xq, cudaStream_t stream) {
  const RowsLaunch launch = plan_rows<kM>(a);
  const int ldo = static_cast<int>(a.out_stride != 0 ? a.out_stride : a.n);
  return launch_kernel_balanced(launch.name, launch.kernel, launch.grid, dim3(kWarps * 32), a.sm_count, stream,
                                static_cast<const uint8_t*>(a.w), xq, a.out, a.out_dtype, static_cast<int>(a.n),
                                static_cast<int>(a.k), launch.split, ldo);
}

// f(std::integral_constant<int, m>{}) for the activation row count m (1..8).
template <class F>
auto with_rows(size_t m, F&& f) {
  switch (m) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    default: return f(std::integral_constant<int, 8>{});
  }
}

}  // namespace

bool quant_gemv_supports(DType w_dtype, size_t m, const void* w) {
  if (m == 0 || m > kQuantGemvMaxRows) return false;
  if (is_legacy_block(w_dtype) || w_dtype == DType::kQ6_K || w_dtype == DType::kQ3_K || w_dtype == DType::kQ2_K) {
    return is_aligned(w, 2);
  }
  if (w_dtype == DType::kQ4_K || w_dtype == DType::kQ5_K) return is_aligned(w, 16);
  return false;
}

size_t quant_gemv_scratch_bytes(size_t m, size_t k) {
  return rounded_rows_bytes(m, k);
}

Status launch_round_rows(const void* x, DType x_dtype, size_t m, size_t k, void* rounded, cudaStream_t stream) {
  if (m == 0 || k == 0) return ok();
  FERRUM_CHECK(k % kGroup == 0, ErrorCode::kInternal, "round rows: k = ", k, " is not a multiple of 32");
  FERRUM_CHECK(m * k < (size_t{1} << 31), ErrorCode::kUnsupported, "round rows: m * k = ", m * k,
               " exceeds the kernel's 31-bit indices");
  FERRUM_CHECK(is_aligned(rounded, 16), ErrorCode::kInternal, "round rows: the output is not 16-byte aligned");
  const QuantizedX xq = rounded_rows_layout(rounded, m, k);
  const int groups = static_cast<int>(m * k / kGroup);
  FERRUM_DISPATCH_FLOAT(x_dtype, A, "gemm_quant(x to int8)", {
    FERRUM_TRY(launch_kernel("gemm_quant(x to int8)", quantize_x_kernel<A>, dim3(ceil_div(groups, kWarps)),
                             dim3(kWarps * 32), 0, stream, static_cast<const A*>(x), xq, groups));
  });
  return ok();
}

Status launch_quant_gemv(const QuantGemvArgs& a, cudaStream_t stream) {
  if (a.m == 0 || a.n == 0) return ok();
  FERRUM_CHECK(quant_gemv_supports(a.w_dtype, a.m, a.w), ErrorCode::kInternal, "quant gemv: ", a.w_dtype,
               " with m = ", a.m, " has no fused kernel");
  const size_t block_elems = dtype_info(a.w_dtype).block_elems;
  FERRUM_CHECK(a.k > 0 && a.k % block_elems == 0, ErrorCode::kInternal, "quant gemv: k = ", a.k,
               " is not a whole number of ", a.w_dtype, " blocks");
  FERRUM_CHECK(a.n < (size_t{1} << 31) && a.m * a.k < (size_t{1} << 31), ErrorCode::kUnsupported,
               "quant gemv: n = ", a.n, ", m * k = ", a.m * a.k, " exceed the kernel's 31-bit indices");
  FERRUM_CHECK(is_aligned(a.scratch, 16), ErrorCode::kInternal, "quant gemv: scratch is not 16-byte aligned");
  FERRUM_CHECK(a.out_stride == 0 || (a.out_stride >= a.n && a.m * a.out_stride < (size_t{1} << 31)),
               ErrorCode::kInternal, "quant gemv: output stride ", a.out_stride, " for ", a.n, " columns");
  if (!a.x_rounded) FERRUM_TRY(launch_round_rows(a.x, a.x_dtype, a.m, a.k, a.scratch, stream));
  const QuantizedX xq = rounded_rows_layout(a.scratch, a.m, a.k);
  return with_rows(a.m, [&](auto rows) { return launch_rows<decltype(rows)::value>(a, xq, stream); });
}

QuantGemvResidency quant_gemv_residency(const QuantGemvArgs& a) {
  return with_rows(a.m, [&](auto rows) {
    const RowsLaunch launch = plan_rows<decltype(rows)::value>(a);
    const auto* kernel = reinterpret_cast<const void*>(launch.kernel);
    const size_t grid = launch.grid.x;
    const size_t pad = balanced_residency_pad(kernel, kWarps * 32, grid, a.sm_count);
    int blocks = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kWarps * 32, pad) != cudaSuccess) blocks = 0;
    return QuantGemvResidency{grid, blocks};
  });
}

}  // namespace ferrum::cuda
