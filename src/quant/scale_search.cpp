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

}  // namespace

float keep_scale(float scale) {
  return scale;
}

float round_scale_to_f16(float scale) {
  return to_float(to_f16(scale));
}

int round_clamp(float value, int lo, int hi) {
  const long rounded = std::lround(value);
  return static_cast<int>(std::clamp<long>(rounded, lo, hi));
}

double symmetric_error(std::span<const float> x, std::span<const float> w, float d, int q_lo, int q_hi) {
  double error = 0;
  const float inverse = d != 0 ? 1.0f / d : 0.0f;
  for (size_t i = 0; i < x.size(); ++i) {
    const int q = round_clamp(x[i] * inverse, q_lo, q_hi);
    const double diff = static_cast<double>(x[i]) - static_cast<double>(static_cast<float>(q) * d);
    error += w[i] * diff * diff;
  }
  return error;
}

double affine_error(std::span<const float> x, std::span<const float> w, AffineScale fit, int q_max) {
  double error = 0;
  const float inverse = fit.scale != 0 ? 1.0f / fit.scale : 0.0f;
  for (size_t i = 0; i < x.size(); ++i) {
    const int q = round_clamp((x[i] - fit.offset) * inverse, 0, q_max);
    const float scaled = static_cast<float>(q) * fit.scale;
    const double diff = static_cast<double>(x[i]) - static_cast<double>(scaled + fit.offset);
    error += w[i] * diff * diff;
  }
  return error;
}

float search_symmetric_scale(std::span<const float> x, std::span<const float> w, int q_lo, int q_hi, StoreScale store,
                             float reference_scale) {
  float extreme = 0;  // the value of largest magnitude, with its sign
  for (float value : x) {
    if (std::fabs(value) > std::fabs(extreme)) extreme = value;
  }
  if (extreme == 0) return 0;

  float best_scale = 0;
  double best_error = symmetric_error(x, w, 0, q_lo, q_hi);
  const auto consider = [&](float scale) {
    scale = store(scale);
    if (!std::isfinite(scale) || scale == 0) return;
    const double error = symmetric_error(x, w, scale, q_lo, q_hi);
    if (error < best_error) best_error = error, best_scale = scale;
  };
  if (reference_scale != 0) consider(reference_scale);

  // The extreme value may land on either end of the grid; the negative end has one more level.
  for (const int target : {q_lo, q_hi}) {
    if (target == 0) continue;
    for (int s = -kSteps; s <= kSteps; ++s) {
      const float inverse = (static_cast<float>(target) + kStep * static_cast<float>(s)) / extreme;
      if (inverse * extreme * static_cast<float>(target) <= 0) continue;  // the step flipped the sign
      double sum_wxq = 0, sum_wqq = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        const int q = round_clamp(x[i] * inverse, q_lo, q_hi);
        sum_wxq += w[i] * x[i] * q;
        sum_wqq += w[i] * static_cast<double>(q) * q;
      }
      consider(1.0f / inverse);
      if (sum_wqq > 0) consider(static_cast<float>(sum_wxq / sum_wqq));
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
  double best_error = affine_error(x, w, best, q_max);
  const auto consider = [&](AffineScale fit) {
    fit.scale = store(fit.scale);
    fit.offset = store(fit.offset);
    if (!std::isfinite(fit.scale) || !std::isfinite(fit.offset) || fit.scale <= 0) return;
    if (offset_nonpositive && fit.offset > 0) return;
    const double error = affine_error(x, w, fit, q_max);
    if (error < best_error) best_error = error, best = fit;
  };
  consider(reference);
  if (hi <= lo) return best;

  for (int s = -kSteps; s <= kSteps; ++s) {
    const float inverse = (static_cast<float>(q_max) + kStep * static_cast<float>(s)) / (hi - lo);
    if (inverse <= 0) continue;
    // Weighted least squares for y = scale * q + offset with these integers: a 2x2 normal system.
    double sum_w = 0, sum_q = 0, sum_qq = 0, sum_x = 0, sum_qx = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double q = round_clamp((x[i] - lo) * inverse, 0, q_max);
      sum_w += w[i];
      sum_q += w[i] * q;
      sum_qq += w[i] * q * q;
      sum_x += w[i] * x[i];
      sum_qx += w[i] * q * x[i];
    }
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
