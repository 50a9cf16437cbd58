#include "quant/dequantize.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/half.h"
#include "quant/dequantize_reference.h"
#include "quant/dequantize_simd.h"

namespace ferrum {
namespace {

// OCP float8 e4m3fn: bias 7, no infinities, 0x7f / 0xff are NaN.
float f8_e4m3_to_float(uint8_t bits) {
  const float sign = (bits & 0x80) ? -1.0f : 1.0f;
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  if (exponent == 0xf && mantissa == 0x7) return std::numeric_limits<float>::quiet_NaN();
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa) / 8.0f, -6);
  return sign * std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent - 7);
}

}  // namespace

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
      for (size_t i = 0; i < n; ++i) dst[i] = f8_e4m3_to_float(values[i]);
      return;
    }
    default: break;
  }
  if (quant::dequantize_blocks_simd(type, src, dst, n)) return;
  quant::dequantize_blocks_reference(type, src, dst, n);
}

}  // namespace ferrum
