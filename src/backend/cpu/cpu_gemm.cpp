// Dense GEMM and GPTQ GEMM entry points: argument checks, then the kernels of cpu_gemm_kernels.
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_gemm_kernels.h"
#include "backend/op_checks.h"

namespace ferrum {

Status CpuBackend::gemm(CpuContext& ctx, const CpuBuffer& a, const CpuBuffer& b, CpuBuffer& out, size_t m, size_t n,
                        size_t k) {
  FERRUM_TRY(check_dtype("gemm", "a", a, {DType::kF32}));
  FERRUM_CHECK(!is_quantized(b.dtype()), ErrorCode::kUnsupported, "gemm: b has block type ", b.dtype(),
               "; quantized weights go through gemm_quant");
  FERRUM_TRY(check_dtype("gemm", "b", b, {DType::kF32, DType::kF16, DType::kBF16}));
  FERRUM_TRY(check_dtype("gemm", "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel("gemm", "a", a, {m, k}));
  FERRUM_TRY(check_numel("gemm", "b", b, {n, k}));
  FERRUM_TRY(check_numel("gemm", "out", out, {m, n}));
  const float* a_data = a.data_as<float>();
  float* c_data = out.data_as<float>();
  cpu::with_float_type(b.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::gemm_dense(*ctx.pool, a_data, b.data_as<T>(), c_data, m, n, k);
  });
  return ok();
}

Status CpuBackend::gemm_gptq(CpuContext& ctx, const CpuBuffer& a, const CpuGptqStore& weight, CpuBuffer& out,
                             size_t m) {
  FERRUM_TRY(check_dtype("gemm_gptq", "a", a, {DType::kF32}));
  FERRUM_TRY(check_dtype("gemm_gptq", "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel("gemm_gptq", "a", a, {m, weight.k}));
  FERRUM_TRY(check_numel("gemm_gptq", "out", out, {m, weight.n}));
  FERRUM_TRY(check_numel("gemm_gptq", "weight", weight.weight, {weight.n, weight.k}));
  cpu::gemm_dense(*ctx.pool, a.data_as<float>(), weight.weight.data_as<float>(), out.data_as<float>(), m, weight.n,
                  weight.k);
  return ok();
}

}  // namespace ferrum
