// Dense GEMM entry points: argument checks, then the kernels of cpu_gemm_kernels.
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

Status CpuBackend::gemm_batched(CpuContext& ctx, const CpuBuffer& a, const CpuBuffer& b, CpuBuffer& out, size_t batch,
                                size_t m, size_t n, size_t k) {
  constexpr std::string_view op = "gemm_batched";
  FERRUM_TRY(check_dtype(op, "a", a, {DType::kF32}));
  FERRUM_CHECK(!is_quantized(b.dtype()), ErrorCode::kUnsupported, op, ": b has block type ", b.dtype(),
               " (dense float weights only)");
  FERRUM_TRY(check_dtype(op, "b", b, {DType::kF32, DType::kF16, DType::kBF16}));
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "a", a, {batch, m, k}));
  FERRUM_TRY(check_numel(op, "b", b, {batch, n, k}));
  FERRUM_TRY(check_numel(op, "out", out, {batch, m, n}));
  const float* a_data = a.data_as<float>();
  float* c_data = out.data_as<float>();
  // One threaded GEMM per problem: the problems this serves (per-head projections) are each large
  // enough to split, and gemm_dense then picks the decode or the packed kernel for each.
  cpu::with_float_type(b.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* b_data = b.data_as<T>();
    for (size_t i = 0; i < batch; ++i) {
      cpu::gemm_dense(*ctx.pool, a_data + i * m * k, b_data + i * n * k, c_data + i * m * n, m, n, k);
    }
  });
  return ok();
}

}  // namespace ferrum
