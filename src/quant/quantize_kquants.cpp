#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/block_types.h"
#include "quant/quantize_blocks.h"
#include "quant/scale_search.h"
#include "quant/super_block_search.h"

namespace ferrum::quant {
namespace {

constexpr SuperBlockFormat kQ2KFormat{16, 3, 0, 0, 15, 15};
constexpr SuperBlockFormat kQ3KFormat{16, 7, 4, -32, 31, 0};
constexpr SuperBlockFormat kQ4KFormat{32, 15, 0, 0, 63, 63};
constexpr SuperBlockFormat kQ5KFormat{32, 31, 0, 0, 63, 63};
constexpr SuperBlockFormat kQ6KFormat{16, 63, 32, -128, 127, 0};

// Packs the 2-bit fields in the order Q2_K and Q3_K share (see dequantize_reference.cpp).
void pack_2bit_fields(const uint8_t* q, uint8_t* qs) {
  std::fill_n(qs, kSuperBlock / 4, 0);
  for (size_t i = 0; i < kSuperBlock; ++i) {
    const size_t half = i / 128, shift = (i % 128) / 32, l = i % 32;
    qs[32 * half + l] |= static_cast<uint8_t>((q[i] & 3) << (2 * shift));
  }
}

// Inverse of unpack_k4_scale_min over all 8 sub-blocks.
void pack_k4_scales(const int* scales, const int* mins, uint8_t* packed) {
  for (size_t j = 0; j < 4; ++j) {
    packed[j] = static_cast<uint8_t>(scales[j] | ((scales[j + 4] >> 4) << 6));
    packed[j + 4] = static_cast<uint8_t>(mins[j] | ((mins[j + 4] >> 4) << 6));
    packed[j + 8] = static_cast<uint8_t>((scales[j + 4] & 0xF) | ((mins[j + 4] & 0xF) << 4));
  }
}

void pack_q2_k(const SuperBlockCode& code, BlockQ2_K& block) {
  for (size_t j = 0; j < 16; ++j) block.scales[j] = static_cast<uint8_t>(code.scales[j] | (code.mins[j] << 4));
  pack_2bit_fields(code.q, block.qs);
  block.d = to_f16(code.d);
  block.dmin = to_f16(code.dmin);
}

void pack_q3_k(const SuperBlockCode& code, BlockQ3_K& block) {
  std::fill_n(block.scales, 12, 0);
  for (size_t i = 0; i < 16; ++i) {
    const int stored = code.scales[i] + 32;  // 0..63
    block.scales[i % 8] |= static_cast<uint8_t>((stored & 0xF) << (i < 8 ? 0 : 4));
    block.scales[8 + i % 4] |= static_cast<uint8_t>((stored >> 4) << (2 * (i / 4)));
  }
  // q in 0..7 decodes as q - 4: low two bits in qs, the third bit in hmask (set = "no -4").
  pack_2bit_fields(code.q, block.qs);
  std::fill_n(block.hmask, 32, 0);
  for (size_t i = 0; i < kSuperBlock; ++i) {
    if (code.q[i] & 4) block.hmask[i % 32] |= static_cast<uint8_t>(1u << (i / 32));
  }
  block.d = to_f16(code.d);
}

void pack_q4_k(const SuperBlockCode& code, BlockQ4_K& block) {
  pack_k4_scales(code.scales, code.mins, block.scales);
  for (size_t pair = 0; pair < 4; ++pair) {
    for (size_t l = 0; l < 32; ++l) {
      block.qs[32 * pair + l] = static_cast<uint8_t>(code.q[64 * pair + l] | (code.q[64 * pair + 32 + l] << 4));
    }
  }
  block.d = to_f16(code.d);
  block.dmin = to_f16(code.dmin);
}

void pack_q5_k(const SuperBlockCode& code, BlockQ5_K& block) {
  pack_k4_scales(code.scales, code.mins, block.scales);
  std::fill_n(block.qh, 32, 0);
  for (size_t pair = 0; pair < 4; ++pair) {
    for (size_t l = 0; l < 32; ++l) {
      const uint8_t low = code.q[64 * pair + l];
      const uint8_t high = code.q[64 * pair + 32 + l];
      block.qs[32 * pair + l] = static_cast<uint8_t>((low & 0xF) | ((high & 0xF) << 4));
      block.qh[l] |= static_cast<uint8_t>(((low >> 4) << (2 * pair)) | ((high >> 4) << (2 * pair + 1)));
    }
  }
  block.d = to_f16(code.d);
  block.dmin = to_f16(code.dmin);
}

void pack_q6_k(const SuperBlockCode& code, BlockQ6_K& block) {
  for (size_t j = 0; j < 16; ++j) block.scales[j] = static_cast<int8_t>(code.scales[j]);
  std::fill_n(block.ql, 128, 0);
  std::fill_n(block.qh, 64, 0);
  for (size_t i = 0; i < kSuperBlock; ++i) {
    const size_t half = i / 128, quarter = (i % 128) / 32, l = i % 32;
    const uint8_t q = code.q[i];
    block.ql[64 * half + l + 32 * (quarter % 2)] |= static_cast<uint8_t>((q & 0xF) << (quarter < 2 ? 0 : 4));
    block.qh[32 * half + l] |= static_cast<uint8_t>((q >> 4) << (2 * quarter));
  }
  block.d = to_f16(code.d);
}

template <class Block, class Pack>
void quantize_super_blocks(const SuperBlockFormat& format, const float* src, const float* importance, void* dst,
                           size_t n, Pack&& pack) {
  auto* blocks = static_cast<Block*>(dst);
  const std::vector<float> ones(kSuperBlock, 1.0f);
  for (size_t b = 0; b < n / kSuperBlock; ++b) {
    SuperBlockCode code;
    const float* weights = importance ? importance + b * kSuperBlock : ones.data();
    encode_super_block(format, src + b * kSuperBlock, weights, code);
    pack(code, blocks[b]);
  }
}

// Q8_K is the activation format of K-quant dot products: one pass, no search.
void quantize_q8_k(const float* src, void* dst, size_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(dst);
  for (size_t b = 0; b < n / kSuperBlock; ++b) {
    const float* x = src + b * kSuperBlock;
    float max_abs = 0;
    for (size_t i = 0; i < kSuperBlock; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
    const float d = max_abs / 127.0f;
    const float inverse = d != 0 ? 1.0f / d : 0.0f;
    BlockQ8_K& block = blocks[b];
    block.d = d;
    for (size_t i = 0; i < kSuperBlock; ++i) block.qs[i] = static_cast<int8_t>(round_clamp(x[i] * inverse, -127, 127));
    for (size_t g = 0; g < kSuperBlock / 16; ++g) {
      int sum = 0;
      for (size_t i = 0; i < 16; ++i) sum += block.qs[16 * g + i];
      block.bsums[g] = static_cast<int16_t>(sum);
    }
  }
}

}  // namespace

bool quantize_k_blocks(DType type, const float* src, const float* importance, void* dst, size_t n) {
  switch (type) {
    case DType::kQ2_K: quantize_super_blocks<BlockQ2_K>(kQ2KFormat, src, importance, dst, n, pack_q2_k); return true;
    case DType::kQ3_K: quantize_super_blocks<BlockQ3_K>(kQ3KFormat, src, importance, dst, n, pack_q3_k); return true;
    case DType::kQ4_K: quantize_super_blocks<BlockQ4_K>(kQ4KFormat, src, importance, dst, n, pack_q4_k); return true;
    case DType::kQ5_K: quantize_super_blocks<BlockQ5_K>(kQ5KFormat, src, importance, dst, n, pack_q5_k); return true;
    case DType::kQ6_K: quantize_super_blocks<BlockQ6_K>(kQ6KFormat, src, importance, dst, n, pack_q6_k); return true;
    case DType::kQ8_K: quantize_q8_k(src, dst, n); return true;
    default: return false;
  }
}

}  // namespace ferrum::quant
