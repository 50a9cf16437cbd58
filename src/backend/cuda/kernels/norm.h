// Row normalisations: RMS norm, fused residual-add + RMS norm, layer norm. Activations (x, out,
// residual) share one float dtype; weights may be any float dtype. Statistics are f32.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

struct NormArgs {
  const void* x = nullptr;
  void* residual = nullptr;  // fused add only: residual += x, then normalise residual
  const void* weight = nullptr;
  const void* bias = nullptr;  // layer norm only; same dtype as weight
  void* out = nullptr;
  // RMS norms only, optional: out's rows rounded to int8 per 32 values for the quantized GEMV
  // (rounded_rows.cuh's layout, 16-byte aligned; dim % 32 == 0), fused into the norm kernel where
  // it takes the vector path, else a second launch.
  void* rounded = nullptr;
  DType act_dtype = DType::kF32;
  DType weight_dtype = DType::kF32;
  size_t rows = 0;
  size_t dim = 0;
  float eps = 0.0f;
};

Status launch_rms_norm(const NormArgs& args, cudaStream_t stream);
Status launch_fused_add_rms_norm(const NormArgs& args, cudaStream_t stream);
Status launch_layer_norm(const NormArgs& args, cudaStream_t stream);

}  // namespace ferrum::cuda
