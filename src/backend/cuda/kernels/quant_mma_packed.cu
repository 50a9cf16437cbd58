// The tensor-core GEMM (quant_mma_kernel.cuh) over GPTQ and AWQ weights as their checkpoints pack
// them (GPTQ's words tiled by 32 columns at load where n allows: GptqWordLayout, packed_int.cuh),
// and GPTQ's GEMV for one activation row (below). In the GEMM a thread decodes 32 consecutive k of
// one output column per task; consecutive threads take consecutive columns, so GPTQ's words
// ([k / per_word, n], a 32-column tile's 128 bytes a row either way), the scales and the zeros
// ([groups, n]) are read coalesced. AWQ ([k, n / 8]) reads one word per k, shared by eight neighbouring columns. 4-bit
// GPTQ with bf16 x (and AWQ repacked into it) takes the fragment kernels instead where their shapes allow
// (gptq_fragments_take, quant_mma_formats.cuh).
#include <type_traits>

#include "backend/cuda/kernels/launch_settings.h"
#include "backend/cuda/kernels/packed_int.cuh"
#include "backend/cuda/kernels/quant_mma_formats.cuh"
#include "backend/cuda/kernels/quant_mma_kernel.cuh"
#include "backend/cuda/kernels/rounded_rows.cuh"

namespace ferrum::cuda {
namespace {

using namespace quant_mma;  // NOLINT(google-build-using-namespace): the kernel's building blocks

template <bool kAwq, int kBits, class Scale, int kWarps>
struct PackedTiles {
  static constexpr int kThreads = kWarps * 32, kTileRows = kWarps * 16;
  struct Raw {};

  const int32_t* __restrict__ qweight;
  const Scale* __restrict__ scales;
  const int32_t* __restrict__ zeros;
  int group_size, n, k, row0;
  GptqWordLayout layout;

  __device__ __forceinline__ Raw fetch(int) const { return {}; }
  __device__ __forceinline__ void prefetch(int) const {}

  __device__ __forceinline__ void store(const Raw&, int slice, bf16_t* tile) const {
#pragma unroll
    for (int i = 0; i < kTileRows * kSliceGroups / kThreads; ++i) {
      const int task = threadIdx.x + i * kThreads;
      const int r = task % kTileRows, group = task / kTileRows;
      const int column = row0 + r, depth = slice * kSlice + group * 32;
      float v[32];
      if (column < n && depth < k) {
        decode(column, depth, v);
      } else {
#pragma unroll
        for (int j = 0; j < 32; ++j) v[j] = 0.0f;
      }
      store_group(v, tile + r * kPitch + group * 32);
    }
  }

