// GPTQ checkpoints (AutoGPTQ / GPTQModel): unpacking qweight / qzeros / scales / g_idx into an f32
// Linear weight. Layouts, as stored (pf = 32 / bits values per int32 word, least-significant first):
//   qweight i32 [K / pf, N]  packed along K, the input dimension
//   qzeros  i32 [G, N / pf]  packed along N; v1 checkpoints store zero - 1
//   scales  f16 [G, N]
//   g_idx   i32 [K]          group of each input channel (act-order makes it non-monotonic)
// W[n, k] = (q[k, n] - zero[g_idx[k], n]) * scales[g_idx[k], n]; exact in f32 for 8-bit q and f16 scales.
#pragma once

#include <cstdint>
#include <span>

#include "core/error.h"
#include "core/tensor_view.h"
#include "quant/grouped_weight.h"
#include "quant/packed_linear.h"

namespace ferrum::quant {

// How the zero points are stored: AutoGPTQ's v1 writes zero - 1 ("gptq"), GPTQModel's v2 the zero itself.
enum class GptqCheckpointFormat { kV1, kV2 };

// Mirrors quantization_config / quantize_config.json. Same conventions as the backend's GptqQuant.
struct GptqParams {
  uint32_t bits = 4;        // 2, 4 or 8 (3-bit packing straddles words and is not supported)
  size_t group_size = 128;  // 0 = one group over all input channels (HF configs write -1)
  bool sym = true;          // informational: symmetric checkpoints still store their (constant) zeros
  bool desc_act = false;    // act-order: g_idx is required and decides each channel's group
  GptqCheckpointFormat format = GptqCheckpointFormat::kV1;
};

// Converts a config's group_size (-1 = per-channel) to GptqParams::group_size.
Expected<size_t> gptq_group_size_from_config(int64_t config_group_size);

struct GptqTensors {
  TensorView qweight;
  TensorView qzeros;
  TensorView scales;
  TensorView g_idx;  // may be left empty (null data) unless desc_act
};

// Checks dtypes, shapes against each other and `params`, and that every g_idx entry names a group.
// Returns the layer's shape.
Expected<PackedLinearShape> validate_gptq(const GptqParams& params, const GptqTensors& tensors);

// Whether g_idx names each channel's own group (channel / group_size; group_size 0: one group), as
// AutoGPTQ writes it even without act-order: such a g_idx reorders nothing. Header-only, so the CUDA
// backend's load_gptq and the loader share it.
inline bool gptq_g_idx_is_natural(std::span<const int32_t> g_idx, size_t group_size) {
  for (size_t channel = 0; channel < g_idx.size(); ++channel) {
    const size_t own = group_size == 0 ? 0 : channel / group_size;
    if (g_idx[channel] < 0 || static_cast<size_t>(g_idx[channel]) != own) return false;
  }
  return true;
}

// Writes the Linear weight [out_features, in_features] row-major into `weight` after validating.
Status dequantize_gptq(const GptqParams& params, const GptqTensors& tensors, std::span<float> weight);

// The tensors as the shared GPTQ / AWQ view (after validate_gptq returned `shape`).
GroupedQuantWeight grouped_weight(const GptqParams& params, const GptqTensors& tensors, const PackedLinearShape& shape);

}  // namespace ferrum::quant
