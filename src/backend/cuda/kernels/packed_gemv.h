// GEMV for GPTQ weights at batch 1 (decode): out[n] = x[k] . W[n, k] with W as the checkpoint packs
// it ([k / per_word, n] words, so a word-row of consecutive columns is one coalesced read). A block
// of 8 warps owns 32 output columns, a lane per column, the warps splitting k; each lane reads one
// 4-byte word per 32 / bits weights and the warp's x values are the same for every lane (one
// broadcast load). Sums are f32 per word, scaled per quantization group: exact up to f32 rounding,
// unlike the tensor-core kernel's bf16 operands.
#pragma once

#include <cuda_runtime.h>

#include "backend/cuda/kernels/dequant.h"
#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

// Whether the GEMV takes this weight (GPTQ 2 / 4 / 8 bit without g_idx, group size a multiple of 32)
// and x (f32 / bf16 / f16, 16-byte aligned).
bool packed_gemv_supports(const PackedIntWeight& w, DType x_dtype, const void* x);
// out [n] (a float dtype) = x [k] . W^T.
Status launch_packed_gemv(const PackedIntWeight& w, const void* x, DType x_dtype, void* out, DType out_dtype,
                          cudaStream_t stream);

}  // namespace ferrum::cuda
