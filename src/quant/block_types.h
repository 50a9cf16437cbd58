// Memory layouts of the GGUF block-quantized types, byte-for-byte as GGUF files store them, so a
// mapped tensor can be read through these structs without conversion. All fields little-endian.
//
// Legacy types hold 32 values per block with one f16 scale (and, for the *_1 types, an f16 offset).
// K-quants hold 256 values per "super-block" split into sub-blocks whose small integer scales are
// themselves quantized against the super-block's f16 scale(s). docs/quant.md explains every field.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/half.h"

namespace ferrum::quant {

inline constexpr size_t kLegacyBlock = 32;   // values per legacy block (Q4_0 .. Q8_1)
inline constexpr size_t kSuperBlock = 256;   // values per K-quant super-block
inline constexpr size_t kK4ScaleBytes = 12;  // 8 six-bit scales + 8 six-bit mins (Q4_K, Q5_K)

// w = (q - 8) * d, q a nibble. Byte j holds value j (low nibble) and value j + 16 (high nibble).
struct BlockQ4_0 {
  f16 d;
  uint8_t qs[kLegacyBlock / 2];
};

// w = q * d + m, nibbles as in Q4_0.
struct BlockQ4_1 {
  f16 d;
  f16 m;
  uint8_t qs[kLegacyBlock / 2];
};

// w = (q - 16) * d, q = nibble | fifth bit; bit j of qh (a little-endian u32) is value j's fifth bit.
struct BlockQ5_0 {
  f16 d;
  uint8_t qh[4];  // bytes, not a u32: the struct is only 2-byte aligned inside a GGUF row
  uint8_t qs[kLegacyBlock / 2];
};

// w = q * d + m, q as in Q5_0.
struct BlockQ5_1 {
  f16 d;
  f16 m;
  uint8_t qh[4];
  uint8_t qs[kLegacyBlock / 2];
};

// w = q * d, q a signed byte.
struct BlockQ8_0 {
  f16 d;
  int8_t qs[kLegacyBlock];
};

// Q8_0 plus s = d * sum(qs), which lets a dot with an offset (Q4_1 / Q5_1) skip summing qs.
struct BlockQ8_1 {
  f16 d;
  f16 s;
  int8_t qs[kLegacyBlock];
};

// 16 sub-blocks of 16 two-bit values; scales[i] = 4-bit scale (low) | 4-bit min (high) of sub-block i.
// w = (d * scale) * q - (dmin * min).
struct BlockQ2_K {
  uint8_t scales[kSuperBlock / 16];
  uint8_t qs[kSuperBlock / 4];
  f16 d;
  f16 dmin;
};

// 16 sub-blocks of 16 three-bit values: the low two bits in qs (ordered as Q2_K), the third in hmask
// (a set bit means "no -4"). 16 six-bit signed scales (stored +32) packed into 12 bytes.
struct BlockQ3_K {
  uint8_t hmask[kSuperBlock / 8];
  uint8_t qs[kSuperBlock / 4];
  uint8_t scales[12];
  f16 d;
};

// 8 sub-blocks of 32 four-bit values with a 6-bit scale and a 6-bit min each.
// w = (d * scale) * q - (dmin * min).
struct BlockQ4_K {
  f16 d;
  f16 dmin;
  uint8_t scales[kK4ScaleBytes];
  uint8_t qs[kSuperBlock / 2];
};

// Q4_K plus a fifth bit per value in qh.
struct BlockQ5_K {
  f16 d;
  f16 dmin;
  uint8_t scales[kK4ScaleBytes];
  uint8_t qh[kSuperBlock / 8];
  uint8_t qs[kSuperBlock / 2];
};

// 16 sub-blocks of 16 six-bit values (low nibble in ql, top two bits in qh) with signed 8-bit scales.
// w = (d * scale) * (q - 32).
struct BlockQ6_K {
  uint8_t ql[kSuperBlock / 2];
  uint8_t qh[kSuperBlock / 4];
  int8_t scales[kSuperBlock / 16];
  f16 d;
};

// Activation format for K-quant dot products: an f32 scale, signed bytes, and the sum of every 16
// bytes (so a min term costs one multiply per sub-block). Not a weight format.
struct BlockQ8_K {
  float d;
  int8_t qs[kSuperBlock];
  int16_t bsums[kSuperBlock / 16];
};

// Sizes fixed by the GGUF format (and by ferrum's dtype table, checked in tests/unit/quant).
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// Unpacks sub-block j's (0..7) six-bit scale and min from the 12 packed bytes of Q4_K / Q5_K:
// bytes 0-3 hold scales 0-3 and bytes 4-7 mins 0-3 in their low six bits; sub-blocks 4-7 keep their
// low nibbles in bytes 8-11 and their top two bits in the spare top bits of bytes 0-7.
inline void unpack_k4_scale_min(const uint8_t* packed, size_t j, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = static_cast<uint8_t>((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4));
    min = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

// Unpacks Q3_K's 16 six-bit scales (as stored, i.e. +32): low nibbles in bytes 0-7 (sub-blocks 0-7
// low nibble, 8-15 high nibble), top two bits in bytes 8-11 (byte 8 + i % 4, bit pair i / 4).
inline void unpack_q3_k_scales(const uint8_t* packed, int8_t scales[16]) {
  for (size_t i = 0; i < 16; ++i) {
    const uint8_t low4 = i < 8 ? (packed[i] & 0xF) : (packed[i - 8] >> 4);
    const uint8_t high2 = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
    scales[i] = static_cast<int8_t>((low4 | (high2 << 4)) - 32);
  }
}

}  // namespace ferrum::quant
