#include "quant/int8_panel.h"

#include <cstring>
#include <type_traits>

#include "quant/block_integers.h"
#include "quant/block_types.h"
#include "quant/half_fast.h"

namespace ferrum::quant {
namespace {

// Writes `count` codes (a multiple of 4) for positions [first, first + count) of lane `lane`.
void store_codes(const uint8_t* linear, size_t count, size_t first, size_t lane, uint8_t* codes) {
  for (size_t t = 0; t < count; t += 4) std::memcpy(codes + panel_code_index(first + t, lane), linear + t, 4);
}

// The bias that makes a type's signed levels unsigned codes (level = code - bias).
template <class Block>
constexpr int level_bias() {
  if constexpr (std::is_same_v<Block, BlockQ4_0>) return 8;
  if constexpr (std::is_same_v<Block, BlockQ5_0>) return 16;
  if constexpr (std::is_same_v<Block, BlockQ8_0>) return 128;
  if constexpr (std::is_same_v<Block, BlockQ3_K>) return 4;
  if constexpr (std::is_same_v<Block, BlockQ6_K>) return 32;
  return 0;
}

// Legacy blocks (32 values, one group): w = d * level + m = d * code + (m - bias * d).
template <class Block>
void decode_legacy_row(const void* row, size_t k, size_t lane, const PanelView& panel) {
  const auto* blocks = static_cast<const Block*>(row);
  constexpr int bias = level_bias<Block>();
  LegacyIntegers unpacked;
  uint8_t codes[kLegacyBlock];
  for (size_t b = 0; b < k / kLegacyBlock; ++b) {
    unpack_integers(blocks[b], unpacked);
    for (size_t j = 0; j < kLegacyBlock; ++j) codes[j] = static_cast<uint8_t>(unpacked.level[j] + bias);
    store_codes(codes, kLegacyBlock, b * kLegacyBlock, lane, panel.codes);
    panel.scales[b * kPanelRows + lane] = unpacked.d;
    const float bias_term = static_cast<float>(bias) * unpacked.d;  // exact: bias is a power of two
    panel.offsets[b * kPanelRows + lane] = unpacked.m - bias_term;
  }
}

// K-quant super-blocks: group g of 16 or 32 values has w = (d * scale) * level - dmin * min.
template <class Block>
void decode_k_row(const void* row, size_t k, size_t lane, const PanelView& panel) {
  const auto* blocks = static_cast<const Block*>(row);
  constexpr int bias = level_bias<Block>();
  SuperBlockIntegers unpacked;
  uint8_t codes[kSuperBlock];
  for (size_t b = 0; b < k / kSuperBlock; ++b) {
    unpack_integers(blocks[b], unpacked);
    for (size_t i = 0; i < kSuperBlock; ++i) codes[i] = static_cast<uint8_t>(unpacked.level[i] + bias);
    store_codes(codes, kSuperBlock, b * kSuperBlock, lane, panel.codes);
    const size_t groups = kSuperBlock / unpacked.group_size;
    for (size_t g = 0; g < groups; ++g) {
      const float scale = unpacked.d * static_cast<float>(unpacked.scale[g]);
      const float min_term = unpacked.dmin * static_cast<float>(unpacked.min[g]);
      const float bias_term = static_cast<float>(bias) * scale;  // exact: bias is a power of two
      const size_t index = (b * groups + g) * kPanelRows + lane;
      panel.scales[index] = scale;
      panel.offsets[index] = -min_term - bias_term;
    }
  }
}

}  // namespace

size_t panel_group_size(DType type) {
  switch (type) {
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
    case DType::kQ4_K:
    case DType::kQ5_K: return 32;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ6_K: return 16;
    default: return 0;
  }
}

void decode_row_to_panel(DType type, const void* row, size_t k, size_t lane, const PanelView& panel) {
  switch (type) {
    case DType::kQ4_0: decode_legacy_row<BlockQ4_0>(row, k, lane, panel); return;
    case DType::kQ4_1: decode_legacy_row<BlockQ4_1>(row, k, lane, panel); return;
    case DType::kQ5_0: decode_legacy_row<BlockQ5_0>(row, k, lane, panel); return;
    case DType::kQ5_1: decode_legacy_row<BlockQ5_1>(row, k, lane, panel); return;
    case DType::kQ8_0: decode_legacy_row<BlockQ8_0>(row, k, lane, panel); return;
    case DType::kQ2_K: decode_k_row<BlockQ2_K>(row, k, lane, panel); return;
    case DType::kQ3_K: decode_k_row<BlockQ3_K>(row, k, lane, panel); return;
    case DType::kQ4_K: decode_k_row<BlockQ4_K>(row, k, lane, panel); return;
    case DType::kQ5_K: decode_k_row<BlockQ5_K>(row, k, lane, panel); return;
    case DType::kQ6_K: decode_k_row<BlockQ6_K>(row, k, lane, panel); return;
    default: return;
  }
}

void clear_panel_lane(size_t lane, size_t groups, const PanelView& panel) {
  const uint8_t zeros[4] = {0, 0, 0, 0};
  for (size_t p = 0; p < groups * panel.group_size; p += 4)
    std::memcpy(panel.codes + panel_code_index(p, lane), zeros, 4);
  for (size_t g = 0; g < groups; ++g) {
    panel.scales[g * kPanelRows + lane] = 0.0f;
    panel.offsets[g * kPanelRows + lane] = 0.0f;
  }
}

}  // namespace ferrum::quant
