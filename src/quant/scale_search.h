// Weighted least-squares searches for the scale (and offset) of one group of values quantized to a
// small integer grid. Every quantizer here is built on them. The idea: a plain "map the largest value
// to the end of the grid" scale is rarely the best one, because rounding error depends on where the
// grid points fall. So we try a fan of candidate inverse scales around that start; for each, round
// the values to the grid, then solve for the scale (and offset) that minimise the weighted squared
// error for those integers, re-round with the solved scale as it will be stored, and keep the best.
#pragma once

#include <cstddef>
#include <span>

namespace ferrum::quant {

// Maps a solved scale to the value that will actually be stored (e.g. rounding to f16).
using StoreScale = float (*)(float);

// Identity: the scale is quantized later (K-quant sub-block scales).
float keep_scale(float scale);
// Rounds to the nearest f16 (legacy block scales).
float round_scale_to_f16(float scale);

// y = d * q with integer q in [q_lo, q_hi] (q_lo < 0 <= q_hi). Returns the stored d that minimises
// sum w (x - y)^2 over the candidates tried (0 for an all-zero group). `reference_scale`, when non-zero,
// is tried as is: quantizers pass the simple max-magnitude scale so the result is never worse than it.
float search_symmetric_scale(std::span<const float> x, std::span<const float> w, int q_lo, int q_hi, StoreScale store,
                             float reference_scale);

struct AffineScale {
  float scale = 0;  // y = scale * q + offset, q in [0, q_max]
  float offset = 0;
};

// Best (scale, offset) with both mapped through `store`. When `offset_nonpositive`, the offset is kept
// <= 0 (K-quants store -offset as an unsigned "min"). `reference` is always among the candidates.
AffineScale search_affine_scale(std::span<const float> x, std::span<const float> w, int q_max, bool offset_nonpositive,
                                StoreScale store, AffineScale reference);

// Weighted squared error of y = d * q against x with q = clamp(round(x / d)) in [q_lo, q_hi].
double symmetric_error(std::span<const float> x, std::span<const float> w, float d, int q_lo, int q_hi);
// Weighted squared error of y = scale * q + offset with q = clamp(round((x - offset) / scale)) in [0, q_max].
double affine_error(std::span<const float> x, std::span<const float> w, AffineScale fit, int q_max);

// Nearest integer to `value`, clamped to [lo, hi] (ties away from zero, as std::lround).
int round_clamp(float value, int lo, int hi);

}  // namespace ferrum::quant
