#include "quant/dequantize_reference.h"

#include <cstring>
#include <type_traits>

#include "quant/block_types.h"
#include "quant/half_fast.h"

namespace ferrum::quant {
namespace {

// Every product is written as its own float expression so that no compiler contracts the pair
// "x * d + m" into one rounding (ISO C++ mode keeps -ffp-contract off in GCC; clang only contracts
// within one expression).

void decode_q4_0(const BlockQ4_0* blocks, float* dst, size_t count) {
  for (size_t b = 0; b < count; ++b, dst += kLegacyBlock) {
    const float d = half_to_float(blocks[b].d);
    for (size_t j = 0; j < kLegacyBlock / 2; ++j) {
      dst[j] = static_cast<float>((blocks[b].qs[j] & 0xF) - 8) * d;
      dst[j + 16] = static_cast<float>((blocks[b].qs[j] >> 4) - 8) * d;
    }
  }
}

void decode_q4_1(const BlockQ4_1* blocks, float* dst, size_t count) {
  for (size_t b = 0; b < count; ++b, dst += kLegacyBlock) {
    const float d = half_to_float(blocks[b].d);
    const float m = half_to_float(blocks[b].m);
    for (size_t j = 0; j < kLegacyBlock / 2; ++j) {
      const float low = static_cast<float>(blocks[b].qs[j] & 0xF) * d;
      const float high = static_cast<float>(blocks[b].qs[j] >> 4) * d;
      dst[j] = low + m;
      dst[j + 16] = high + m;
    }
  }
}

uint32_t load_u32(const uint8_t* bytes) {
  uint32_t value;
  std::memcpy(&value, bytes, sizeof value);  // GGUF is little-endian, as is every host we build for
  return value;
}

// The 5-bit values of a Q5_0 / Q5_1 block, unsigned 0..31.
void unpack_q5(const uint8_t* qh_bytes, const uint8_t* qs, int q[kLegacyBlock]) {
  const uint32_t qh = load_u32(qh_bytes);
  for (size_t j = 0; j < kLegacyBlock / 2; ++j) {
    q[j] = static_cast<int>((qs[j] & 0xF) | (((qh >> j) & 1u) << 4));
    q[j + 16] = static_cast<int>((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4));
  }
}

void decode_q5_0(const BlockQ5_0* blocks, float* dst, size_t count) {
  int q[kLegacyBlock];
  for (size_t b = 0; b < count; ++b, dst += kLegacyBlock) {
    const float d = half_to_float(blocks[b].d);
    unpack_q5(blocks[b].qh, blocks[b].qs, q);
    for (size_t j = 0; j < kLegacyBlock; ++j) dst[j] = static_cast<float>(q[j] - 16) * d;
  }
}

void decode_q5_1(const BlockQ5_1* blocks, float* dst, size_t count) {
  int q[kLegacyBlock];
  for (size_t b = 0; b < count; ++b, dst += kLegacyBlock) {
    const float d = half_to_float(blocks[b].d);
    const float m = half_to_float(blocks[b].m);
    unpack_q5(blocks[b].qh, blocks[b].qs, q);
    for (size_t j = 0; j < kLegacyBlock; ++j) {
      const float scaled = static_cast<float>(q[j]) * d;
      dst[j] = scaled + m;
    }
  }
}

template <class Block>
void decode_q8(const Block* blocks, float* dst, size_t count) {
  for (size_t b = 0; b < count; ++b, dst += kLegacyBlock) {
    const float d = half_to_float(blocks[b].d);
    for (size_t j = 0; j < kLegacyBlock; ++j) dst[j] = static_cast<float>(blocks[b].qs[j]) * d;
  }
}

// Q2_K and Q3_K share the order of their 2-bit fields: each half of 128 values reads 32 bytes of qs;
// shift s (0..3) of byte l gives value 32*s + l of the half. Calls emit(sub-block, its 16 fields),
// sub-block g covering values 16g..16g+15.
template <class Emit>
void for_each_2bit_sub_block(const uint8_t* qs, Emit&& emit) {
  int fields[16];
  for (size_t half = 0; half < 2; ++half) {
    for (size_t shift = 0; shift < 4; ++shift) {
      for (size_t part = 0; part < 2; ++part) {
        const uint8_t* bytes = qs + 32 * half + 16 * part;
        for (size_t l = 0; l < 16; ++l) fields[l] = (bytes[l] >> (2 * shift)) & 3;
        emit(8 * half + 2 * shift + part, fields);
      }
    }
  }
}

void decode_q2_k(const BlockQ2_K* blocks, float* dst, size_t count) {
  for (size_t b = 0; b < count; ++b, dst += kSuperBlock) {
    const BlockQ2_K& block = blocks[b];
    const float d = half_to_float(block.d);
    const float dmin = half_to_float(block.dmin);
    for_each_2bit_sub_block(block.qs, [&](size_t sub, const int* q) {
      const float scale = d * static_cast<float>(block.scales[sub] & 0xF);
      const float offset = dmin * static_cast<float>(block.scales[sub] >> 4);
      for (size_t l = 0; l < 16; ++l) {
        const float scaled = scale * static_cast<float>(q[l]);
        dst[16 * sub + l] = scaled - offset;
      }
    });
  }
}

void decode_q3_k(const BlockQ3_K* blocks, float* dst, size_t count) {
  int8_t scales[16];
  for (size_t b = 0; b < count; ++b, dst += kSuperBlock) {
    const BlockQ3_K& block = blocks[b];
    const float d = half_to_float(block.d);
    unpack_q3_k_scales(block.scales, scales);
    for_each_2bit_sub_block(block.qs, [&](size_t sub, const int* q) {
      const float scale = d * static_cast<float>(scales[sub]);
      // hmask byte i % 32 holds the third bits of values i, i + 32, ... i + 224 in bits 0..7.
      const uint8_t* hmask = block.hmask + 16 * (sub % 2);
      const size_t bit = sub / 2;
      for (size_t l = 0; l < 16; ++l) {
        const int high = (hmask[l] >> bit) & 1;
        dst[16 * sub + l] = scale * static_cast<float>(q[l] - 4 + 4 * high);
      }
    });
  }
}

template <class Block>
void decode_q4_q5_k(const Block* blocks, float* dst, size_t count) {
  for (size_t b = 0; b < count; ++b, dst += kSuperBlock) {
    const Block& block = blocks[b];
    const float d = half_to_float(block.d);
    const float dmin = half_to_float(block.dmin);
    for (size_t sub = 0; sub < 8; ++sub) {
      uint8_t scale_bits, min_bits;
      unpack_k4_scale_min(block.scales, sub, scale_bits, min_bits);
      const float scale = d * static_cast<float>(scale_bits);
      const float offset = dmin * static_cast<float>(min_bits);
      // Sub-blocks 2c and 2c+1 share qs bytes 32c..32c+31: low nibbles, then high nibbles.
      const uint8_t* qs = block.qs + 32 * (sub / 2);
      const int nibble_shift = (sub % 2) ? 4 : 0;
      for (size_t l = 0; l < 32; ++l) {
        int q = (qs[l] >> nibble_shift) & 0xF;
        if constexpr (std::is_same_v<Block, BlockQ5_K>) {
          if ((block.qh[l] >> sub) & 1) q += 16;  // qh[l] bit `sub` is value 32*sub + l's fifth bit
        }
        const float scaled = scale * static_cast<float>(q);
        dst[32 * sub + l] = scaled - offset;
      }
    }
  }
}

void decode_q6_k(const BlockQ6_K* blocks, float* dst, size_t count) {
  for (size_t b = 0; b < count; ++b, dst += kSuperBlock) {
    const BlockQ6_K& block = blocks[b];
    const float d = half_to_float(block.d);
    for (size_t half = 0; half < 2; ++half) {
      const uint8_t* ql = block.ql + 64 * half;
      const uint8_t* qh = block.qh + 32 * half;
      const int8_t* scales = block.scales + 8 * half;
      float* out = dst + 128 * half;
      // Quarter k of the half (values 32k..32k+31) takes ql's low (k<2) or high nibble of byte
      // l + 32*(k%2), and bit pair k of qh[l].
      for (size_t l = 0; l < 32; ++l) {
        for (size_t quarter = 0; quarter < 4; ++quarter) {
          const uint8_t low_byte = ql[l + 32 * (quarter % 2)];
          const int low4 = quarter < 2 ? (low_byte & 0xF) : (low_byte >> 4);
          const int high2 = (qh[l] >> (2 * quarter)) & 3;
          const float scale = d * static_cast<float>(scales[l / 16 + 2 * quarter]);
          out[32 * quarter + l] = scale * static_cast<float>((low4 | (high2 << 4)) - 32);
        }
      }
    }
  }
}

void decode_q8_k(const BlockQ8_K* blocks, float* dst, size_t count) {
  for (size_t b = 0; b < count; ++b, dst += kSuperBlock) {
    for (size_t j = 0; j < kSuperBlock; ++j) dst[j] = blocks[b].d * static_cast<float>(blocks[b].qs[j]);
  }
}

}  // namespace

bool is_gguf_block_type(DType type) {
  switch (type) {
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
    case DType::kQ8_1:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ8_K: return true;
    default: return false;
  }
}

void dequantize_blocks_reference(DType type, const void* src, float* dst, size_t n) {
  const size_t blocks = n / dtype_info(type).block_elems;
  switch (type) {
    case DType::kQ4_0: return decode_q4_0(static_cast<const BlockQ4_0*>(src), dst, blocks);
    case DType::kQ4_1: return decode_q4_1(static_cast<const BlockQ4_1*>(src), dst, blocks);
    case DType::kQ5_0: return decode_q5_0(static_cast<const BlockQ5_0*>(src), dst, blocks);
    case DType::kQ5_1: return decode_q5_1(static_cast<const BlockQ5_1*>(src), dst, blocks);
    case DType::kQ8_0: return decode_q8(static_cast<const BlockQ8_0*>(src), dst, blocks);
    case DType::kQ8_1: return decode_q8(static_cast<const BlockQ8_1*>(src), dst, blocks);
    case DType::kQ2_K: return decode_q2_k(static_cast<const BlockQ2_K*>(src), dst, blocks);
    case DType::kQ3_K: return decode_q3_k(static_cast<const BlockQ3_K*>(src), dst, blocks);
    case DType::kQ4_K: return decode_q4_q5_k(static_cast<const BlockQ4_K*>(src), dst, blocks);
    case DType::kQ5_K: return decode_q4_q5_k(static_cast<const BlockQ5_K*>(src), dst, blocks);
    case DType::kQ6_K: return decode_q6_k(static_cast<const BlockQ6_K*>(src), dst, blocks);
    case DType::kQ8_K: return decode_q8_k(static_cast<const BlockQ8_K*>(src), dst, blocks);
    default: break;
  }
}

}  // namespace ferrum::quant