  __device__ __forceinline__ void decode(int column, int depth, float (&v)[32]) const {
    decode_packed_group<kAwq, kBits>(qweight, scales, zeros, group_size, n, column, depth, v, layout);
  }
};

template <bool kAwq, int kBits, class Scale>
Status launch_packed(const QuantMmaArgs& args, const PackedIntWeight& packed, const SplitPlan& plan,
                     cudaStream_t stream) {
  const auto tiles_for = [&]<int kWarps>() {
    return PackedTiles<kAwq, kBits, Scale, kWarps>{packed.qweight,
                                                   static_cast<const Scale*>(packed.scales),
                                                   packed.zeros,
                                                   static_cast<int>(packed.group_size),
                                                   static_cast<int>(args.n),
                                                   static_cast<int>(args.k),
                                                   0,
                                                   GptqWordLayout::of(packed)};
  };
  if (plan.tokens == kSmallTokens && plan.warps == 4) {
    return launch_mma_tiles<PackedTiles<kAwq, kBits, Scale, 4>, kSmallTokens, 4>(
        args, tiles_for.template operator()<4>(), plan, stream);
  }
  FERRUM_CHECK(plan.tokens == kLargeTokens && plan.warps == 8, ErrorCode::kUnsupported,
               "quant_mma (GPTQ / AWQ): ", plan.warps, " warps with ", plan.tokens, " tokens is not built");
  return launch_mma_tiles<PackedTiles<kAwq, kBits, Scale, 8>, kLargeTokens, 8>(args, tiles_for.template operator()<8>(),
                                                                               plan, stream);
}

template <class Scale>
Status launch_bits(const QuantMmaArgs& args, const PackedIntWeight& packed, bool awq, const SplitPlan& plan,
                   cudaStream_t stream) {
  if (awq) return launch_packed<true, 4, Scale>(args, packed, plan, stream);
  switch (packed.bits) {
    case 2: return launch_packed<false, 2, Scale>(args, packed, plan, stream);
    case 4: return launch_packed<false, 4, Scale>(args, packed, plan, stream);
    default: return launch_packed<false, 8, Scale>(args, packed, plan, stream);
  }
}

// ── One activation row: GEMVs over the packed words ──

constexpr int kGemvWarps = 4;
constexpr int kGemvColumns = 128;     // GPTQ: 4 per lane, one 16-byte load covers a word-row of 4 columns
constexpr int kAwqGemvColumns = 256;  // AWQ: 8 per lane, one 4-byte word (a k row of 8 columns)

struct GemvPlan {
  unsigned column_tiles = 0;
  int splits = 1, chunks_per_split = 1;  // chunks: 32 k values
};

GemvPlan plan_gemv(size_t n, size_t k, int num_sms, int tile_columns) {
  GemvPlan plan;
  plan.column_tiles = ceil_div(n, tile_columns);
  const int chunks = static_cast<int>(k / 32);
  // Four blocks of four warps per SM (packed_gemv_blocks_per_sm); each warp keeps at least one chunk.
  const size_t wanted = static_cast<size_t>(packed_gemv_blocks_per_sm()) * std::max(num_sms, 1);
  int splits = static_cast<int>((wanted + plan.column_tiles - 1) / plan.column_tiles);
  splits = std::clamp(splits, 1, std::max(1, chunks / kGemvWarps));
  plan.chunks_per_split = (chunks + splits - 1) / splits;
  plan.splits = (chunks + plan.chunks_per_split - 1) / plan.chunks_per_split;
  return plan;
}

// The GEMVs' end: lane l's kPerLane column sums of each warp, added over the warps in a fixed order.
// Without a k split they go straight to out. With one, each block writes its split's sums to the
// partials, and the last block of the column tile to finish (a counter in global memory, which that
// block resets) adds every split's in split order and writes out, so there is no second launch and
// the result does not depend on which block finished last.
template <int kPerLane>
__device__ __forceinline__ void write_column_sums(float (&warp_sums)[kGemvWarps][kPerLane * 32],
                                                  const float (&total)[kPerLane], int n, float* partials, int* counters,
                                                  void* out, DType out_dtype) {
  constexpr int kColumns = kPerLane * 32;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __shared__ bool is_last_block;
#pragma unroll
  for (int c = 0; c < kPerLane; ++c) warp_sums[warp][kPerLane * lane + c] = total[c];
  __syncthreads();
  for (int i = threadIdx.x; i < kColumns; i += kGemvWarps * 32) {
    const int column = blockIdx.x * kColumns + i;
    if (column >= n) continue;
    float sum = 0.0f;
#pragma unroll
    for (int v = 0; v < kGemvWarps; ++v) sum += warp_sums[v][i];
    if (partials != nullptr) {
      partials[static_cast<size_t>(blockIdx.y) * n + column] = sum;
    } else {
      store_value(out, out_dtype, column, sum);
    }
  }
  if (partials == nullptr) return;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) is_last_block = atomicAdd(counters + blockIdx.x, 1) == static_cast<int>(gridDim.y) - 1;
  __syncthreads();
  if (!is_last_block) return;
  __threadfence();
  for (int i = threadIdx.x; i < kColumns; i += kGemvWarps * 32) {
    const int column = blockIdx.x * kColumns + i;
    if (column >= n) continue;
    float sum = 0.0f;
    for (unsigned split = 0; split < gridDim.y; ++split)
      sum += __ldcg(partials + static_cast<size_t>(split) * n + column);
    store_value(out, out_dtype, column, sum);
  }
  if (threadIdx.x == 0) counters[blockIdx.x] = 0;  // ready for the next launch (graph replays reuse it)
}

// Block (column tile, k split). Lane l owns columns 4l..4l+3 of the tile; warp w takes chunks w,
// w + 4, ... of the split. A lane issues its chunk's word-row loads (16 bytes each) together, then
// sums (q - zero) x per column in f32 and scales the chunk's sum once.
template <int kBits, class Scale, class X>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gptq_gemv_kernel(PackedIntWeight w, const Scale* __restrict__ scales, const X* __restrict__ x,
                     float* __restrict__ partials, int* __restrict__ counters, void* __restrict__ out, DType out_dtype,
                     int chunks_per_split) {
  constexpr int kPerWord = 32 / kBits, kRows = 32 / kPerWord;
  constexpr uint32_t kMask = (1u << kBits) - 1;
  __shared__ float warp_sums[kGemvWarps][kGemvColumns];
  pdl_launch_dependents();
  pdl_wait();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int n = static_cast<int>(w.n), column0 = blockIdx.x * kGemvColumns + 4 * lane;
  const int chunks = static_cast<int>(w.k / 32);
  const GptqWordLayout layout = GptqWordLayout::of(w);
  const int chunk_end = min((static_cast<int>(blockIdx.y) + 1) * chunks_per_split, chunks);
  float total[4] = {};
  if (column0 < n) {
    for (int chunk = blockIdx.y * chunks_per_split + warp; chunk < chunk_end; chunk += kGemvWarps) {
      const int k0 = chunk * 32;
      uint4 words[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        words[r] = *reinterpret_cast<const uint4*>(w.qweight + layout.at(k0 / kPerWord + r, column0));
      }
      float xs[32];
#pragma unroll
      for (int i = 0; i < 32; i += 8) load8(x + k0 + i, *reinterpret_cast<float(*)[8]>(xs + i));
      const size_t g = static_cast<size_t>(k0) / w.group_size;
      const uint32_t zero_word = static_cast<uint32_t>(w.zeros[g * (n / kPerWord) + column0 / kPerWord]);
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        // GPTQ v1 checkpoints store each zero minus one.
        const float zero = static_cast<float>(((zero_word >> (kBits * ((column0 + c) % kPerWord))) & kMask) + 1);
        float dot = 0.0f;
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          const uint32_t word = c == 0 ? words[r].x : c == 1 ? words[r].y : c == 2 ? words[r].z : words[r].w;
#pragma unroll
          for (int e = 0; e < kPerWord; ++e) {
            dot = fmaf(small_int_to_float((word >> (kBits * e)) & kMask) - zero, xs[r * kPerWord + e], dot);
          }
        }
        total[c] = fmaf(to_f32(scales[g * n + column0 + c]), dot, total[c]);
      }
    }
  }
  write_column_sums<4>(warp_sums, total, n, partials, counters, out, out_dtype);
}

