// GPTQ and AWQ weights as one read-only view: integer codes packed in 32-bit words with a zero point
// and a scale per (group of input channels, output feature). The one place that knows both packings;
// dequantize_gptq / dequantize_awq and the CPU backend's integer kernels all read codes through it.
//
// GPTQ (v1 checkpoints, AutoGPTQ / GPTQModel "gptq"; v2 stores the zero itself), pf = 32 / bits:
//   qweight [k / pf, n]  packed along k:  q[p, j] = (qweight[p / pf, j] >> bits * (p % pf)) & mask
//   qzeros  [groups, n / pf] packed along n, storing z - 1 (v1) or z (v2)
//   scales  [groups, n];  g_idx [k] names each input row's group (act-order), else p / group_size
// AWQ (AutoAWQ "gemm" format), 4 bits only:
//   qweight [k, n / 8]  packed along n, nibble i of a word holding column 8c + {0,2,4,6,1,3,5,7}[i]
//   qzeros  [groups, n / 8] packed the same way, storing z itself;  scales [groups, n]
// Both: W[j, p] = (q[p, j] - z[g(p), j]) * scale[g(p), j], exact in f32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "quant/int8_panel.h"
#include "quant/packed_linear.h"

namespace ferrum::quant {

enum class PackedLayout { kGptq, kAwq };

struct GroupedQuantWeight {
  PackedLayout layout = PackedLayout::kGptq;
  uint32_t bits = 4;
  size_t k = 0;                   // input features
  size_t n = 0;                   // output features
  size_t group_size = 0;          // 0: one group over all of k
  uint32_t zero_offset = 1;       // added to the stored zero: 1 for GPTQ v1, 0 for GPTQ v2 and AWQ
  const void* qweight = nullptr;  // int32 words (any alignment: read with memcpy)
  const void* qzeros = nullptr;
  const void* scales = nullptr;
  DType scale_dtype = DType::kF32;  // f32, f16 or bf16
  const void* g_idx = nullptr;      // int32 [k], optional (GPTQ only)

  size_t groups() const { return group_size == 0 ? 1 : (k + group_size - 1) / group_size; }
  size_t codes_per_word() const { return 32 / bits; }
  size_t qweight_words() const { return k * n / codes_per_word(); }
  size_t qzeros_words() const { return groups() * n / codes_per_word(); }
  size_t scale_count() const { return groups() * n; }

  size_t group_of(size_t p) const {
    if (g_idx != nullptr) return static_cast<size_t>(word(g_idx, p));
    return group_size == 0 ? 0 : p / group_size;
  }
  uint32_t code(size_t p, size_t j) const {
    if (layout == PackedLayout::kGptq) {
      const size_t per_word = codes_per_word();
      return (word(qweight, (p / per_word) * n + j) >> (bits * (p % per_word))) & mask();
    }
    return (word(qweight, p * (n / 8) + j / 8) >> awq_shift(j)) & 0xFu;
  }
  uint32_t zero(size_t g, size_t j) const {
    const size_t per_word = codes_per_word();
    const uint32_t shift = layout == PackedLayout::kGptq ? bits * static_cast<uint32_t>(j % per_word) : awq_shift(j);
    return ((word(qzeros, g * (n / per_word) + j / per_word) >> shift) & mask()) + zero_offset;
  }
  float scale(size_t g, size_t j) const { return load_float(scales, scale_dtype, g * n + j); }

 private:
  uint32_t mask() const { return (1u << bits) - 1u; }
  static uint32_t word(const void* words, size_t index) {
    uint32_t value;
    std::memcpy(&value, static_cast<const uint8_t*>(words) + index * sizeof value, sizeof value);
    return value;
  }
  // AWQ stores column 8c + i in nibble kAwqNibble[i] (the inverse of its 0,2,4,6,1,3,5,7 order).
  static uint32_t awq_shift(size_t j) {
    constexpr uint32_t kAwqNibble[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    return 4u * kAwqNibble[j % 8];
  }
};

// Checks bits, the divisibility of k and n, the scale dtype and that every g_idx entry names a group.
// Buffer sizes are the caller's to check against qweight_words() and friends.
Status validate_grouped_quant(std::string_view op, const GroupedQuantWeight& weight);

// W [n, k] row-major f32: the exact decoded weight.
void dequantize_grouped(const GroupedQuantWeight& weight, float* dst);

// The order in which input channels are laid into panel positions so that every 32 consecutive
// positions share one quantization group: channels sorted by group (act-order) and each group padded
// to a multiple of 32 with empty positions (-1). Identity (channels empty, positions = k) when the
// groups already fall on 32-channel boundaries.
struct PanelOrder {
  std::vector<int32_t> channels;
  size_t positions = 0;
  bool identity() const { return channels.empty(); }
};
PanelOrder grouped_panel_order(const GroupedQuantWeight& weight);

// Positions per scale / offset entry a whole-matrix panel of `weight` can keep (PanelView::
// scale_group): the longest run (32 times a power of two dividing order.positions / 32) whose
// channels all belong to one quantization group (the padding that ends a group's last block, whose
// codes and activations are 0, aside). 32 when no longer run fits.
size_t shared_scale_positions(const GroupedQuantWeight& weight, const PanelOrder& order);

// Decodes output rows [j0, j0 + rows) (rows <= kPanelRows; lanes past `rows` are cleared) at
// positions [first, first + count) (multiples of 32) into `panel` (group_size 32) from its position 0.
void decode_grouped_to_panel(const GroupedQuantWeight& weight, const PanelOrder& order, size_t j0, size_t rows,
                             size_t first, size_t count, const PanelView& panel);

}  // namespace ferrum::quant
