#include "quant/grouped_weight.h"

#include <algorithm>
#include <vector>

namespace ferrum::quant {
namespace {

constexpr size_t kPanelGroup = 32;

}  // namespace

Status validate_grouped_quant(std::string_view op, const GroupedQuantWeight& w) {
  const char* name = w.layout == PackedLayout::kGptq ? "gptq" : "awq";
  if (w.layout == PackedLayout::kGptq) {
    FERRUM_CHECK(w.bits == 2 || w.bits == 4 || w.bits == 8, ErrorCode::kUnsupported, op, ": gptq with bits=", w.bits,
                 " (2, 4 and 8 are supported)");
  } else {
    FERRUM_CHECK(w.bits == 4, ErrorCode::kUnsupported, op, ": awq with bits=", w.bits, " (only 4 is supported)");
  }
  FERRUM_CHECK(w.scale_dtype == DType::kF32 || w.scale_dtype == DType::kF16 || w.scale_dtype == DType::kBF16,
               ErrorCode::kUnsupported, op, ": ", name, " scales have dtype ", w.scale_dtype, " (f32, f16 or bf16)");
  const size_t per_word = w.codes_per_word();
  FERRUM_CHECK(w.n % per_word == 0, ErrorCode::kShapeMismatch, op, ": ", name, " n=", w.n, " is not a multiple of the ",
               per_word, " codes packed per word");
  if (w.layout == PackedLayout::kGptq) {
    FERRUM_CHECK(w.k % per_word == 0, ErrorCode::kShapeMismatch, op, ": gptq k=", w.k, " is not a multiple of the ",
                 per_word, " codes packed per word");
  }
  if (w.g_idx != nullptr) {
    const size_t groups = w.groups();
    for (size_t p = 0; p < w.k; ++p) {
      int32_t group;
      std::memcpy(&group, static_cast<const uint8_t*>(w.g_idx) + p * sizeof group, sizeof group);
      FERRUM_CHECK(group >= 0 && static_cast<size_t>(group) < groups, ErrorCode::kOutOfRange, op, ": g_idx[", p,
                   "] = ", group, " is not one of the ", groups, " groups");
    }
  }
  return ok();
}

void dequantize_grouped(const GroupedQuantWeight& w, float* dst) {
  for (size_t j = 0; j < w.n; ++j) {
    for (size_t p = 0; p < w.k; ++p) {
      const size_t g = w.group_of(p);
      // q - zero is a small integer, so the difference is exact and the product rounds once.
      const float level = static_cast<float>(static_cast<int32_t>(w.code(p, j)) - static_cast<int32_t>(w.zero(g, j)));
      dst[j * w.k + p] = level * w.scale(g, j);
    }
  }
}

PanelOrder grouped_panel_order(const GroupedQuantWeight& w) {
  PanelOrder order;
  const bool aligned_groups = w.group_size == 0 ? w.k % kPanelGroup == 0 : w.group_size % kPanelGroup == 0;
  if (w.g_idx == nullptr && aligned_groups && w.k % kPanelGroup == 0) {
    order.positions = w.k;
    return order;
  }
  std::vector<std::vector<int32_t>> members(w.groups());
  for (size_t p = 0; p < w.k; ++p) members[w.group_of(p)].push_back(static_cast<int32_t>(p));
  for (const std::vector<int32_t>& group : members) {
    order.channels.insert(order.channels.end(), group.begin(), group.end());
    const size_t padded = (group.size() + kPanelGroup - 1) / kPanelGroup * kPanelGroup;
    order.channels.resize(order.channels.size() + padded - group.size(), -1);
  }
  order.positions = order.channels.size();
  return order;
}

size_t shared_scale_positions(const GroupedQuantWeight& w, const PanelOrder& order) {
  const size_t blocks = order.positions / kPanelGroup;
  // The quantization group of each 32-position block; -1 for a block of padding only.
  std::vector<int64_t> block_group(blocks, -1);
  for (size_t b = 0; b < blocks; ++b) {
    for (size_t i = 0; i < kPanelGroup && block_group[b] < 0; ++i) {
      const size_t p = b * kPanelGroup + i;
      const int32_t channel = order.identity() ? static_cast<int32_t>(p) : order.channels[p];
      if (channel >= 0) block_group[b] = static_cast<int64_t>(w.group_of(static_cast<size_t>(channel)));
    }
  }
  // A block of padding only (none exists while every group has channels) shares with none other,
  // so an entry's first block always holds its scale.
  const auto runs_share_groups = [&](size_t run) {
    for (size_t start = 0; start < blocks; start += run) {
      for (size_t b = start + 1; b < start + run; ++b) {
        if (block_group[b] != block_group[start]) return false;
      }
    }
    return true;
  };
  size_t run = 1;
  while (blocks > 0 && blocks % (2 * run) == 0) run *= 2;
  while (run > 1 && !runs_share_groups(run)) run /= 2;
  return run * kPanelGroup;
}

void decode_grouped_to_panel(const GroupedQuantWeight& w, const PanelOrder& order, size_t j0, size_t rows, size_t first,
                             size_t count, const PanelView& panel) {
  const size_t groups = count / kPanelGroup;
  for (size_t lane = 0; lane < kPanelRows; ++lane) {
    if (lane >= rows) {
      clear_panel_lane(lane, groups, panel);
      continue;
    }
    const size_t j = j0 + lane;
    for (size_t g = 0; g < groups; ++g) {
      // Every channel of a panel group belongs to one quantization group (grouped_panel_order).
      size_t quant_group = 0;
      bool found = false;
      for (size_t i = 0; i < kPanelGroup; ++i) {
        const size_t p = g * kPanelGroup + i;  // in the panel; first + p in the row
        const int32_t channel = order.identity() ? static_cast<int32_t>(first + p) : order.channels[first + p];
        uint8_t code = 0;
        if (channel >= 0) {
          if (!found) quant_group = w.group_of(static_cast<size_t>(channel)), found = true;
          code = static_cast<uint8_t>(w.code(static_cast<size_t>(channel), j));
        }
        panel.codes[panel_code_index(p, lane)] = code;
      }
      const float scale = found ? w.scale(quant_group, j) : 0.0f;
      const float zero = found ? static_cast<float>(w.zero(quant_group, j)) : 0.0f;
      panel.scales[g * kPanelRows + lane] = scale;
      // Exact for f16 / bf16 scales (11 or 8 significant bits times a zero of at most 9 bits);
      // f32 scales round once here.
      panel.offsets[g * kPanelRows + lane] = -(zero * scale);
    }
  }
}

}  // namespace ferrum::quant
