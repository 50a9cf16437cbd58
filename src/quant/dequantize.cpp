// The plain-float part of dequantize_row. GGUF block decoders land with the quant module; until
// then can_dequantize says no for block types, so callers report kUnsupported instead of guessing.
#include "quant/dequantize.h"

#include "core/half.h"

namespace ferrum {

bool can_dequantize(DType type) {
  return type == DType::kF32 || type == DType::kF16 || type == DType::kBF16;
}

void dequantize_row(DType type, const void* src, float* dst, size_t n) {
  switch (type) {
    case DType::kF32: {
      const auto* values = static_cast<const float*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = values[i];
      return;
    }
    case DType::kF16: {
      const auto* values = static_cast<const f16*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = to_float(values[i]);
      return;
    }
    case DType::kBF16: {
      const auto* values = static_cast<const bf16*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = to_float(values[i]);
      return;
    }
    default: return;  // not reachable for callers that checked can_dequantize
  }
}

}  // namespace ferrum
