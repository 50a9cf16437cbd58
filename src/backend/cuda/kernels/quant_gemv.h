// Fused GGUF GEMV for decode (m <= kQuantGemvMaxRows activation rows): out[m, n] = x[m, k] @
// decode(w)[n, k]^T without expanding the weight. x is first quantized to int8 per 32 values (a
// scale of max |x| / 127 per group and the group's integer sum), then each weight block's integer
// dot product with it runs on dp4a (lab/quant_gemv_lab.cu: Q8_0 v2 layout with v4's dp4a; Q4_K v4,
// eight lanes per super-block; Q6_K staged like Q8_0, both double-buffered with cp.async). Rows too
// few to fill the GPU split their k over up to four warps. Types: Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 (one
// kernel), Q4_K and Q5_K (one kernel), Q6_K, Q3_K and Q2_K (one kernel): every GGUF type gemm_quant takes.
// The result is exactly the dense product with x replaced by its int8 rounding (up to f32 arithmetic). Above 8 rows
// gemm_quant takes the tensor-core kernels (quant_mma.h) or dequantize + cuBLASLt.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

inline constexpr size_t kQuantGemvMaxRows = 8;

struct QuantGemvArgs {
  const void* x = nullptr;  // [m, k], a float dtype
  DType x_dtype = DType::kF32;
  const void* w = nullptr;  // n rows of k / block_elems GGUF blocks
  DType w_dtype = DType::kQ8_0;
  void* out = nullptr;  // [m, n] with rows out_stride apart, a float dtype
  DType out_dtype = DType::kF32;
  size_t m = 0, n = 0, k = 0;
  void* scratch = nullptr;  // quant_gemv_scratch_bytes(m, k), 16-byte aligned: x as int8, scales, sums
  size_t out_stride = 0;    // elements from one output row to the next (0: n)
  bool x_rounded = false;   // scratch already holds x's rounding (rounded_rows.cuh): no rounding launch
  int sm_count = 0;         // the device's SMs, to spread a grid of under one wave evenly (0: don't)
};

// Whether the fused kernel takes this weight type, row count and weight address (Q4_K reads its
// 144-byte super-blocks with 16-byte loads, so the weight must start 16-byte aligned).
bool quant_gemv_supports(DType w_dtype, size_t m, const void* w);
size_t quant_gemv_scratch_bytes(size_t m, size_t k);
Status launch_quant_gemv(const QuantGemvArgs& args, cudaStream_t stream);

// The grid launch_quant_gemv would launch for `args` and the blocks of it an SM can hold then (its
// balanced residency included: launch_settings.h), for tests. Reads only the weight's address.
struct QuantGemvResidency {
  size_t grid = 0;
  int blocks_per_sm = 0;
};
QuantGemvResidency quant_gemv_residency(const QuantGemvArgs& args);

}  // namespace ferrum::cuda