// A chunk's x (32 int8) regrouped as a word's nibbles are laid out (low nibbles the even k, high
// ones the odd), then each of a lane's four columns' integer dot product over the chunk, and its
// contribution x_scale * dot - zero * x_sum, times the column's scale, added to total.
struct Gptq4Dots {
  int x_even[4], x_odd[4];

  __device__ __forceinline__ Gptq4Dots(const int4& x_lo, const int4& x_hi) {
    const int x_words[8] = {x_lo.x, x_lo.y, x_lo.z, x_lo.w, x_hi.x, x_hi.y, x_hi.z, x_hi.w};
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      x_even[r] = static_cast<int>(__byte_perm(x_words[2 * r], x_words[2 * r + 1], 0x6420));
      x_odd[r] = static_cast<int>(__byte_perm(x_words[2 * r], x_words[2 * r + 1], 0x7531));
    }
  }

  // scale_of(c): column0 + c's scale. GPTQ v1 checkpoints store each zero minus one.
  template <class ScaleOf>
  __device__ __forceinline__ void add(const uint4 (&words)[4], uint32_t zero_word, int column0, float x_scale,
                                      float x_sum, const ScaleOf& scale_of, float (&total)[4]) const {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const float zero = static_cast<float>(((zero_word >> (4 * ((column0 + c) % 8))) & 0xF) + 1);
      int dot = 0;
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const uint32_t word = c == 0 ? words[r].x : c == 1 ? words[r].y : c == 2 ? words[r].z : words[r].w;
        dot = __dp4a(static_cast<int>(word & 0x0F0F0F0Fu), x_even[r], dot);
        dot = __dp4a(static_cast<int>((word >> 4) & 0x0F0F0F0Fu), x_odd[r], dot);
      }
      total[c] = fmaf(scale_of(c), x_scale * static_cast<float>(dot) - zero * x_sum, total[c]);
    }
  }
};

