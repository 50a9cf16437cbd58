// Row reductions over wide rows (a 128k vocabulary): softmax, argmax and top-k. Statistics in f32;
// ties go to the lowest index; NaN ranks after every number, -inf included (the contract's order).
// A softmax row that is entirely -inf gives zeros.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

Status launch_softmax_rows(const void* x, void* out, DType dtype, size_t rows, size_t cols, cudaStream_t stream);

// Bytes of scratch argmax needs for `rows` x `cols` (per-chunk candidates); 0 when one pass suffices.
size_t argmax_scratch_bytes(size_t rows, size_t cols);
Status launch_argmax_rows(const void* x, DType dtype, int32_t* ids, size_t rows, size_t cols, void* scratch,
                          cudaStream_t stream);

// Largest supported k: every selection round must at least halve the candidates.
inline constexpr size_t kTopkMaxK = 2048;
// Up to this k, top-k picks the best of register-held chunks k times instead of sorting them.
inline constexpr size_t kTopkSmallK = 32;
// Bytes for each of the two ping-pong scratch areas top-k needs.
size_t topk_scratch_bytes(size_t rows, size_t cols, size_t k);
Status launch_topk_rows(const void* x, DType dtype, float* values, int32_t* ids, size_t rows, size_t cols, size_t k,
                        void* scratch_a, void* scratch_b, cudaStream_t stream);

}  // namespace ferrum::cuda
