// The engine's per-request logit work on the GPU: sparse adjustments (penalties and logit bias)
// before the draw, and log-probabilities of chosen and top tokens (backend.h states both).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/error.h"

namespace ferrum::cuda {

// `words`: the adjustments buffer (header, then entries) of `capacity` entries; the count is read
// on the device, so the grid is sized by the capacity.
Status launch_adjust_logits(float* x, const int32_t* words, size_t capacity, size_t rows, size_t cols,
                            cudaStream_t stream);

// Bytes of scratch log_softmax_at needs: one (max, sum) pair per chunk of each row.
size_t log_softmax_scratch_bytes(size_t rows, size_t cols);
Status launch_log_softmax_at(const float* x, const int32_t* ids, float* out, size_t rows, size_t cols, size_t k,
                             void* scratch, cudaStream_t stream);

// argmax_gathered (backend.h): a thread per row over the ranks' picks; a pick outside its slice's
// columns makes the row's answer -1 (the host cannot see device data to refuse it).
Status launch_argmax_gathered(const float* values, const int32_t* ids, int32_t* out, size_t ranks, size_t rows,
                              size_t cols, cudaStream_t stream);

}  // namespace ferrum::cuda