// One 32-deep chunk of the 4-bit GPTQ GEMV on int8 x for a lane's four columns (see the kernel
// below), for its 16-column shape: the chunk's four word rows, loaded a step ahead by load; x, the
// scales and the zero are read in multiply (the 32-column shapes take Gptq4ChunkAhead, below).
struct Gptq4Chunk {
  uint4 words[4];  // word-rows k0 / 8 .. k0 / 8 + 3, each 8 k of the lane's 4 columns

  __device__ __forceinline__ void load(const int32_t* __restrict__ qweight, const GptqWordLayout& layout, int column0,
                                       int chunk) {
    const int32_t* first = qweight + layout.at(static_cast<size_t>(chunk) * 4, column0);
    const size_t stride = layout.row_stride();
#pragma unroll
    for (int r = 0; r < 4; ++r) words[r] = *reinterpret_cast<const uint4*>(first + r * stride);
  }

  template <class Scale>
  __device__ __forceinline__ void multiply(const PackedIntWeight& w, const Scale* __restrict__ scales,
                                           const QuantizedX& xq, int n, int column0, int chunk,
                                           float (&total)[4]) const {
    const int k0 = chunk * 32;
    const Gptq4Dots dots(*reinterpret_cast<const int4*>(xq.q + k0), *reinterpret_cast<const int4*>(xq.q + k0 + 16));
    const size_t g = static_cast<size_t>(k0) / w.group_size;
    const uint32_t zero_word = static_cast<uint32_t>(w.zeros[g * (n / 8) + column0 / 8]);
    dots.add(
        words, zero_word, column0, xq.scale[chunk], xq.sum[chunk],
        [&](int c) { return to_f32(scales[g * n + column0 + c]); }, total);
  }
};

// Four consecutive scales of a group (column0 a multiple of 4): one 8- or 16-byte load.
template <class Scale>
struct ScaleQuad {
  using Raw = std::conditional_t<sizeof(Scale) == 4, float4, uint2>;
  Raw raw;
  __device__ __forceinline__ void load(const Scale* p) { raw = *reinterpret_cast<const Raw*>(p); }
  __device__ __forceinline__ float get(int c) const {
    if constexpr (sizeof(Scale) == 4) {
      return c == 0 ? raw.x : c == 1 ? raw.y : c == 2 ? raw.z : raw.w;
    } else {
      const uint32_t word = c < 2 ? raw.x : raw.y;
      Scale value;
      const uint16_t bits = static_cast<uint16_t>(c % 2 == 0 ? word : word >> 16);
      memcpy(&value, &bits, 2);
      return to_f32(value);
    }
  }
};

// A chunk of the 32-column shapes: every input (words, the four scales, the zero word, x's 32 bytes
// with their scale and sum) is loaded by load_* a step ahead of multiply, so nothing waits on a load
// issued in the step that uses it (Nsight Compute had a third of the stalls on x's load). 100
// registers; gate / up 23.94 -> 22.94 us, q / k / v 6.50 -> 6.21, the 8B GPTQ decode +1.3%, AWQ +1.9%
// (bench/results/2026-11-28-h100-gptq-tiles.md, call 7). The 16-column shape keeps Gptq4Chunk: at
// 100 registers it fits 2 blocks an SM instead of 3, and o / down lost more than the rest gained.
template <class Scale>
struct Gptq4ChunkAhead {
  Gptq4Chunk weights;  // its words
  int4 x_lo, x_hi;
  float x_scale, x_sum;
  ScaleQuad<Scale> scale;
  uint32_t zero_word;

  __device__ __forceinline__ void load_weights(const PackedIntWeight& w, const Scale* __restrict__ scales,
                                               const GptqWordLayout& layout, int n, int column0, int chunk) {
    weights.load(w.qweight, layout, column0, chunk);
    const size_t g = static_cast<size_t>(chunk) * 32 / w.group_size;
    scale.load(scales + g * n + column0);
    zero_word = static_cast<uint32_t>(w.zeros[g * (n / 8) + column0 / 8]);
  }
  __device__ __forceinline__ void load_x(const QuantizedX& xq, int chunk) {
    x_lo = *reinterpret_cast<const int4*>(xq.q + chunk * 32);
    x_hi = *reinterpret_cast<const int4*>(xq.q + chunk * 32 + 16);
    x_scale = xq.scale[chunk];
    x_sum = xq.sum[chunk];
  }
  __device__ __forceinline__ void multiply(int column0, float (&total)[4]) const {
    Gptq4Dots(x_lo, x_hi)
        .add(
            weights.words, zero_word, column0, x_scale, x_sum, [&](int c) { return scale.get(c); }, total);
  }
};

