// Host-side checks and helpers shared by the CudaBackend op files (not part of the public API).
#pragma once

#include <string_view>

#include "backend/cuda/cuda_buffer.h"
#include "backend/cuda/cuda_context.h"
#include "backend/op_checks.h"
#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

inline bool is_float_dtype(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

inline Status check_float(std::string_view op, std::string_view arg, const CudaBuffer& buffer) {
  return check_dtype(op, arg, buffer, {DType::kF32, DType::kF16, DType::kBF16});
}

inline Status check_same_dtype(std::string_view op, std::string_view arg, const CudaBuffer& buffer,
                               std::string_view ref_arg, const CudaBuffer& ref) {
  FERRUM_CHECK(buffer.dtype() == ref.dtype(), ErrorCode::kUnsupported, op, ": ", arg, " has dtype ", buffer.dtype(),
               " but ", ref_arg, " has ", ref.dtype(), "; the CUDA backend needs them equal here");
  return ok();
}

inline size_t elem_bytes(const CudaBuffer& buffer) {
  return dtype_info(buffer.dtype()).block_bytes;
}

// Pointer to element `offset` of a plain-typed buffer.
inline const void* element_ptr(const CudaBuffer& buffer, size_t offset) {
  return static_cast<const char*>(buffer.data()) + offset * elem_bytes(buffer);
}
inline void* element_ptr(CudaBuffer& buffer, size_t offset) {
  return static_cast<char*>(buffer.data()) + offset * elem_bytes(buffer);
}

// Host conversion of n values of a plain (non-block) dtype to float, as to_vec returns them.
Status plain_to_float(DType dtype, const void* src, float* dst, size_t n);

// out[m, n] = a[m, k] @ w[n, k]^T on device pointers: the GEMV kernel for m <= 8, cuBLASLt above
// (activations converted to the weight's dtype when they differ). Shapes are already checked.
struct DenseGemm {
  const void* a = nullptr;
  DType a_dtype = DType::kF32;
  const void* w = nullptr;
  DType w_dtype = DType::kF32;
  void* out = nullptr;
  DType out_dtype = DType::kF32;
  size_t m = 0, n = 0, k = 0;
};
Status run_dense_gemm(CudaContext& ctx, const DenseGemm& gemm);

}  // namespace ferrum::cuda
