// AWQ checkpoints in AutoAWQ's "GEMM" packing: unpacking qweight / qzeros / scales into an f32
// Linear weight. Layouts, as stored (8 four-bit values per int32 word):
//   qweight i32 [K, N / 8]  packed along N, the output dimension (transposed relative to GPTQ)
//   qzeros  i32 [G, N / 8]  same packing; the zero point is stored as is (no GPTQ-style -1)
//   scales  f16 [G, N]
// Inside a word, nibble i holds column 8c + kAwqNibbleColumn[i]: columns 0,2,4,6,1,3,5,7.
// W[n, k] = (q[k, n] - zero[k / group_size, n]) * scales[k / group_size, n].
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "core/error.h"
#include "core/tensor_view.h"
#include "quant/grouped_weight.h"
#include "quant/packed_linear.h"

namespace ferrum::quant {

// Column (within a word's 8) held by each nibble of an AWQ GEMM word, least-significant nibble first.
inline constexpr std::array<uint32_t, 8> kAwqNibbleColumn = {0, 2, 4, 6, 1, 3, 5, 7};

// Mirrors quantization_config for quant_method "awq", version "gemm" (always asymmetric).
struct AwqParams {
  uint32_t bits = 4;  // only 4 is defined for the GEMM packing
  size_t group_size = 128;
};

struct AwqTensors {
  TensorView qweight;
  TensorView qzeros;
  TensorView scales;
};

// Checks dtypes and shapes against each other and `params`; returns the layer's shape.
Expected<PackedLinearShape> validate_awq(const AwqParams& params, const AwqTensors& tensors);

// Writes the Linear weight [out_features, in_features] row-major into `weight` after validating.
Status dequantize_awq(const AwqParams& params, const AwqTensors& tensors, std::span<float> weight);

// The tensors as the shared GPTQ / AWQ view (after validate_awq returned `shape`).
GroupedQuantWeight grouped_weight(const AwqParams& params, const AwqTensors& tensors, const PackedLinearShape& shape);

}  // namespace ferrum::quant
