// GGUF dequantization by groups as shipped before the staged stores (v2 of dequantize_lab.cu):
// a thread per (row, 32-value group), or per 64-value chunk for Q4_K, each thread storing its own
// values (16-byte stores 64 or 128 bytes apart across a warp).
#pragma once

#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/gguf_group_decode.cuh"

namespace lab_dequant_v2 {

using namespace ferrum::cuda;  // the decoders
using ferrum::DType;

template <DType kType, bool kChunk, class Out>
__global__ void gguf_dequantize_groups_kernel(const uint8_t* __restrict__ src, size_t rows, size_t cols,
                                              size_t block_bytes, Out* __restrict__ dst) {
  constexpr int kBlockElems = gguf_block_elems<kType>();
  constexpr int kValues = kChunk ? 64 : 32;
  const size_t row_bytes = cols / kBlockElems * block_bytes;
  const size_t tasks_per_row = cols / kValues;
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t task = blockIdx.x * size_t{blockDim.x} + threadIdx.x; task < rows * tasks_per_row; task += stride) {
    const size_t row = task / tasks_per_row, first = (task % tasks_per_row) * kValues;
    const uint8_t* block = src + row * row_bytes + first / kBlockElems * block_bytes;
    Out* out = dst + row * cols + first;
    const int within = static_cast<int>(first % kBlockElems);
    if constexpr (kChunk) {
      float low[32], high[32];
      decode_chunk_q4_k(load_chunk_q4_k(block, within / 64), within / 64, low, high);
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        store8(out + 8 * q, *reinterpret_cast<const float(*)[8]>(low + 8 * q));
        store8(out + 32 + 8 * q, *reinterpret_cast<const float(*)[8]>(high + 8 * q));
      }
    } else {
      float v[32];
      decode_group<kType>(block, within / 32, v);
#pragma unroll
      for (int q = 0; q < 4; ++q) store8(out + 8 * q, *reinterpret_cast<const float(*)[8]>(v + 8 * q));
    }
  }
}

}  // namespace lab_dequant_v2
