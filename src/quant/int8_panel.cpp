#include "quant/int8_panel.h"

#if defined(__SSSE3__)
#include <tmmintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstring>
#include <type_traits>
#include <vector>

#include "quant/block_types.h"
#include "quant/half_fast.h"

namespace ferrum::quant {
namespace {

// The panel's codes from 16 staging rows of `count` codes (a multiple of 16): 4 x 4 transposes of
// 4-byte pieces, so that each store writes 4 lanes' pieces of one position group side by side (16
// bytes), where writing each row into the panel stores one 4-byte piece 64 bytes from the last.
void transpose_staging(const uint8_t* staging, size_t count, uint8_t* codes) {
  for (size_t lane = 0; lane < kPanelRows; lane += 4) {
    const uint8_t* rows = staging + lane * count;
    for (size_t p = 0; p < count; p += 16) {
#if defined(__SSE2__)
      const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows + p));
      const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows + count + p));
      const __m128i r2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows + 2 * count + p));
      const __m128i r3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows + 3 * count + p));
      const __m128i low01 = _mm_unpacklo_epi32(r0, r1), low23 = _mm_unpacklo_epi32(r2, r3);
      const __m128i high01 = _mm_unpackhi_epi32(r0, r1), high23 = _mm_unpackhi_epi32(r2, r3);
      const __m128i groups[4] = {_mm_unpacklo_epi64(low01, low23), _mm_unpackhi_epi64(low01, low23),
                                 _mm_unpacklo_epi64(high01, high23), _mm_unpackhi_epi64(high01, high23)};
      for (size_t g = 0; g < 4; ++g) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + panel_code_index(p + 4 * g, lane)), groups[g]);
      }
#else
      for (size_t g = 0; g < 4; ++g) {
        for (size_t r = 0; r < 4; ++r) {
          std::memcpy(codes + panel_code_index(p + 4 * g, lane + r), rows + r * count + p + 4 * g, 4);
        }
      }
#endif
    }
  }
}

// The bias that makes a legacy type's signed levels unsigned codes (level = code - bias).
template <class Block>
constexpr int level_bias() {
  if constexpr (std::is_same_v<Block, BlockQ4_0>) return 8;
  if constexpr (std::is_same_v<Block, BlockQ5_0>) return 16;
  return 0;
}

// The 32 codes of a legacy block into `out`: the nibbles (value j in byte j's low half, value j + 16
// in its high half) plus, for Q5_0 / Q5_1, bit j of qh as value j's fifth bit; with SSSE3 two
// 16-byte stores.
template <class Block>
void legacy_codes(const Block& block, uint8_t* out) {
  constexpr bool kFiveBits = std::is_same_v<Block, BlockQ5_0> || std::is_same_v<Block, BlockQ5_1>;
#if defined(__SSSE3__)
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.qs));
  const __m128i nibble = _mm_set1_epi8(0x0F);
  __m128i low = _mm_and_si128(packed, nibble), high = _mm_and_si128(_mm_srli_epi16(packed, 4), nibble);
  if constexpr (kFiveBits) {
    uint32_t fifth;
    std::memcpy(&fifth, block.qh, sizeof fifth);
    // Byte j of a half gets bit j of its 16 qh bits: the byte holding it, broadcast, then masked.
    const __m128i bits = _mm_set1_epi32(static_cast<int>(fifth));
    const __m128i select = _mm_set1_epi64x(static_cast<int64_t>(0x8040201008040201));
    const __m128i sixteen = _mm_set1_epi8(16);
    const auto spread = [&](__m128i byte_of_bit) {
      const __m128i bytes = _mm_and_si128(_mm_shuffle_epi8(bits, byte_of_bit), select);
      return _mm_and_si128(_mm_cmpeq_epi8(bytes, select), sixteen);
    };
    low = _mm_or_si128(low, spread(_mm_set_epi64x(0x0101010101010101, 0)));
    high = _mm_or_si128(high, spread(_mm_set_epi64x(0x0303030303030303, 0x0202020202020202)));
  }
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), low);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), high);
#else
  uint32_t fifth = 0;
  if constexpr (kFiveBits) std::memcpy(&fifth, block.qh, sizeof fifth);
  for (size_t l = 0; l < kLegacyBlock / 2; ++l) {
    out[l] = static_cast<uint8_t>((block.qs[l] & 0xF) | (((fifth >> l) & 1) << 4));
    out[l + 16] = static_cast<uint8_t>((block.qs[l] >> 4) | (((fifth >> (l + 16)) & 1) << 4));
  }
#endif
}

