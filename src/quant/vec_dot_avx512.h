// AVX-512 (BW) versions of the dot kernels that decode spends its time in. Each sums the same
// integer products as the AVX2 kernel it replaces, 64 values per instruction instead of 32.
#pragma once

#include <cstddef>

#include "core/dtype.h"

namespace ferrum::quant {

// Like vec_dot_simd: false (result untouched) when this build has no AVX-512 kernel for the type.
bool vec_dot_avx512(DType weight_type, const void* weight_row, const void* activation_row, size_t n, float& result);

}  // namespace ferrum::quant
