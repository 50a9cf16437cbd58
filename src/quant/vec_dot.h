// Dot products of one quantized weight row with one row of 8-bit quantized activations: the inner
// loop of a quantized CPU GEMV. Legacy weight types pair with Q8_0 activations, K-quants with Q8_K
// (whose 16-value sums fold in the mins). Integer products are summed exactly per block and scaled
// in f32, so results match dequantize-then-dot up to f32 rounding. Q8_1 (Q8_0 plus an f16 block
// sum, used this way by other GGUF runtimes) is not needed: the offset types take the exact integer
// sum of the activations instead of its f16 rounding.
#pragma once

#include <cstddef>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum {

// The activation format `weight` pairs with; kUnsupported for types without a vec_dot.
Expected<DType> vec_dot_activation_type(DType weight);

// Quantizes `n` f32 activations (whole blocks) to Q8_0, Q8_1 or Q8_K in one fast pass
// (scale = max|x| / 127, round to nearest). `activation_type` must be one of those three.
void quantize_activation_row(DType activation_type, const float* x, void* dst, size_t n);

// sum_i w[i] * a[i] over `n` values (whole blocks) of a `weight_type` row and an activation row of
// vec_dot_activation_type(weight_type). Uses AVX2 kernels where built with them.
float vec_dot(DType weight_type, const void* weight_row, const void* activation_row, size_t n);

namespace quant {
// Portable version of vec_dot, the reference the SIMD kernels are tested against.
float vec_dot_reference(DType weight_type, const void* weight_row, const void* activation_row, size_t n);
// Vector version; returns false (and leaves `result`) when this build has none for `weight_type`.
bool vec_dot_simd(DType weight_type, const void* weight_row, const void* activation_row, size_t n, float& result);
}  // namespace quant

}  // namespace ferrum
