#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <span>

#include "quant/block_types.h"
#include "quant/quantize_blocks.h"
#include "quant/scale_search.h"

namespace ferrum::quant {
namespace {

using Values = std::span<const float>;

// Weights of one block: the caller's importance, or all ones.
std::array<float, kLegacyBlock> block_weights(const float* importance) {
  std::array<float, kLegacyBlock> weights;
  if (importance == nullptr) {
    weights.fill(1.0f);
  } else {
    std::copy_n(importance, kLegacyBlock, weights.begin());
  }
  return weights;
}

float largest_magnitude(Values x) {
  float extreme = 0;
  for (float value : x) {
    if (std::fabs(value) > std::fabs(extreme)) extreme = value;
  }
  return extreme;
}

// Symmetric block (Q4_0, Q5_0, Q8_0): the stored f16 scale and the signed integers q in [q_lo, q_hi].
// `reference_scale` is the classic one-pass choice, so the search can only improve on it.
f16 quantize_symmetric(Values x, Values w, int q_lo, int q_hi, float reference_scale, int* q) {
  const float d = search_symmetric_scale(x, w, q_lo, q_hi, round_scale_to_f16, reference_scale);
  grid_levels(x.data(), x.size(), d, 0.0f, q_lo, q_hi, q);
  return to_f16(d);
}

// Affine block (Q4_1, Q5_1): stored f16 scale and offset, unsigned q in [0, q_max].
void quantize_affine(Values x, Values w, int q_max, f16& d_out, f16& m_out, int* q) {
  const float lo = *std::min_element(x.begin(), x.end());
  const float hi = *std::max_element(x.begin(), x.end());
  const AffineScale reference{(hi - lo) / static_cast<float>(q_max), lo};
  const AffineScale fit = search_affine_scale(x, w, q_max, false, round_scale_to_f16, reference);
  grid_levels(x.data(), x.size(), fit.scale, fit.offset, 0, q_max, q);
  d_out = to_f16(fit.scale);
  m_out = to_f16(fit.offset);
}

// Nibble packing shared by Q4 and Q5: byte j holds value j (low) and value j + 16 (high).
void pack_nibbles(const int* q, uint8_t* qs) {
  for (size_t j = 0; j < kLegacyBlock / 2; ++j) qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
}

// Fifth bits of Q5 values into the little-endian u32 qh.
void pack_fifth_bits(const int* q, uint8_t* qh) {
  uint32_t bits = 0;
  for (size_t j = 0; j < kLegacyBlock; ++j) bits |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  std::memcpy(qh, &bits, sizeof bits);
}

template <class Block, class Encode>
void for_each_block(const float* src, const float* importance, void* dst, size_t n, Encode&& encode) {
  auto* blocks = static_cast<Block*>(dst);
  for (size_t b = 0; b < n / kLegacyBlock; ++b) {
    const float* x = src + b * kLegacyBlock;
    const auto weights = block_weights(importance ? importance + b * kLegacyBlock : nullptr);
    encode(Values(x, kLegacyBlock), Values(weights), blocks[b]);
  }
}

void quantize_q4_0(const float* src, const float* importance, void* dst, size_t n) {
  for_each_block<BlockQ4_0>(src, importance, dst, n, [](Values x, Values w, BlockQ4_0& block) {
    int q[kLegacyBlock];
    block.d = quantize_symmetric(x, w, -8, 7, largest_magnitude(x) / -8.0f, q);
    for (int& value : q) value += 8;
    pack_nibbles(q, block.qs);
  });
}

void quantize_q5_0(const float* src, const float* importance, void* dst, size_t n) {
  for_each_block<BlockQ5_0>(src, importance, dst, n, [](Values x, Values w, BlockQ5_0& block) {
    int q[kLegacyBlock];
    block.d = quantize_symmetric(x, w, -16, 15, largest_magnitude(x) / -16.0f, q);
    for (int& value : q) value += 16;
    pack_nibbles(q, block.qs);
    pack_fifth_bits(q, block.qh);
  });
}

void quantize_q8_0(const float* src, const float* importance, void* dst, size_t n) {
  for_each_block<BlockQ8_0>(src, importance, dst, n, [](Values x, Values w, BlockQ8_0& block) {
    int q[kLegacyBlock];
    // +-127 rather than -128..127: SIMD dot products elsewhere negate weights with sign tricks.
    block.d = quantize_symmetric(x, w, -127, 127, std::fabs(largest_magnitude(x)) / 127.0f, q);
    for (size_t j = 0; j < kLegacyBlock; ++j) block.qs[j] = static_cast<int8_t>(q[j]);
  });
}

void quantize_q4_1(const float* src, const float* importance, void* dst, size_t n) {
  for_each_block<BlockQ4_1>(src, importance, dst, n, [](Values x, Values w, BlockQ4_1& block) {
    int q[kLegacyBlock];
    quantize_affine(x, w, 15, block.d, block.m, q);
    pack_nibbles(q, block.qs);
  });
}

void quantize_q5_1(const float* src, const float* importance, void* dst, size_t n) {
  for_each_block<BlockQ5_1>(src, importance, dst, n, [](Values x, Values w, BlockQ5_1& block) {
    int q[kLegacyBlock];
    quantize_affine(x, w, 31, block.d, block.m, q);
    pack_nibbles(q, block.qs);
    pack_fifth_bits(q, block.qh);
  });
}

// Q8_1 is an activation format: one pass, no search (it runs once per token per layer).
void quantize_q8_1(const float* src, void* dst, size_t n) {
  auto* blocks = static_cast<BlockQ8_1*>(dst);
  for (size_t b = 0; b < n / kLegacyBlock; ++b) {
    const float* x = src + b * kLegacyBlock;
    float max_abs = 0;
    for (size_t j = 0; j < kLegacyBlock; ++j) max_abs = std::max(max_abs, std::fabs(x[j]));
    const float d = max_abs / 127.0f;
    const float inverse = d != 0 ? 1.0f / d : 0.0f;
    int sum = 0;
    for (size_t j = 0; j < kLegacyBlock; ++j) {
      blocks[b].qs[j] = static_cast<int8_t>(round_clamp(x[j] * inverse, -127, 127));
      sum += blocks[b].qs[j];
    }
    blocks[b].d = to_f16(d);
    // s is the sum of the decoded values, so it uses the scale as stored.
    blocks[b].s = to_f16(to_float(blocks[b].d) * static_cast<float>(sum));
  }
}

}  // namespace

bool quantize_legacy_blocks(DType type, const float* src, const float* importance, void* dst, size_t n) {
  switch (type) {
    case DType::kQ4_0: quantize_q4_0(src, importance, dst, n); return true;
    case DType::kQ4_1: quantize_q4_1(src, importance, dst, n); return true;
    case DType::kQ5_0: quantize_q5_0(src, importance, dst, n); return true;
    case DType::kQ5_1: quantize_q5_1(src, importance, dst, n); return true;
    case DType::kQ8_0: quantize_q8_0(src, importance, dst, n); return true;
    case DType::kQ8_1: quantize_q8_1(src, dst, n); return true;
    default: return false;
  }
}

}  // namespace ferrum::quant
