#include "quant/dequantize.h"

#include <cstring>

#include "core/half.h"
#include "quant/dequantize_reference.h"
#include "quant/dequantize_simd.h"

namespace ferrum {

bool can_dequantize(DType type) {
  return type == DType::kF32 || type == DType::kF16 || type == DType::kBF16 || type == DType::kF64 ||
         type == DType::kF8E4M3 || quant::is_gguf_block_type(type);
}

void dequantize_row(DType type, const void* src, float* dst, size_t n) {
  switch (type) {
    case DType::kF32: std::memcpy(dst, src, n * sizeof(float)); return;
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
    case DType::kF64: {
      const auto* values = static_cast<const double*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(values[i]);
      return;
    }
    case DType::kF8E4M3: {
      const auto* values = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = to_float(f8e4m3{values[i]});
      return;
    }
    default: break;
  }
  if (quant::dequantize_blocks_simd(type, src, dst, n)) return;
  quant::dequantize_blocks_reference(type, src, dst, n);
}

}  // namespace ferrum
