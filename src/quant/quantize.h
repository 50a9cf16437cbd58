// Quantization of f32 rows and matrices to any GGUF block type (and to f16 / bf16 / f32).
// The weight types search their scales (weighted least squares, see scale_search.h and
// super_block_search.h), so their round-trip error is no worse than ggml's reference quantizer;
// Q8_1 and Q8_K are activation formats and use one fast pass.
#pragma once

#include <cstddef>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace ferrum {

// True when quantize_row can produce `type`.
bool can_quantize(DType type);

// Quantizes `n` values (a whole number of blocks of `type`) from `src` into `dst`
// (dtype_bytes(type, n) bytes). `importance`, when given, holds n non-negative weights: the
// quantizer then minimises sum importance[i] * (x[i] - decoded[i])^2 (imatrix-style); null means
// plain squared error.
Status quantize_row(DType type, const float* src, void* dst, size_t n, const float* importance = nullptr);

// Quantizes a row-major [rows, cols] matrix, rows in parallel on `pool`. `importance`, when given,
// holds `cols` weights shared by every row (one per input channel, as an imatrix gives them).
Status quantize_tensor(DType type, const float* src, size_t rows, size_t cols, void* dst, ThreadPool& pool,
                       const float* importance = nullptr);

}  // namespace ferrum
