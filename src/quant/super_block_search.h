// The K-quant encoder shared by Q2_K .. Q6_K. A super-block of 256 values is split into sub-blocks;
// each value decodes as
//   affine types (Q2_K, Q4_K, Q5_K):  (d * scale_j) * q - (dmin * min_j),  q in [0, q_max]
//   symmetric types (Q3_K, Q6_K):     (d * scale_j) * (q - q_bias)
// with small integer scale_j / min_j and f16 d / dmin. Finding a good code is a two-level search:
//   1. each sub-block gets its own best real scale (and min) from the weighted least-squares fan search;
//   2. those are quantized against a shared d / dmin, then refined in turns: (a) every sub-block tries
//      the neighbouring integer scale / min values with d / dmin fixed, (b) d / dmin are re-solved by
//      least squares for the chosen integers and rounded to f16. Each step is kept only if the true
//      decoded error (evaluated exactly as the decoder computes values) goes down.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ferrum::quant {

struct SuperBlockFormat {
  size_t sub_size;  // values per sub-block (16 or 32)
  int q_max;        // stored q in [0, q_max]
  int q_bias;       // symmetric types decode q - q_bias; 0 for affine types
  int scale_lo;     // integer sub-block scale range
  int scale_hi;
  int min_hi;  // integer sub-block min range [0, min_hi]; 0 for symmetric types

  bool affine() const { return min_hi > 0; }
  size_t sub_blocks() const { return 256 / sub_size; }
};

struct SuperBlockCode {
  float d = 0;     // f16-representable, as stored
  float dmin = 0;  // f16-representable, as stored (affine types)
  int scales[16] = {};
  int mins[16] = {};
  uint8_t q[256] = {};  // stored integers in [0, q_max]
};

// Encodes 256 values `x` with weights `w` (both 256 long); returns the weighted squared error.
double encode_super_block(const SuperBlockFormat& format, const float* x, const float* w, SuperBlockCode& code);

}  // namespace ferrum::quant
