// Element-wise kernels: residual add, bias add, activations, scaling, soft-capping, gated MLP
// activations and dtype conversion. Activations share one float dtype per call; the bias may be
// any float dtype. Arithmetic is f32.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "backend/backend_types.h"
#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

Status launch_add_inplace(void* residual, const void* x, DType dtype, size_t len, cudaStream_t stream);
Status launch_add_bias(void* data, DType dtype, const void* bias, DType bias_dtype, size_t rows, size_t cols,
                       cudaStream_t stream);
Status launch_activation(const void* x, void* out, DType dtype, size_t len, Activation act, cudaStream_t stream);
Status launch_scale(void* data, DType dtype, size_t len, float factor, cudaStream_t stream);
Status launch_softcap(void* data, DType dtype, size_t len, float cap, cudaStream_t stream);
// gate_up [tokens, 2 * im] (gate first) -> out [tokens, im] = act(gate) * up
Status launch_act_mul_split(const void* gate_up, void* out, DType dtype, size_t tokens, size_t im, Activation act,
                            cudaStream_t stream);
// The same, writing out's rows rounded to int8 per 32 values to `rounded` as well (the quantized
// GEMV's input, kernels/rounded_rows.cuh; im % 32 == 0, 16-byte aligned), in the same kernel.
Status launch_act_mul_split_rounded(const void* gate_up, void* out, DType dtype, size_t tokens, size_t im,
                                    Activation act, void* rounded, cudaStream_t stream);
// dst[i] = src[i] converted between any two float dtypes (round-to-nearest-even).
Status launch_convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t len, cudaStream_t stream);

}  // namespace ferrum::cuda
