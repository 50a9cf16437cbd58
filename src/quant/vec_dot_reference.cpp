#include <algorithm>
#include <cmath>

#include "quant/block_integers.h"
#include "quant/half_fast.h"
#include "quant/quantize_blocks.h"
#include "quant/scale_search.h"
#include "quant/vec_dot.h"

namespace ferrum {
namespace quant {
namespace {

// Legacy weights against Q8_0. The offset types (Q4_1, Q5_1) add m * d_a * sum(a) with sum(a) taken
// exactly from the integers rather than from Q8_1's f16-rounded block sum, which would cost ~1e-4
// relative accuracy for nothing measurable in speed.
template <class WeightBlock>
float dot_legacy(const void* weight_row, const void* activation_row, size_t n) {
  const auto* weights = static_cast<const WeightBlock*>(weight_row);
  const auto* activations = static_cast<const BlockQ8_0*>(activation_row);
  LegacyIntegers unpacked;
  float sum = 0;
  for (size_t b = 0; b < n / kLegacyBlock; ++b) {
    unpack_integers(weights[b], unpacked);
    int products = 0, activation_sum = 0;
    for (size_t j = 0; j < kLegacyBlock; ++j) {
      products += unpacked.level[j] * activations[b].qs[j];
      activation_sum += activations[b].qs[j];
    }
    const float activation_scale = half_to_float(activations[b].d);
    sum += unpacked.d * activation_scale * static_cast<float>(products);
    sum += unpacked.m * activation_scale * static_cast<float>(activation_sum);
  }
  return sum;
}

template <class WeightBlock>
float dot_k(const void* weight_row, const void* activation_row, size_t n) {
  const auto* weights = static_cast<const WeightBlock*>(weight_row);
  const auto* activations = static_cast<const BlockQ8_K*>(activation_row);
  SuperBlockIntegers unpacked;
  float sum = 0;
  for (size_t b = 0; b < n / kSuperBlock; ++b) {
    unpack_integers(weights[b], unpacked);
    const BlockQ8_K& a = activations[b];
    int scaled_products = 0;  // sum_g scale[g] * sum_{i in g} level[i] * a[i]
    int min_terms = 0;        // sum_g min[g] * sum_{i in g} a[i], from the 16-value sums
    for (size_t g = 0; g < kSuperBlock / unpacked.group_size; ++g) {
      int products = 0;
      for (size_t i = g * unpacked.group_size; i < (g + 1) * unpacked.group_size; ++i) {
        products += unpacked.level[i] * a.qs[i];
      }
      scaled_products += unpacked.scale[g] * products;
      int activation_sum = 0;
      for (size_t k = g * unpacked.group_size / 16; k < (g + 1) * unpacked.group_size / 16; ++k) {
        activation_sum += a.bsums[k];
      }
      min_terms += unpacked.min[g] * activation_sum;
    }
    sum += a.d * (unpacked.d * static_cast<float>(scaled_products) - unpacked.dmin * static_cast<float>(min_terms));
  }
  return sum;
}

void quantize_q8_0_activations(const float* x, void* dst, size_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(dst);
  for (size_t b = 0; b < n / kLegacyBlock; ++b, x += kLegacyBlock) {
    float max_abs = 0;
    for (size_t j = 0; j < kLegacyBlock; ++j) max_abs = std::max(max_abs, std::fabs(x[j]));
    const float d = max_abs / 127.0f;
    const float inverse = d != 0 ? 1.0f / d : 0.0f;
    for (size_t j = 0; j < kLegacyBlock; ++j)
      blocks[b].qs[j] = static_cast<int8_t>(round_clamp(x[j] * inverse, -127, 127));
    blocks[b].d = to_f16(d);
  }
}

}  // namespace

float vec_dot_reference(DType weight_type, const void* weight_row, const void* activation_row, size_t n) {
  switch (weight_type) {
    case DType::kQ4_0: return dot_legacy<BlockQ4_0>(weight_row, activation_row, n);
    case DType::kQ5_0: return dot_legacy<BlockQ5_0>(weight_row, activation_row, n);
    case DType::kQ8_0: return dot_legacy<BlockQ8_0>(weight_row, activation_row, n);
    case DType::kQ4_1: return dot_legacy<BlockQ4_1>(weight_row, activation_row, n);
    case DType::kQ5_1: return dot_legacy<BlockQ5_1>(weight_row, activation_row, n);
    case DType::kQ2_K: return dot_k<BlockQ2_K>(weight_row, activation_row, n);
    case DType::kQ3_K: return dot_k<BlockQ3_K>(weight_row, activation_row, n);
    case DType::kQ4_K: return dot_k<BlockQ4_K>(weight_row, activation_row, n);
    case DType::kQ5_K: return dot_k<BlockQ5_K>(weight_row, activation_row, n);
    case DType::kQ6_K: return dot_k<BlockQ6_K>(weight_row, activation_row, n);
    default: return std::nanf("");
  }
}

}  // namespace quant

void quantize_activation_row(DType activation_type, const float* x, void* dst, size_t n) {
  // Q8_1 and Q8_K are activation-only formats whose quantizers are already one pass; Q8_0's weight
  // quantizer searches its scale, which activations (re-quantized every token) cannot afford.
  switch (activation_type) {
    case DType::kQ8_0: quant::quantize_q8_0_activations(x, dst, n); return;
    case DType::kQ8_1: quant::quantize_legacy_blocks(activation_type, x, nullptr, dst, n); return;
    case DType::kQ8_K: quant::quantize_k_blocks(activation_type, x, nullptr, dst, n); return;
    default: return;
  }
}

}  // namespace ferrum
