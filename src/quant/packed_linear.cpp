#include "quant/packed_linear.h"

#include "core/half.h"

namespace ferrum::quant {

Status check_matrix(const TensorView& tensor, std::string_view name, DType dtype) {
  FERRUM_CHECK(tensor.data() != nullptr, ErrorCode::kInvalidArgument, name, " is missing");
  FERRUM_CHECK(tensor.dtype() == dtype, ErrorCode::kInvalidArgument, name, " has dtype ", tensor.dtype(), ", expected ",
               dtype);
  FERRUM_CHECK(tensor.shape().rank() == 2, ErrorCode::kShapeMismatch, name, " has shape ", tensor.shape().to_string(),
               ", expected a matrix");
  FERRUM_CHECK(tensor.is_contiguous(), ErrorCode::kUnsupported, name, " must be contiguous");
  return ok();
}

Status check_float_matrix(const TensorView& tensor, std::string_view name) {
  const DType dtype = tensor.dtype();
  FERRUM_CHECK(dtype == DType::kF16 || dtype == DType::kBF16 || dtype == DType::kF32, ErrorCode::kInvalidArgument, name,
               " has dtype ", dtype, ", expected f16, bf16 or f32");
  return check_matrix(tensor, name, dtype);
}

Status check_dims(const TensorView& tensor, std::string_view name, int64_t rows, int64_t cols, std::string_view why) {
  FERRUM_CHECK(tensor.shape()[0] == rows && tensor.shape()[1] == cols, ErrorCode::kShapeMismatch, name, " has shape ",
               tensor.shape().to_string(), ", expected [", rows, ", ", cols, "] (", why, ")");
  return ok();
}

float load_float(const void* data, DType dtype, size_t index) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  switch (dtype) {
    case DType::kF16: {
      f16 value;
      std::memcpy(&value, bytes + index * sizeof value, sizeof value);
      return to_float(value);
    }
    case DType::kBF16: {
      bf16 value;
      std::memcpy(&value, bytes + index * sizeof value, sizeof value);
      return to_float(value);
    }
    default: {
      float value;
      std::memcpy(&value, bytes + index * sizeof value, sizeof value);
      return value;
    }
  }
}

}  // namespace ferrum::quant
