// Weighted least-squares searches for the scale (and offset) of one group of values quantized to a
// small integer grid. Every quantizer here is built on them. The idea: a plain "map the largest value
// to the end of the grid" scale is rarely the best one, because rounding error depends on where the
// grid points fall. So we try a fan of candidate inverse scales around that start; for each, round
// the values to the grid, then solve for the scale (and offset) that minimise the weighted squared
// error for those integers, re-round with the solved scale as it will be stored, and keep the best.
#pragma once

#include <cmath>
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

// Weighted squared error of x against its nearest point of the grid step * q + add, q integer in
// [q_lo, q_hi], computed with the decoders' float operations (the product, then the sum). `n` must be
// a multiple of 8: the loop keeps 8 independent partial sums so the compiler can vectorize it.
float grid_error(const float* x, const float* w, size_t n, float step, float add, int q_lo, int q_hi);

// The q grid_error picks for each value.
void grid_levels(const float* x, size_t n, float step, float add, int q_lo, int q_hi, int* q);

inline float symmetric_error(std::span<const float> x, std::span<const float> w, float d, int q_lo, int q_hi) {
  return grid_error(x.data(), w.data(), x.size(), d, 0.0f, q_lo, q_hi);
}
inline float affine_error(std::span<const float> x, std::span<const float> w, AffineScale fit, int q_max) {
  return grid_error(x.data(), w.data(), x.size(), fit.scale, fit.offset, 0, q_max);
}

// Nearest integer to `value` (ties to even), clamped to [lo, hi]; NaN gives lo. Inline and branch-free
// enough to vectorize: the searches call it hundreds of times per quantized value.
inline int round_clamp(float value, int lo, int hi) {
  const float clamped = value > static_cast<float>(hi)
                            ? static_cast<float>(hi)
                            : (value >= static_cast<float>(lo) ? value : static_cast<float>(lo));
  return static_cast<int>(std::nearbyint(clamped));
}

}  // namespace ferrum::quant
