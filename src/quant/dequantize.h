// Row conversion of any stored weight type to f32: plain floats (f32, f16, bf16, f64, f8_e4m3) and every GGUF
// block type. The CPU backend's generic paths (embedding gather, dequantize-then-GEMM) use it.
#pragma once

#include <cstddef>

#include "core/dtype.h"

namespace ferrum {

// True when dequantize_row handles `type`.
bool can_dequantize(DType type);

// Converts `n` values stored as `type` at `src` to f32 in `dst`. For block types `n` is a whole
// number of blocks (callers validate with dtype_bytes); `type` must satisfy can_dequantize.
void dequantize_row(DType type, const void* src, float* dst, size_t n);

}  // namespace ferrum
