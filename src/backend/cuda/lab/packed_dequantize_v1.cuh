// Packed (GPTQ / AWQ) dequantization v1, kept for the lab (dequantize_lab.cu): a thread per
// (column j, 32 consecutive k), the columns of a warp side by side so the words, scales and zeros
// are read coalesced; each thread writes its 32 values of W[j, :] with 16-byte stores, so a warp's
// stores land in 32 different rows. The shipped kernel (kernels/dequant.cu) writes whole runs.
#pragma once

#include "backend/cuda/kernels/dequant.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/packed_int.cuh"

namespace lab_dequant_v1 {

using ferrum::cuda::PackedIntWeight;

template <bool kAwq, int kBits, class S, class Out>
__global__ void packed_dequantize_groups_kernel(PackedIntWeight w, const S* __restrict__ scales,
                                                Out* __restrict__ dst) {
  const size_t tasks = w.n * (w.k / 32);
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t task = blockIdx.x * size_t{blockDim.x} + threadIdx.x; task < tasks; task += stride) {
    const size_t column = task % w.n, depth = task / w.n * 32;
    float v[32];
    ferrum::cuda::decode_packed_group<kAwq, kBits>(w.qweight, scales, w.zeros, static_cast<int>(w.group_size),
                                                   static_cast<int>(w.n), static_cast<int>(column),
                                                   static_cast<int>(depth), v, ferrum::cuda::GptqWordLayout::of(w));
    Out* out = dst + column * w.k + depth;
#pragma unroll
    for (int q = 0; q < 4; ++q) ferrum::cuda::store8(out + 8 * q, *reinterpret_cast<const float(*)[8]>(v + 8 * q));
  }
}

}  // namespace lab_dequant_v1