// GPTQ 4-bit with x rounded to int8 per 32 values (rounded_rows.cuh), as the GGUF GEMV does: the
// float kernel above spends a shift, a mask, a conversion and an FMA per weight and is bound by
// them (the 8B decode at 33% of the bandwidth). Here a word's eight nibbles become two dp4a: its
// low nibbles (word & 0x0F0F0F0F) are k0, k0 + 2, k0 + 4, k0 + 6 and its high ones the odd k, so x's
// bytes are regrouped the same way once per chunk (__byte_perm) and serve the lane's four columns.
// The zero comes out of the dot product: sum (q - z) x = x_scale * dot(q, xq) - z * x_sum.
//
// No k split across blocks: a block owns 4 kColumnLanes columns and all of k, its warps and lanes
// split k among themselves and add their sums in the block, in a fixed order (shuffles, then shared
// memory). Lane l owns columns 4 (l % kColumnLanes) .. + 3 of the tile and chunk lane
// l / kColumnLanes: with c = 32 / kColumnLanes chunk lanes a warp, warp w takes chunks
// c w + l / kColumnLanes + c kWarps i, so each 16-byte load instruction of a warp reads c word-rows
// of 16 kColumnLanes bytes. The split-k shape this replaced (128 columns a block, k over 17 blocks,
// partials added by the last block through a fence and a counter) spent ~2-3 us a launch on that
// hand-off (bench/results/2026-11-28-h100-gptq-inblock.md).
// A warp multiplies one chunk while its next chunk's loads are in flight; the first chunk's weight
// loads go before the wait (no earlier kernel writes weights), x's after it. Two chunks per step (4
// KB in flight, 122 registers) measured 2-17% slower (bench/results/2026-11-27-h100-gptq-decode.md);
// staging them in shared memory by cp.async three chunks deep (64 registers, 8 blocks an SM) 2%
// slower than this.
template <class Scale, int kWarps, int kColumnLanes>
__global__ void __launch_bounds__(kWarps * 32)
    gptq4_gemv_int8_kernel(PackedIntWeight w, const Scale* __restrict__ scales, QuantizedX xq, void* __restrict__ out,
                           DType out_dtype) {
  constexpr int kChunkLanes = 32 / kColumnLanes, kColumns = 4 * kColumnLanes;
  constexpr int kStride = kChunkLanes * kWarps;  // chunks a block takes per step
  constexpr bool kAhead = kColumnLanes == 8;     // Gptq4ChunkAhead: x and scales loaded ahead too
  __shared__ float warp_sums[kWarps][kColumns];
  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int n = static_cast<int>(w.n), column0 = blockIdx.x * kColumns + 4 * (lane % kColumnLanes);
  const int chunks = static_cast<int>(w.k / 32);
  const bool active = column0 < n;
  float total[4] = {};
  int chunk = warp * kChunkLanes + lane / kColumnLanes;
  const GptqWordLayout layout = GptqWordLayout::of(w);
  if constexpr (kAhead) {
    Gptq4ChunkAhead<Scale> current, next;
    if (active && chunk < chunks) current.load_weights(w, scales, layout, n, column0, chunk);
    pdl_wait();
    if (active && chunk < chunks) current.load_x(xq, chunk);
    if (active) {
      for (; chunk < chunks; chunk += kStride) {
        if (chunk + kStride < chunks) {
          next.load_weights(w, scales, layout, n, column0, chunk + kStride);
          next.load_x(xq, chunk + kStride);
        }
        current.multiply(column0, total);
        current = next;
      }
    }
  } else {
    Gptq4Chunk current, next;
    if (active && chunk < chunks) current.load(w.qweight, layout, column0, chunk);
    pdl_wait();
    if (active) {
      for (; chunk < chunks; chunk += kStride) {
        if (chunk + kStride < chunks) next.load(w.qweight, layout, column0, chunk + kStride);
        current.multiply(w, scales, xq, n, column0, chunk, total);
        current = next;
      }
    }
  }
#pragma unroll
  for (int offset = kColumnLanes; offset < 32; offset *= 2) {
#pragma unroll
    for (int c = 0; c < 4; ++c) total[c] += __shfl_xor_sync(0xFFFFFFFFu, total[c], offset);
  }
  if (lane < kColumnLanes) {
#pragma unroll
    for (int c = 0; c < 4; ++c) warp_sums[warp][4 * lane + c] = total[c];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < kColumns; i += kWarps * 32) {
    const int column = blockIdx.x * kColumns + i;
    if (column >= n) continue;
    float sum = 0.0f;
#pragma unroll
    for (int v = 0; v < kWarps; ++v) sum += warp_sums[v][i];
    store_value(out, out_dtype, column, sum);
  }
}

