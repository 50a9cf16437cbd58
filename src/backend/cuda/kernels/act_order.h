// GPTQ act-order (desc_act) on the GPU: the packed rows sorted by group once at load, so every
// kernel reads groups as contiguous runs of k, and the activations gathered into that order per
// call (out[:, i] = x[:, order[i]]).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

// dst = src's packed rows in channel order `order` (k entries): channel i of dst is channel
// order[i] of src. GPTQ layout [k / per_word, n] words, `bits` 2, 4 or 8; k a multiple of per_word.
Status launch_gptq_sort_rows(const int32_t* src, const int32_t* order, int32_t* dst, uint32_t bits, size_t k, size_t n,
                             cudaStream_t stream);

// out [m, k] = x [m, k] with its columns in `order` (out[r, i] = x[r, order[i]]), any float dtype.
Status launch_gather_columns(const void* x, DType dtype, const int32_t* order, void* out, size_t m, size_t k,
                             cudaStream_t stream);

}  // namespace ferrum::cuda
