// Block quantizers behind quantize_row, split by family. Each takes `n` values (a whole number of
// blocks) and optional per-value importance weights (null = plain squared error), and returns false
// for types it does not handle.
#pragma once

#include <cstddef>

#include "core/dtype.h"

namespace ferrum::quant {

// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (searched scales) and Q8_1 (plain max-magnitude scale).
bool quantize_legacy_blocks(DType type, const float* src, const float* importance, void* dst, size_t n);

// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (searched) and Q8_K (plain max-magnitude scale).
bool quantize_k_blocks(DType type, const float* src, const float* importance, void* dst, size_t n);

}  // namespace ferrum::quant