// Legacy blocks (32 values, one group): w = d * level + m = d * code + (m - bias * d).
template <class Block>
void decode_legacy_row(const void* row, size_t k, size_t lane, uint8_t* codes, const PanelView& panel) {
  const auto* blocks = static_cast<const Block*>(row);
  constexpr int bias = level_bias<Block>();
  constexpr bool kHasOffset = std::is_same_v<Block, BlockQ4_1> || std::is_same_v<Block, BlockQ5_1>;
  for (size_t b = 0; b < k / kLegacyBlock; ++b) {
    const Block& block = blocks[b];
    legacy_codes(block, codes + b * kLegacyBlock);
    const float d = half_to_float(block.d);
    panel.scales[b * kPanelRows + lane] = d;
    float m = 0.0f;
    if constexpr (kHasOffset) m = half_to_float(block.m);
    panel.offsets[b * kPanelRows + lane] = m - static_cast<float>(bias) * d;  // exact: bias is a power of two
  }
}

// The K-quants and Q8_0 likewise, each block's codes written in place into the lane's row.

// Q4_K and Q5_K's eight groups of 32: scale d * sc, offset -dmin * m.
void store_k4_groups(const uint8_t* packed_scales, float d, float dmin, size_t block, size_t lane,
                     const PanelView& panel) {
  for (size_t j = 0; j < 8; ++j) {
    uint8_t scale, min;
    unpack_k4_scale_min(packed_scales, j, scale, min);
    const size_t index = (block * 8 + j) * kPanelRows + lane;
    panel.scales[index] = d * static_cast<float>(scale);
    panel.offsets[index] = -(dmin * static_cast<float>(min));
  }
}

// Q4_K: sub-block pair p shares qs[32p..32p+31], low nibbles first. Q5_K adds the fifth bit:
// qh[l] bit 2p for the low nibbles of pair p, bit 2p + 1 for the high ones.
template <bool kFifthBit, class Block>
void decode_k4_row(const void* row, size_t k, size_t lane, uint8_t* row_codes, const PanelView& panel) {
  const auto* blocks = static_cast<const Block*>(row);
  for (size_t b = 0; b < k / kSuperBlock; ++b) {
    const Block& block = blocks[b];
    uint8_t* codes = row_codes + b * kSuperBlock;
    for (size_t pair = 0; pair < 4; ++pair) {
      for (size_t l = 0; l < 32; ++l) {
        codes[64 * pair + l] = block.qs[32 * pair + l] & 0xF;
        codes[64 * pair + 32 + l] = block.qs[32 * pair + l] >> 4;
      }
      if constexpr (kFifthBit) {
        for (size_t l = 0; l < 32; ++l) {
          codes[64 * pair + l] |= static_cast<uint8_t>(((block.qh[l] >> (2 * pair)) & 1) << 4);
          codes[64 * pair + 32 + l] |= static_cast<uint8_t>(((block.qh[l] >> (2 * pair + 1)) & 1) << 4);
        }
      }
    }
    store_k4_groups(block.scales, half_to_float(block.d), half_to_float(block.dmin), b, lane, panel);
  }
}

// Q2_K's 16 groups of 16: scale d * (scales[g] & 15), offset -dmin * (scales[g] >> 4).
void two_bit_groups(const BlockQ2_K& block, float* scales, float* offsets) {
  const float d = half_to_float(block.d), dmin = half_to_float(block.dmin);
  for (size_t g = 0; g < 16; ++g) {
    scales[g] = d * static_cast<float>(block.scales[g] & 0xF);
    offsets[g] = -(dmin * static_cast<float>(block.scales[g] >> 4));
  }
}

// Q3_K's 16 groups of 16 with signed 6-bit scales: value (d * sc) * (code - 4).
void two_bit_groups(const BlockQ3_K& block, float* scales, float* offsets) {
  int8_t signed_scales[16];
  unpack_q3_k_scales(block.scales, signed_scales);
  const float d = half_to_float(block.d);
  for (size_t g = 0; g < 16; ++g) {
    scales[g] = d * static_cast<float>(signed_scales[g]);
    offsets[g] = -(4.0f * scales[g]);
  }
}

// Q2_K and Q3_K: value 128h + 32s + l is bits 2s..2s+1 of qs[32h + l]; Q3_K adds bit 4h + s of
// hmask[l] as the third bit (code 0..7).
template <class Block>
void decode_two_bit_row(const void* row, size_t k, size_t lane, uint8_t* row_codes, const PanelView& panel) {
  const auto* blocks = static_cast<const Block*>(row);
  for (size_t b = 0; b < k / kSuperBlock; ++b) {
    const Block& block = blocks[b];
    uint8_t* codes = row_codes + b * kSuperBlock;
    for (size_t half = 0; half < 2; ++half) {
      for (size_t shift = 0; shift < 4; ++shift) {
        for (size_t l = 0; l < 32; ++l) {
          uint8_t code = (block.qs[32 * half + l] >> (2 * shift)) & 3;
          if constexpr (std::is_same_v<Block, BlockQ3_K>) {
            code = static_cast<uint8_t>(code | (((block.hmask[l] >> (4 * half + shift)) & 1) << 2));
          }
          codes[128 * half + 32 * shift + l] = code;
        }
      }
    }
    float scales[16], offsets[16];
    two_bit_groups(block, scales, offsets);
    for (size_t g = 0; g < 16; ++g) {
      const size_t index = (b * 16 + g) * kPanelRows + lane;
      panel.scales[index] = scales[g];
      panel.offsets[index] = offsets[g];
    }
  }
}

