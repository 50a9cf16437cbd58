// Decode GEMM for m <= kGemvMaxRows activation rows: out[m, n] = x[m, k] @ w[n, k]^T, any float
// dtypes for x, w and out, f32 accumulation. Larger m goes to cuBLASLt.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

inline constexpr size_t kGemvMaxRows = 8;

struct GemvArgs {
  const void* x = nullptr;
  DType x_dtype = DType::kF32;
  const void* w = nullptr;
  DType w_dtype = DType::kF32;
  void* out = nullptr;
  DType out_dtype = DType::kF32;
  size_t m = 0, n = 0, k = 0;
};

Status launch_gemv(const GemvArgs& args, cudaStream_t stream);

}  // namespace ferrum::cuda
