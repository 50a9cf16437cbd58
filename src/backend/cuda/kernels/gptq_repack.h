// Packed int weights rearranged once at load into the one layout the GPTQ kernels read ([k / per_word,
// n] words, a group a contiguous run of k): act-order (desc_act) rows sorted by group, with the
// activations gathered into that order per call (out[:, i] = x[:, order[i]]); AWQ's [k, n / 8]
// interleaved words turned into GPTQ's; and the words tiled by 32 columns (GptqWordLayout), which
// the decode GEMV reads faster.
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

// dst [k / 8, n] (GPTQ: word row r holds k = 8r .. 8r + 7 of one column, nibble e = k 8r + e) from
// AWQ's src [k, n / 8] (a word holds 8 columns of one k, nibble i = column 8c + {0,2,4,6,1,3,5,7}[i]);
// 4-bit, k and n multiples of 8.
Status launch_awq_to_gptq(const int32_t* src, int32_t* dst, size_t k, size_t n, cudaStream_t stream);

// dst = src's [rows, n] words in GptqWordLayout's tiled order (n a multiple of kGptqTileColumns).
Status launch_gptq_tile_words(const int32_t* src, int32_t* dst, size_t rows, size_t n, cudaStream_t stream);

// out [m, k] = x [m, k] with its columns in `order` (out[r, i] = x[r, order[i]]), any float dtype.
Status launch_gather_columns(const void* x, DType dtype, const int32_t* order, void* out, size_t m, size_t k,
                             cudaStream_t stream);

}  // namespace ferrum::cuda
