#include "quant/vec_dot.h"

#include "quant/quantize.h"
#include "quant/vec_dot_avx512.h"

namespace ferrum {

Expected<DType> vec_dot_activation_type(DType weight) {
  switch (weight) {
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0: return DType::kQ8_0;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K: return DType::kQ8_K;
    default: return make_error(ErrorCode::kUnsupported, "vec_dot: no quantized dot product for ", weight);
  }
}

float vec_dot(DType weight_type, const void* weight_row, const void* activation_row, size_t n) {
  float result = 0;
  if (quant::vec_dot_avx512(weight_type, weight_row, activation_row, n, result)) return result;
  if (quant::vec_dot_simd(weight_type, weight_row, activation_row, n, result)) return result;
  return quant::vec_dot_reference(weight_type, weight_row, activation_row, n);
}

}  // namespace ferrum
