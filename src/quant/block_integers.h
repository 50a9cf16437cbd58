// Integer views of GGUF blocks for dot products: every value as a small signed level plus the
// block's scales, so value i = d * scale[g] * level[i] - dmin * min[g] with g = i / group_size.
// The scalar vec_dot reference is built on these; the SIMD kernels are tested against it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/block_types.h"

namespace ferrum::quant {

// A legacy block: value j = d * level[j] + m.
struct LegacyIntegers {
  int8_t level[kLegacyBlock];
  float d;
  float m;  // 0 for the symmetric types
};

// A K-quant super-block.
struct SuperBlockIntegers {
  int8_t level[kSuperBlock];
  int scale[16];
  int min[16];        // 0 for Q3_K / Q6_K
  size_t group_size;  // values per scale: 16 or 32
  float d;
  float dmin;
};

void unpack_integers(const BlockQ4_0& block, LegacyIntegers& out);
void unpack_integers(const BlockQ4_1& block, LegacyIntegers& out);
void unpack_integers(const BlockQ5_0& block, LegacyIntegers& out);
void unpack_integers(const BlockQ5_1& block, LegacyIntegers& out);
void unpack_integers(const BlockQ8_0& block, LegacyIntegers& out);
void unpack_integers(const BlockQ2_K& block, SuperBlockIntegers& out);
void unpack_integers(const BlockQ3_K& block, SuperBlockIntegers& out);
void unpack_integers(const BlockQ4_K& block, SuperBlockIntegers& out);
void unpack_integers(const BlockQ5_K& block, SuperBlockIntegers& out);
void unpack_integers(const BlockQ6_K& block, SuperBlockIntegers& out);

}  // namespace ferrum::quant
