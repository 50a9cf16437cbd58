// Host-side conversion of downloaded plain dtypes to float (to_vec).
#include <cstring>

#include "backend/cuda/backend_checks.h"
#include "core/half.h"

namespace ferrum::cuda {
namespace {

template <class T>
void widen(const void* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    T value;
    std::memcpy(&value, static_cast<const char*>(src) + i * sizeof(T), sizeof(T));
    dst[i] = static_cast<float>(value);
  }
}

}  // namespace

Status plain_to_float(DType dtype, const void* src, float* dst, size_t n) {
  switch (dtype) {
    case DType::kF32: std::memcpy(dst, src, n * sizeof(float)); break;
    case DType::kF16:
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, static_cast<const char*>(src) + 2 * i, 2);
        dst[i] = dtype == DType::kF16 ? to_float(f16{bits}) : to_float(bf16{bits});
      }
      break;
    case DType::kF64: widen<double>(src, dst, n); break;
    case DType::kF8E4M3:
      for (size_t i = 0; i < n; ++i) dst[i] = to_float(f8e4m3{static_cast<const uint8_t*>(src)[i]});
      break;
    case DType::kI64: widen<int64_t>(src, dst, n); break;
    case DType::kI32: widen<int32_t>(src, dst, n); break;
    case DType::kI16: widen<int16_t>(src, dst, n); break;
    case DType::kI8: widen<int8_t>(src, dst, n); break;
    case DType::kU8:
    case DType::kBool: widen<uint8_t>(src, dst, n); break;
    default: return make_error(ErrorCode::kUnsupported, "to_vec: dtype ", dtype, " has no float conversion");
  }
  return ok();
}

}  // namespace ferrum::cuda