// AWQ ([k, n / 8] words, columns interleaved in a word): lane l owns the 8 columns of word l of the
// tile, one coalesced 4-byte load per k; chunks of 32 k as in the GPTQ GEMV.
template <class Scale, class X>
__global__ void __launch_bounds__(kGemvWarps * 32)
    awq_gemv_kernel(PackedIntWeight w, const Scale* __restrict__ scales, const X* __restrict__ x,
                    float* __restrict__ partials, int* __restrict__ counters, void* __restrict__ out, DType out_dtype,
                    int chunks_per_split) {
  __shared__ float warp_sums[kGemvWarps][kAwqGemvColumns];
  pdl_launch_dependents();
  pdl_wait();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int n = static_cast<int>(w.n), column0 = blockIdx.x * kAwqGemvColumns + 8 * lane;
  const int chunks = static_cast<int>(w.k / 32);
  const int chunk_end = min((static_cast<int>(blockIdx.y) + 1) * chunks_per_split, chunks);
  float total[8] = {};
  if (column0 < n) {
    const int32_t* words = w.qweight + column0 / 8;
    for (int chunk = blockIdx.y * chunks_per_split + warp; chunk < chunk_end; chunk += kGemvWarps) {
      const int k0 = chunk * 32;
      uint32_t rows[32];
#pragma unroll
      for (int e = 0; e < 32; ++e) rows[e] = static_cast<uint32_t>(words[static_cast<size_t>(k0 + e) * (n / 8)]);
      float xs[32];
#pragma unroll
      for (int i = 0; i < 32; i += 8) load8(x + k0 + i, *reinterpret_cast<float(*)[8]>(xs + i));
      const size_t g = static_cast<size_t>(k0) / w.group_size;
      const uint32_t zero_word = static_cast<uint32_t>(w.zeros[g * (n / 8) + column0 / 8]);
#pragma unroll
      for (int c = 0; c < 8; ++c) {
        const uint32_t shift = awq_shift(static_cast<uint32_t>(c));
        const float zero = static_cast<float>((zero_word >> shift) & 0xF);
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < 32; ++e) dot = fmaf(small_int_to_float((rows[e] >> shift) & 0xF) - zero, xs[e], dot);
        total[c] = fmaf(to_f32(scales[g * n + column0 + c]), dot, total[c]);
      }
    }
  }
  write_column_sums<8>(warp_sums, total, n, partials, counters, out, out_dtype);
}

template <bool kAwq, int kBits, class Scale, class X>
Status launch_gemv(const QuantMmaArgs& args, const PackedIntWeight& packed, const GemvPlan& plan, float* partials,
                   int* counters, cudaStream_t stream) {
  const dim3 grid(plan.column_tiles, plan.splits), block(kGemvWarps * 32);
  const auto* scales = static_cast<const Scale*>(packed.scales);
  const auto* x = static_cast<const X*>(args.x);
  if constexpr (kAwq) {
    return launch_kernel_balanced("gemm_quant(awq gemv)", awq_gemv_kernel<Scale, X>, grid, block, args.num_sms, stream,
                                  packed, scales, x, partials, counters, args.out, args.out_dtype,
                                  plan.chunks_per_split);
  } else {
    return launch_kernel_balanced("gemm_quant(gptq gemv)", gptq_gemv_kernel<kBits, Scale, X>, grid, block, args.num_sms,
                                  stream, packed, scales, x, partials, counters, args.out, args.out_dtype,
                                  plan.chunks_per_split);
  }
}

// Whether a GPTQ weight takes gptq4_gemv_int8_kernel (4-bit, FERRUM_CUDA_GPTQ_INT8_X not 0).
bool takes_int8_x(const PackedIntWeight& packed, bool awq) {
  return !awq && packed.bits == 4 && gptq_gemv_int8_x();
}

