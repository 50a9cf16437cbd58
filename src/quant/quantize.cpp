#include "quant/quantize.h"

#include <cstring>

#include "core/half.h"
#include "quant/quantize_blocks.h"

namespace ferrum {
namespace {

bool quantize_blocks(DType type, const float* src, const float* importance, void* dst, size_t n) {
  return quant::quantize_legacy_blocks(type, src, importance, dst, n) ||
         quant::quantize_k_blocks(type, src, importance, dst, n);
}

}  // namespace

bool can_quantize(DType type) {
  switch (type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
    case DType::kQ8_1:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ8_K: return true;
    default: return false;
  }
}

Status quantize_row(DType type, const float* src, void* dst, size_t n, const float* importance) {
  FERRUM_CHECK(can_quantize(type), ErrorCode::kUnsupported, "quantize_row: cannot quantize to ", type);
  FERRUM_TRY(dtype_bytes(type, n));
  switch (type) {
    case DType::kF32: std::memcpy(dst, src, n * sizeof(float)); return ok();
    case DType::kF16: {
      auto* out = static_cast<f16*>(dst);
      for (size_t i = 0; i < n; ++i) out[i] = to_f16(src[i]);
      return ok();
    }
    case DType::kBF16: {
      auto* out = static_cast<bf16*>(dst);
      for (size_t i = 0; i < n; ++i) out[i] = to_bf16(src[i]);
      return ok();
    }
    default: break;
  }
  FERRUM_CHECK(quantize_blocks(type, src, importance, dst, n), ErrorCode::kInternal, "quantize_row: no quantizer for ",
               type);
  return ok();
}

Status quantize_tensor(DType type, const float* src, size_t rows, size_t cols, void* dst, ThreadPool& pool,
                       const float* importance) {
  FERRUM_CHECK(can_quantize(type), ErrorCode::kUnsupported, "quantize_tensor: cannot quantize to ", type);
  FERRUM_ASSIGN_OR_RETURN(const size_t row_bytes, dtype_bytes(type, cols));
  // Rows are independent, and one row of a real weight (thousands of values through the scale search)
  // already costs far more than handing out a chunk, so the grain is one row.
  pool.parallel_for(rows, 1, [&](size_t begin, size_t end) {
    for (size_t row = begin; row < end; ++row) {
      // Cannot fail: the type and the row length were checked above.
      (void)quantize_row(type, src + row * cols, static_cast<uint8_t*>(dst) + row * row_bytes, cols, importance);
    }
  });
  return ok();
}

}  // namespace ferrum