// Q6_K: code = low nibble | two high bits (0..63); value (d * sc) * (code - 32).
void decode_q6_k_row(const void* row, size_t k, size_t lane, uint8_t* row_codes, const PanelView& panel) {
  const auto* blocks = static_cast<const BlockQ6_K*>(row);
  for (size_t b = 0; b < k / kSuperBlock; ++b) {
    const BlockQ6_K& block = blocks[b];
    uint8_t* codes = row_codes + b * kSuperBlock;
    for (size_t half = 0; half < 2; ++half) {
      const uint8_t* ql = block.ql + 64 * half;
      const uint8_t* qh = block.qh + 32 * half;
      uint8_t* out = codes + 128 * half;
      for (size_t l = 0; l < 32; ++l) {
        out[l] = static_cast<uint8_t>((ql[l] & 0xF) | ((qh[l] & 3) << 4));
        out[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
        out[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
        out[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
      }
    }
    const float d = half_to_float(block.d);
    for (size_t g = 0; g < 16; ++g) {
      const float scale = d * static_cast<float>(block.scales[g]);
      const size_t index = (b * 16 + g) * kPanelRows + lane;
      panel.scales[index] = scale;
      panel.offsets[index] = -(32.0f * scale);
    }
  }
}

// Q8_0: code = q + 128, offset -128 * d.
void decode_q8_0_row(const void* row, size_t k, size_t lane, uint8_t* codes, const PanelView& panel) {
  const auto* blocks = static_cast<const BlockQ8_0*>(row);
  for (size_t b = 0; b < k / kLegacyBlock; ++b) {
    for (size_t j = 0; j < kLegacyBlock; ++j)
      codes[b * kLegacyBlock + j] = static_cast<uint8_t>(blocks[b].qs[j] ^ 0x80);
    const float d = half_to_float(blocks[b].d);
    panel.scales[b * kPanelRows + lane] = d;
    panel.offsets[b * kPanelRows + lane] = -(128.0f * d);
  }
}

// One row of `k` values (whole blocks of `type`): its codes in order into `codes`, its groups'
// scales and offsets into lane `lane` of `panel`.
void decode_row(DType type, const void* row, size_t k, size_t lane, uint8_t* codes, const PanelView& panel) {
  switch (type) {
    case DType::kQ4_0: decode_legacy_row<BlockQ4_0>(row, k, lane, codes, panel); return;
    case DType::kQ4_1: decode_legacy_row<BlockQ4_1>(row, k, lane, codes, panel); return;
    case DType::kQ5_0: decode_legacy_row<BlockQ5_0>(row, k, lane, codes, panel); return;
    case DType::kQ5_1: decode_legacy_row<BlockQ5_1>(row, k, lane, codes, panel); return;
    case DType::kQ8_0: decode_q8_0_row(row, k, lane, codes, panel); return;
    case DType::kQ2_K: decode_two_bit_row<BlockQ2_K>(row, k, lane, codes, panel); return;
    case DType::kQ3_K: decode_two_bit_row<BlockQ3_K>(row, k, lane, codes, panel); return;
    case DType::kQ4_K: decode_k4_row<false, BlockQ4_K>(row, k, lane, codes, panel); return;
    case DType::kQ5_K: decode_k4_row<true, BlockQ5_K>(row, k, lane, codes, panel); return;
    case DType::kQ6_K: decode_q6_k_row(row, k, lane, codes, panel); return;
    default: return;
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

uint32_t panel_code_bits(DType type) {
  switch (type) {
    case DType::kQ2_K: return 2;
    case DType::kQ3_K: return 3;
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ4_K: return 4;
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ5_K: return 5;
    case DType::kQ6_K: return 6;
    default: return 8;
  }
}

void decode_tile_to_panel(DType type, const uint8_t* first_row, size_t row_bytes, size_t rows, size_t k,
                          const PanelView& panel) {
  thread_local std::vector<uint8_t> staging;
  staging.resize(kPanelRows * k);
  const size_t groups = k / panel.group_size;
  for (size_t lane = 0; lane < kPanelRows; ++lane) {
    uint8_t* codes = staging.data() + lane * k;
    if (lane < rows) {
      decode_row(type, first_row + lane * row_bytes, k, lane, codes, panel);
      continue;
    }
    std::memset(codes, 0, k);
    for (size_t g = 0; g < groups; ++g) {
      panel.scales[g * kPanelRows + lane] = 0.0f;
      panel.offsets[g * kPanelRows + lane] = 0.0f;
    }
  }
  transpose_staging(staging.data(), k, panel.codes);
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
