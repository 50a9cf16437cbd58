// Decode GEMM for m <= kGemvMaxRows activation rows: out[m, n] = x[m, k] @ w[n, k]^T, any float
// dtypes for x, w and out, f32 accumulation. Larger m goes to cuBLASLt.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "backend/backend_types.h"
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

// out[m, im] = act(x @ w[:im]^T) * (x @ w[im:]^T) for a gate-then-up weight w [2 im, k], m <= 8.
struct GatedGemvArgs {
  const void* x = nullptr;
  DType x_dtype = DType::kF32;  // x and out
  const void* w = nullptr;
  DType w_dtype = DType::kF32;
  void* out = nullptr;
  size_t m = 0, im = 0, k = 0;
  Activation act = Activation::kSilu;
};

// Whether the fused kernel takes these operands (equal dtypes or f32 over bf16, k % 8 == 0,
// 16-byte aligned rows); otherwise the caller runs the GEMM and the activation separately.
bool gated_gemv_supports(const GatedGemvArgs& args);
Status launch_gated_gemv(const GatedGemvArgs& args, cudaStream_t stream);

}  // namespace ferrum::cuda
