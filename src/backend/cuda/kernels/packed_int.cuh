// GPTQ / AWQ packing details shared by the dequantizer (dequant.cu) and the tensor-core GEMM
// (quant_mma_packed.cu), and where GPTQ's words are stored.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cuda/kernels/dequant.h"
#include "backend/cuda/kernels/device_common.cuh"

namespace ferrum::cuda {

// Where word (row, column) of a GPTQ weight's [k / per_word, n] words is stored: row-major, or
// tiled (PackedIntWeight::tiled): 32-column tiles, each tile's rows one contiguous run of 128-byte
// rows. The decode GEMV's blocks own 16 or 32 columns and all of k, so tiled they stream one run
// instead of 128 bytes every n words (8B decode 2-3% faster, bench/results/2026-11-28-h100-gptq-tiles.md).
// Four consecutive columns from a multiple of 4 stay one 16-byte vector either way.
struct GptqWordLayout {
  size_t n = 0, rows = 0;
  bool tiled = false;

  __host__ __device__ static GptqWordLayout of(const PackedIntWeight& w) { return {w.n, w.k * w.bits / 32, w.tiled}; }
  __device__ __forceinline__ size_t at(size_t row, size_t column) const {
    if (!tiled) return row * n + column;
    return ((column / kGptqTileColumns) * rows + row) * kGptqTileColumns + column % kGptqTileColumns;
  }
  // From a row's word to the next row's, same column.
  __device__ __forceinline__ size_t row_stride() const { return tiled ? kGptqTileColumns : n; }
};

// AWQ packs columns 8c..8c+7 of a word in the order 0, 2, 4, 6, 1, 3, 5, 7: column n sits in nibble
// (n % 2) * 4 + (n % 8) / 2. The bit offset of column n's nibble in its word:
__device__ __forceinline__ uint32_t awq_shift(uint32_t column) {
  const uint32_t position = column % 8;
  return 4 * ((position % 2) * 4 + position / 2);
}

// W[column, depth .. depth + 31] = (q - zero) * scale of a GPTQ ([k / per_word, n] words, zeros stored
// minus one) or AWQ ([k, n / 8] interleaved) weight, all 32 values in one quantization group
// (group_size a multiple of 32, no g_idx).
// `layout`: GPTQ's words (unused for AWQ).
template <bool kAwq, int kBits, class Scale>
__device__ __forceinline__ void decode_packed_group(const int32_t* __restrict__ qweight,
                                                    const Scale* __restrict__ scales, const int32_t* __restrict__ zeros,
                                                    int group_size, int n, int column, int depth, float (&v)[32],
                                                    const GptqWordLayout& layout) {
  constexpr int kPerWord = 32 / kBits;
  constexpr uint32_t kMask = (1u << kBits) - 1;
  const size_t g = static_cast<size_t>(depth / group_size);
  const float scale = to_f32(scales[g * n + column]);
  if constexpr (kAwq) {
    const uint32_t shift = awq_shift(static_cast<uint32_t>(column));
    const float zero =
        static_cast<float>((static_cast<uint32_t>(zeros[g * (n / kPerWord) + column / kPerWord]) >> shift) & kMask);
    const int32_t* words = qweight + static_cast<size_t>(depth) * (n / kPerWord) + column / kPerWord;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      const uint32_t q = (static_cast<uint32_t>(words[static_cast<size_t>(j) * (n / kPerWord)]) >> shift) & kMask;
      v[j] = (small_int_to_float(q) - zero) * scale;
    }
  } else {
    // GPTQ v1 checkpoints store each zero minus one.
    const uint32_t zero_word = static_cast<uint32_t>(zeros[g * (n / kPerWord) + column / kPerWord]);
    const float zero = static_cast<float>(((zero_word >> (kBits * (column % kPerWord))) & kMask) + 1);
    const int32_t* words = qweight + layout.at(static_cast<size_t>(depth / kPerWord), column);
    const size_t stride = layout.row_stride();
#pragma unroll
    for (int w = 0; w < 32 / kPerWord; ++w) {
      const uint32_t word = static_cast<uint32_t>(words[static_cast<size_t>(w) * stride]);
#pragma unroll
      for (int e = 0; e < kPerWord; ++e) {
        v[w * kPerWord + e] = (small_int_to_float((word >> (kBits * e)) & kMask) - zero) * scale;
      }
    }
  }
}

}  // namespace ferrum::cuda
