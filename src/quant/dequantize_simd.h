// Vectorized decoders for the block types that dominate real checkpoints (Q4_0, Q8_0, Q4_K, Q6_K).
// Each performs the same float32 operations per value as dequantize_blocks_reference, only several
// values at a time, so the results are bit-identical (tests/unit/quant checks this on random blocks).
#pragma once

#include <cstddef>

#include "core/dtype.h"

namespace ferrum::quant {

// Decodes like dequantize_blocks_reference and returns true when this build has a vector kernel for
// `type`; returns false (touching nothing) otherwise.
bool dequantize_blocks_simd(DType type, const void* src, float* dst, size_t n);

}  // namespace ferrum::quant
