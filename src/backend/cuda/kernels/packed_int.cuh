// GPTQ / AWQ packing details shared by the dequantizer (dequant.cu) and the tensor-core GEMM
// (quant_mma_packed.cu).
#pragma once

#include <cstdint>

namespace ferrum::cuda {

// AWQ packs columns 8c..8c+7 of a word in the order 0, 2, 4, 6, 1, 3, 5, 7: column n sits in nibble
// (n % 2) * 4 + (n % 8) / 2. The bit offset of column n's nibble in its word:
__device__ __forceinline__ uint32_t awq_shift(uint32_t column) {
  const uint32_t position = column % 8;
  return 4 * ((position % 2) * 4 + position / 2);
}

}  // namespace ferrum::cuda
