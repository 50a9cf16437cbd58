#include "quant/block_integers.h"

#include <cstring>

#include "quant/half_fast.h"

namespace ferrum::quant {
namespace {

void unpack_nibbles(const uint8_t* qs, int bias, int8_t* level) {
  for (size_t j = 0; j < kLegacyBlock / 2; ++j) {
    level[j] = static_cast<int8_t>((qs[j] & 0xF) - bias);
    level[j + 16] = static_cast<int8_t>((qs[j] >> 4) - bias);
  }
}

void add_fifth_bits(const uint8_t* qh_bytes, int8_t* level) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, sizeof qh);
  for (size_t j = 0; j < kLegacyBlock; ++j) level[j] = static_cast<int8_t>(level[j] + (((qh >> j) & 1u) << 4));
}

// Q2_K / Q3_K order of 2-bit fields: value 128h + 32s + l is bits 2s..2s+1 of qs[32h + l].
int two_bit_field(const uint8_t* qs, size_t i) {
  return (qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
}

void unpack_k4_groups(const uint8_t* packed, SuperBlockIntegers& out) {
  out.group_size = 32;
  for (size_t j = 0; j < 8; ++j) {
    uint8_t scale, min;
    unpack_k4_scale_min(packed, j, scale, min);
    out.scale[j] = scale;
    out.min[j] = min;
  }
}

}  // namespace

void unpack_integers(const BlockQ4_0& block, LegacyIntegers& out) {
  unpack_nibbles(block.qs, 8, out.level);
  out.d = half_to_float(block.d);
  out.m = 0;
}

void unpack_integers(const BlockQ4_1& block, LegacyIntegers& out) {
  unpack_nibbles(block.qs, 0, out.level);
  out.d = half_to_float(block.d);
  out.m = half_to_float(block.m);
}

void unpack_integers(const BlockQ5_0& block, LegacyIntegers& out) {
  unpack_nibbles(block.qs, 0, out.level);
  add_fifth_bits(block.qh, out.level);
  for (int8_t& level : out.level) level = static_cast<int8_t>(level - 16);
  out.d = half_to_float(block.d);
  out.m = 0;
}

void unpack_integers(const BlockQ5_1& block, LegacyIntegers& out) {
  unpack_nibbles(block.qs, 0, out.level);
  add_fifth_bits(block.qh, out.level);
  out.d = half_to_float(block.d);
  out.m = half_to_float(block.m);
}

void unpack_integers(const BlockQ8_0& block, LegacyIntegers& out) {
  std::memcpy(out.level, block.qs, sizeof out.level);
  out.d = half_to_float(block.d);
  out.m = 0;
}

void unpack_integers(const BlockQ2_K& block, SuperBlockIntegers& out) {
  out.group_size = 16;
  for (size_t g = 0; g < 16; ++g) {
    out.scale[g] = block.scales[g] & 0xF;
    out.min[g] = block.scales[g] >> 4;
  }
  for (size_t i = 0; i < kSuperBlock; ++i) out.level[i] = static_cast<int8_t>(two_bit_field(block.qs, i));
  out.d = half_to_float(block.d);
  out.dmin = half_to_float(block.dmin);
}

void unpack_integers(const BlockQ3_K& block, SuperBlockIntegers& out) {
  out.group_size = 16;
  int8_t scales[16];
  unpack_q3_k_scales(block.scales, scales);
  for (size_t g = 0; g < 16; ++g) out.scale[g] = scales[g], out.min[g] = 0;
  for (size_t i = 0; i < kSuperBlock; ++i) {
    const bool high = (block.hmask[i % 32] >> (i / 32)) & 1;
    out.level[i] = static_cast<int8_t>(two_bit_field(block.qs, i) - (high ? 0 : 4));
  }
  out.d = half_to_float(block.d);
  out.dmin = 0;
}

void unpack_integers(const BlockQ4_K& block, SuperBlockIntegers& out) {
  unpack_k4_groups(block.scales, out);
  for (size_t i = 0; i < kSuperBlock; ++i) {
    const size_t sub = i / 32;
    out.level[i] = static_cast<int8_t>((block.qs[32 * (sub / 2) + i % 32] >> (4 * (sub % 2))) & 0xF);
  }
  out.d = half_to_float(block.d);
  out.dmin = half_to_float(block.dmin);
}

void unpack_integers(const BlockQ5_K& block, SuperBlockIntegers& out) {
  unpack_k4_groups(block.scales, out);
  for (size_t i = 0; i < kSuperBlock; ++i) {
    const size_t sub = i / 32;
    const int low = (block.qs[32 * (sub / 2) + i % 32] >> (4 * (sub % 2))) & 0xF;
    const int high = (block.qh[i % 32] >> sub) & 1;
    out.level[i] = static_cast<int8_t>(low | (high << 4));
  }
  out.d = half_to_float(block.d);
  out.dmin = half_to_float(block.dmin);
}

void unpack_integers(const BlockQ6_K& block, SuperBlockIntegers& out) {
  out.group_size = 16;
  for (size_t g = 0; g < 16; ++g) out.scale[g] = block.scales[g], out.min[g] = 0;
  for (size_t i = 0; i < kSuperBlock; ++i) {
    const size_t half = i / 128, quarter = (i % 128) / 32, l = i % 32;
    const uint8_t low_byte = block.ql[64 * half + l + 32 * (quarter % 2)];
    const int low4 = quarter < 2 ? (low_byte & 0xF) : (low_byte >> 4);
    const int high2 = (block.qh[32 * half + l] >> (2 * quarter)) & 3;
    out.level[i] = static_cast<int8_t>((low4 | (high2 << 4)) - 32);
  }
  out.d = half_to_float(block.d);
  out.dmin = 0;
}

}  // namespace ferrum::quant