size_t partials_bytes(const GemvPlan& plan, size_t n) {
  return plan.splits > 1 ? align16(static_cast<size_t>(plan.splits) * n * sizeof(float)) : 0;
}

// The int8-x GPTQ GEMV's block: 8 warps over 16 columns (4 lanes across them) where 32-column tiles
// would not give every SM a block, 8 warps over 32 columns up to two such blocks an SM, else 4 warps
// over 32. H100, 8B decode, us a launch (the split-k kernel's in
// brackets): q / k / v 6144 columns 7.4 (9.4), gate / up 28672 25.0 (25.1), o / down 4096 at 32
// columns x 16 warps 8.8 (10.5); 16 x 8 made the decode 0.9% faster still: the one 512-thread block
// an SM of 32 x 16 slowed the small kernels launched beside it.
struct Gptq4Shape {
  int warps, column_lanes;
};

Gptq4Shape gptq4_gemv_shape(size_t n, int num_sms) {
  const size_t tiles = ceil_div(n, size_t{32}), sms = static_cast<size_t>(std::max(num_sms, 1));
  if (tiles <= sms) return {8, 4};
  return tiles <= 2 * sms ? Gptq4Shape{8, 8} : Gptq4Shape{4, 8};
}

template <class Scale, int kWarps, int kColumnLanes>
Status launch_gptq4_gemv(const PackedIntWeight& packed, const Scale* scales, const QuantizedX& xq,
                         const QuantMmaArgs& args, cudaStream_t stream) {
  const dim3 grid(ceil_div(packed.n, size_t{4 * kColumnLanes})), block(kWarps * 32);
  return launch_kernel_balanced("gemm_quant(gptq gemv, int8 x)", gptq4_gemv_int8_kernel<Scale, kWarps, kColumnLanes>,
                                grid, block, args.num_sms, stream, packed, scales, xq, args.out, args.out_dtype);
}

template <class Scale>
Status launch_gemv_int8_x(const QuantMmaArgs& args, const PackedIntWeight& packed, void* rounding,
                          cudaStream_t stream) {
  const void* rounded = args.x_rounded;
  if (rounded == nullptr) {
    FERRUM_TRY(launch_round_rows(args.x, args.x_dtype, 1, packed.k, rounding, stream));
    rounded = rounding;
  }
  const QuantizedX xq = rounded_rows_layout(const_cast<void*>(rounded), 1, packed.k);  // read only
  const auto* scales = static_cast<const Scale*>(packed.scales);
  const Gptq4Shape shape = gptq4_gemv_shape(packed.n, args.num_sms);
  if (shape.column_lanes == 4) return launch_gptq4_gemv<Scale, 8, 4>(packed, scales, xq, args, stream);
  if (shape.warps == 8) return launch_gptq4_gemv<Scale, 8, 8>(packed, scales, xq, args, stream);
  return launch_gptq4_gemv<Scale, 4, 8>(packed, scales, xq, args, stream);
}

template <class Scale, class X>
Status launch_gemv_bits(const QuantMmaArgs& args, const PackedIntWeight& packed, bool awq, const GemvPlan& plan,
                        float* partials, int* counters, cudaStream_t stream) {
  if (awq) return launch_gemv<true, 4, Scale, X>(args, packed, plan, partials, counters, stream);
  return packed.bits == 4 ? launch_gemv<false, 4, Scale, X>(args, packed, plan, partials, counters, stream)
                          : launch_gemv<false, 8, Scale, X>(args, packed, plan, partials, counters, stream);
}

int gemv_tile_columns(bool awq) {
  return awq ? kAwqGemvColumns : kGemvColumns;
}

}  // namespace

bool packed_gemv_supports(const PackedIntWeight& packed, bool awq, DType x_dtype, const void* x) {
  const bool scales_ok =
      packed.scales_dtype == DType::kF32 || packed.scales_dtype == DType::kF16 || packed.scales_dtype == DType::kBF16;
  const bool bits_ok = awq ? packed.bits == 4 : packed.bits == 4 || packed.bits == 8;
  return bits_ok && scales_ok && packed.g_idx == nullptr && packed.group_size > 0 && packed.group_size % 32 == 0 &&
         packed.n % 8 == 0 && is_aligned(packed.qweight, 16) &&
         quant_mma::takes_shape(x_dtype, x, 1, packed.n, packed.k);
}

