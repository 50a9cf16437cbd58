#include "quant/scale_search.h"

#include <algorithm>
#include <cmath>

#include "core/half.h"

namespace ferrum::quant {
namespace {

// Candidate inverse scales are (target + kStep * s) / range for s in [-kSteps, kSteps]: a fan of
// grids slightly wider and narrower than the one that puts the extreme value exactly on the end.
constexpr int kSteps = 10;
constexpr float kStep = 0.1f;

constexpr size_t kLanes = 8;

// Clamped to [lo, hi] (NaN to lo) before rounding, with comparisons the compiler turns into min / max.
inline float grid_level(float value, float lo, float hi) {
  const float clamped = value > hi ? hi : (value >= lo ? value : lo);
  return std::nearbyint(clamped);
}

double lane_total(const float* lanes) {
  double total = 0;
  for (size_t k = 0; k < kLanes; ++k) total += lanes[k];
  return total;
}

}  // namespace

float keep_scale(float scale) {
  return scale;
}

float round_scale_to_f16(float scale) {
  return to_float(to_f16(scale));
}

float grid_error(const float* x, const float* w, size_t n, float step, float add, int q_lo, int q_hi) {
  const float inverse = step != 0 ? 1.0f / step : 0.0f;
  const auto lo = static_cast<float>(q_lo), hi = static_cast<float>(q_hi);
  float partial[kLanes] = {};
  for (size_t i = 0; i < n; i += kLanes) {
    for (size_t k = 0; k < kLanes; ++k) {
      const float level = grid_level((x[i + k] - add) * inverse, lo, hi);
      const float scaled = step * level;
      const float diff = x[i + k] - (scaled + add);
      partial[k] += w[i + k] * diff * diff;
    }
  }
  float total = 0;
  for (float value : partial) total += value;
  return total;
}

void grid_levels(const float* x, size_t n, float step, float add, int q_lo, int q_hi, int* q) {
  const float inverse = step != 0 ? 1.0f / step : 0.0f;
  const auto lo = static_cast<float>(q_lo), hi = static_cast<float>(q_hi);
  for (size_t i = 0; i < n; ++i) q[i] = static_cast<int>(grid_level((x[i] - add) * inverse, lo, hi));
}

float search_symmetric_scale(std::span<const float> x, std::span<const float> w, int q_lo, int q_hi, StoreScale store,
                             float reference_scale) {
  float extreme = 0;  // the value of largest magnitude, with its sign
  for (float value : x) {
    if (std::fabs(value) > std::fabs(extreme)) extreme = value;
  }
  if (extreme == 0) return 0;

  float best_scale = 0;
  float best_error = symmetric_error(x, w, 0, q_lo, q_hi);
  const auto consider = [&](float scale) {
    scale = store(scale);
    if (!std::isfinite(scale) || scale == 0) return;
    const float error = symmetric_error(x, w, scale, q_lo, q_hi);
    if (error < best_error) best_error = error, best_scale = scale;
  };
  if (reference_scale != 0) consider(reference_scale);

  // The extreme value may land on either end of the grid; the negative end has one more level.
  for (const int target : {q_lo, q_hi}) {
    if (target == 0) continue;
    for (int s = -kSteps; s <= kSteps; ++s) {
      const float inverse = (static_cast<float>(target) + kStep * static_cast<float>(s)) / extreme;
      if (inverse * extreme * static_cast<float>(target) <= 0) continue;  // the step flipped the sign
      float sum_wxq[kLanes] = {}, sum_wqq[kLanes] = {};
      for (size_t i = 0; i < x.size(); i += kLanes) {
        for (size_t k = 0; k < kLanes; ++k) {
          const float q = grid_level(x[i + k] * inverse, static_cast<float>(q_lo), static_cast<float>(q_hi));
          sum_wxq[k] += w[i + k] * x[i + k] * q;
          sum_wqq[k] += w[i + k] * q * q;
        }
      }
      const double wxq = lane_total(sum_wxq), wqq = lane_total(sum_wqq);
      consider(1.0f / inverse);
      if (wqq > 0) consider(static_cast<float>(wxq / wqq));
    }
  }
  return best_scale;
}

AffineScale search_affine_scale(std::span<const float> x, std::span<const float> w, int q_max, bool offset_nonpositive,
                                StoreScale store, AffineScale reference) {
  float lo = *std::min_element(x.begin(), x.end());
  const float hi = *std::max_element(x.begin(), x.end());
  if (offset_nonpositive) lo = std::min(lo, 0.0f);

  AffineScale best{0, store(lo)};
  if (offset_nonpositive && best.offset > 0) best.offset = 0;
  float best_error = affine_error(x, w, best, q_max);
  const auto consider = [&](AffineScale fit) {
    fit.scale = store(fit.scale);
    fit.offset = store(fit.offset);
    if (!std::isfinite(fit.scale) || !std::isfinite(fit.offset) || fit.scale <= 0) return;
    if (offset_nonpositive && fit.offset > 0) return;
    const float error = affine_error(x, w, fit, q_max);
    if (error < best_error) best_error = error, best = fit;
  };
  consider(reference);
  if (hi <= lo) return best;

  for (int s = -kSteps; s <= kSteps; ++s) {
    const float inverse = (static_cast<float>(q_max) + kStep * static_cast<float>(s)) / (hi - lo);
    if (inverse <= 0) continue;
    // Weighted least squares for y = scale * q + offset with these integers: a 2x2 normal system.
    float lane_w[kLanes] = {}, lane_q[kLanes] = {}, lane_qq[kLanes] = {}, lane_x[kLanes] = {}, lane_qx[kLanes] = {};
    for (size_t i = 0; i < x.size(); i += kLanes) {
      for (size_t k = 0; k < kLanes; ++k) {
        const float q = grid_level((x[i + k] - lo) * inverse, 0.0f, static_cast<float>(q_max));
        lane_w[k] += w[i + k];
        lane_q[k] += w[i + k] * q;
        lane_qq[k] += w[i + k] * q * q;
        lane_x[k] += w[i + k] * x[i + k];
        lane_qx[k] += w[i + k] * q * x[i + k];
      }
    }
    const double sum_w = lane_total(lane_w), sum_q = lane_total(lane_q), sum_qq = lane_total(lane_qq),
                 sum_x = lane_total(lane_x), sum_qx = lane_total(lane_qx);
    consider({1.0f / inverse, lo});
    const double det = sum_w * sum_qq - sum_q * sum_q;
    if (det <= 0) continue;
    double scale = (sum_w * sum_qx - sum_q * sum_x) / det;
    double offset = (sum_qq * sum_x - sum_q * sum_qx) / det;
    if (offset_nonpositive && offset > 0) {
      offset = 0;
      scale = sum_qq > 0 ? sum_qx / sum_qq : 0;
    }
    consider({static_cast<float>(scale), static_cast<float>(offset)});
  }
  return best;
}

}  // namespace ferrum::quant