size_t packed_gemv_scratch_bytes(const PackedIntWeight& packed, bool awq, int num_sms, bool x_rounded) {
  if (takes_int8_x(packed, awq)) return x_rounded ? 0 : rounded_rows_bytes(1, packed.k);
  return partials_bytes(plan_gemv(packed.n, packed.k, num_sms, gemv_tile_columns(awq)), packed.n);
}

Status launch_packed_gemv(const QuantMmaArgs& args, const PackedIntWeight& packed, bool awq, cudaStream_t stream,
                          int* counters) {
  FERRUM_CHECK(args.m == 1 && args.n == packed.n && args.k == packed.k &&
                   packed_gemv_supports(packed, awq, args.x_dtype, args.x),
               ErrorCode::kInternal, "packed gemv: this weight or x has no GEMV");
  const bool x_rounded = args.x_rounded != nullptr;
  FERRUM_CHECK(packed_gemv_scratch_bytes(packed, awq, args.num_sms, x_rounded) == 0 || is_aligned(args.scratch, 16),
               ErrorCode::kInvalidArgument, "packed gemv: a split-k launch or int8 x needs its scratch");
  if (takes_int8_x(packed, awq)) {
    void* rounding = x_rounded ? nullptr : args.scratch;
    FERRUM_DISPATCH_FLOAT(packed.scales_dtype, Scale, "packed gemv (scales)",
                          FERRUM_TRY(launch_gemv_int8_x<Scale>(args, packed, rounding, stream)));
    return ok();
  }
  const GemvPlan plan = plan_gemv(packed.n, packed.k, args.num_sms, gemv_tile_columns(awq));
  FERRUM_CHECK(plan.splits == 1 || (counters != nullptr && plan.column_tiles <= kPackedGemvCounters),
               ErrorCode::kInvalidArgument, "packed gemv: a split-k launch over ", plan.column_tiles,
               " column tiles needs as many counters (at most ", kPackedGemvCounters, ")");
  float* partials = plan.splits > 1 ? static_cast<float*>(args.scratch) : nullptr;
  FERRUM_DISPATCH_FLOAT(packed.scales_dtype, Scale, "packed gemv (scales)", {
    if (args.x_dtype == DType::kBF16) {
      FERRUM_TRY((launch_gemv_bits<Scale, bf16_t>(args, packed, awq, plan, partials, counters, stream)));
    } else {
      FERRUM_TRY((launch_gemv_bits<Scale, float>(args, packed, awq, plan, partials, counters, stream)));
    }
  });
  return ok();
}

bool quant_mma_supports_packed(const PackedIntWeight& packed, bool awq, DType x_dtype, const void* x, size_t m) {
  if (awq && !awq_mma_enabled()) return false;
  const bool bits_ok = awq ? packed.bits == 4 : packed.bits == 2 || packed.bits == 4 || packed.bits == 8;
  const bool scales_ok =
      packed.scales_dtype == DType::kF32 || packed.scales_dtype == DType::kF16 || packed.scales_dtype == DType::kBF16;
  return bits_ok && scales_ok && packed.g_idx == nullptr && packed.group_size > 0 && packed.group_size % 32 == 0 &&
         packed.n % 8 == 0 && quant_mma::takes_shape(x_dtype, x, m, packed.n, packed.k);
}

Status launch_quant_mma_packed(const QuantMmaArgs& args, const PackedIntWeight& packed, bool awq, cudaStream_t stream) {
  FERRUM_CHECK(
      quant_mma_supports_packed(packed, awq, args.x_dtype, args.x, args.m) && args.n == packed.n && args.k == packed.k,
      ErrorCode::kInternal, "quant_mma: this GPTQ / AWQ weight has no tensor-core path");
  if (!awq && gptq_fragments_take(args, packed)) return launch_gptq_fragments(args, packed, stream);
  SplitPlan plan = plan_split(args.m, args.n, args.k, args.num_sms, 0);
  FERRUM_TRY(check_split_scratch(args, plan));
  FERRUM_DISPATCH_FLOAT(packed.scales_dtype, Scale, "quant_mma (scales)",
                        FERRUM_TRY(launch_bits<Scale>(args, packed, awq, plan, stream)));
  return finish_split(args, plan, stream);
}

}  // namespace ferrum::cuda
