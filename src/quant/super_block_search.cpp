#include "quant/super_block_search.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <span>

#include "core/half.h"
#include "quant/scale_search.h"

namespace ferrum::quant {
namespace {

constexpr int kRefineRounds = 4;
constexpr int kNeighbourhood = 2;  // integer scale / min steps tried around the current ones

float to_stored(float value) {
  return to_float(to_f16(value));
}

// The grid of one sub-block's values for integer scale / min: step * level + add, level in
// [level_lo, level_hi]. Affine decoders subtract dmin * min; adding its negation is the same float.
struct SubGrid {
  float step;
  float add;
  int level_lo;
  int level_hi;
};

SubGrid sub_grid(const SuperBlockFormat& format, float d, float dmin, int scale, int min) {
  const float step = d * static_cast<float>(scale);
  if (format.affine()) return {step, -(dmin * static_cast<float>(min)), 0, format.q_max};
  return {step, 0.0f, -format.q_bias, format.q_max - format.q_bias};
}

double sub_block_error(const SuperBlockFormat& format, const float* x, const float* w, float d, float dmin, int scale,
                       int min) {
  const SubGrid grid = sub_grid(format, d, dmin, scale, min);
  return grid_error(x, w, format.sub_size, grid.step, grid.add, grid.level_lo, grid.level_hi);
}

// Chooses the stored q of one sub-block for its integers and returns its error.
double assign_sub_block(const SuperBlockFormat& format, const float* x, const float* w, float d, float dmin, int scale,
                        int min, uint8_t* q) {
  const SubGrid grid = sub_grid(format, d, dmin, scale, min);
  int levels[32];
  grid_levels(x, format.sub_size, grid.step, grid.add, grid.level_lo, grid.level_hi, levels);
  for (size_t i = 0; i < format.sub_size; ++i) q[i] = static_cast<uint8_t>(levels[i] - grid.level_lo);
  return grid_error(x, w, format.sub_size, grid.step, grid.add, grid.level_lo, grid.level_hi);
}

double assign_all(const SuperBlockFormat& format, const float* x, const float* w, SuperBlockCode& code) {
  double error = 0;
  for (size_t j = 0; j < format.sub_blocks(); ++j) {
    const size_t start = j * format.sub_size;
    error +=
        assign_sub_block(format, x + start, w + start, code.d, code.dmin, code.scales[j], code.mins[j], code.q + start);
  }
  return error;
}

// Least-squares integers for one sub-block with its q fixed: x ~ (d * scale) * (q - bias) - dmin * min.
// Far better starting points than the current integers when d / dmin have just moved a lot, or when an
// outlier makes the step so coarse that the best offset is nowhere near the min of the values.
void solve_sub_block_integers(const SuperBlockFormat& format, const float* x, const float* w, const uint8_t* q, float d,
                              float dmin, int& scale, int& min) {
  double sw = 0, sq = 0, sqq = 0, sx = 0, sqx = 0;
  for (size_t i = 0; i < format.sub_size; ++i) {
    const double level = q[i] - format.q_bias;
    sw += w[i], sq += w[i] * level, sqq += w[i] * level * level, sx += w[i] * x[i], sqx += w[i] * level * x[i];
  }
  double step = sqq > 0 ? sqx / sqq : 0;
  double offset = 0;  // subtracted, so x ~ step * level - offset
  const double det = sw * sqq - sq * sq;
  if (format.affine() && det > 0) {
    step = (sw * sqx - sq * sx) / det;
    offset = -(sqq * sx - sq * sqx) / det;
  }
  if (d != 0) scale = round_clamp(static_cast<float>(step / d), format.scale_lo, format.scale_hi);
  min = format.affine() && dmin != 0 ? round_clamp(static_cast<float>(offset / dmin), 0, format.min_hi) : 0;
}

// Step (a): with d / dmin fixed, each sub-block independently takes the best integers among the
// neighbours of its current ones and of its least-squares ones.
double refine_integers(const SuperBlockFormat& format, const float* x, const float* w, SuperBlockCode& code) {
  double total = 0;
  for (size_t j = 0; j < format.sub_blocks(); ++j) {
    const size_t start = j * format.sub_size;
    const float* xs = x + start;
    const float* ws = w + start;
    int best_scale = code.scales[j], best_min = code.mins[j];
    double best = sub_block_error(format, xs, ws, code.d, code.dmin, best_scale, best_min);
    const auto search_around = [&](int scale0, int min0, int radius) {
      for (int scale = scale0 - radius; scale <= scale0 + radius; ++scale) {
        if (scale < format.scale_lo || scale > format.scale_hi) continue;
        for (int min = min0 - radius; min <= min0 + radius; ++min) {
          if (min < 0 || min > format.min_hi) continue;
          const double error = sub_block_error(format, xs, ws, code.d, code.dmin, scale, min);
          if (error < best) best = error, best_scale = scale, best_min = min;
        }
      }
    };
    search_around(best_scale, best_min, kNeighbourhood);
    assign_sub_block(format, xs, ws, code.d, code.dmin, best_scale, best_min, code.q + start);
    int solved_scale = best_scale, solved_min = best_min;
    solve_sub_block_integers(format, xs, ws, code.q + start, code.d, code.dmin, solved_scale, solved_min);
    if (solved_scale != best_scale || solved_min != best_min) {
      search_around(solved_scale, solved_min, 1);
      assign_sub_block(format, xs, ws, code.d, code.dmin, best_scale, best_min, code.q + start);
    }
    code.scales[j] = best_scale;
    code.mins[j] = best_min;
    total += best;
  }
  return total;
}

// Step (b): least squares for d (and dmin) with every integer fixed: x ~ d * a - dmin * b where
// a = scale_j * (q - bias) and b = min_j. Returns false when the system is degenerate.
bool solve_super_scales(const SuperBlockFormat& format, const float* x, const float* w, const SuperBlockCode& code,
                        float& d, float& dmin) {
  double saa = 0, sab = 0, sbb = 0, sax = 0, sbx = 0;
  for (size_t i = 0; i < 256; ++i) {
    const size_t j = i / format.sub_size;
    const double a = static_cast<double>(code.scales[j]) * (code.q[i] - format.q_bias);
    const double b = code.mins[j];
    saa += w[i] * a * a;
    sab += w[i] * a * b;
    sbb += w[i] * b * b;
    sax += w[i] * a * x[i];
    sbx += w[i] * b * x[i];
  }
  if (!format.affine() || sbb == 0) {
    if (saa <= 0) return false;
    d = to_stored(static_cast<float>(sax / saa));
    dmin = format.affine() ? code.dmin : 0;
    return true;
  }
  // Minimise sum w (d a - m b - x)^2 over (d, m): [saa -sab; -sab sbb] [d; m] = [sax; -sbx].
  const double det = saa * sbb - sab * sab;
  if (det <= 0) return false;
  const double solved_d = (sax * sbb - sab * sbx) / det;
  const double solved_m = (sax * sab - saa * sbx) / det;
  if (solved_d <= 0 || solved_m < 0) return false;
  d = to_stored(static_cast<float>(solved_d));
  dmin = to_stored(static_cast<float>(solved_m));
  return true;
}

// Builds a code from per-sub-block real scales / mins and a trial d / dmin, then refines it.
double build_and_refine(const SuperBlockFormat& format, const float* x, const float* w, const float* sub_scale,
                        const float* sub_min, float d, float dmin, SuperBlockCode& code) {
  code.d = to_stored(d);
  code.dmin = format.affine() ? to_stored(dmin) : 0;
  for (size_t j = 0; j < format.sub_blocks(); ++j) {
    code.scales[j] = code.d != 0 ? round_clamp(sub_scale[j] / code.d, format.scale_lo, format.scale_hi) : 0;
    code.mins[j] = code.dmin != 0 ? round_clamp(sub_min[j] / code.dmin, 0, format.min_hi) : 0;
  }
  double error = assign_all(format, x, w, code);
  for (int round = 0; round < kRefineRounds; ++round) {
    error = refine_integers(format, x, w, code);
    SuperBlockCode trial = code;
    if (!solve_super_scales(format, x, w, code, trial.d, trial.dmin)) break;
    const double trial_error = assign_all(format, x, w, trial);
    if (!(trial_error < error)) break;
    code = trial;
    error = trial_error;
  }
  return error;
}

}  // namespace

double encode_super_block(const SuperBlockFormat& format, const float* x, const float* w, SuperBlockCode& code) {
  const size_t subs = format.sub_blocks();
  float sub_scale[16] = {};
  float sub_min[16] = {};
  for (size_t j = 0; j < subs; ++j) {
    const std::span<const float> xs(x + j * format.sub_size, format.sub_size);
    const std::span<const float> ws(w + j * format.sub_size, format.sub_size);
    if (format.affine()) {
      const float lo = std::min(0.0f, *std::min_element(xs.begin(), xs.end()));
      const float hi = *std::max_element(xs.begin(), xs.end());
      const AffineScale fit =
          search_affine_scale(xs, ws, format.q_max, true, keep_scale, {(hi - lo) / format.q_max, lo});
      sub_scale[j] = fit.scale;
      sub_min[j] = -fit.offset;
    } else {
      sub_scale[j] = search_symmetric_scale(xs, ws, -format.q_bias, format.q_max - format.q_bias, keep_scale, 0.0f);
    }
  }

  // First guesses for d: the largest sub-block scale lands on the end of the integer scale range.
  // Symmetric types try both ends (the negative one has one more level).
  float extreme = 0;
  float max_min = 0;
  for (size_t j = 0; j < subs; ++j) {
    if (std::fabs(sub_scale[j]) > std::fabs(extreme)) extreme = sub_scale[j];
    max_min = std::max(max_min, sub_min[j]);
  }
  const float dmin = max_min / static_cast<float>(std::max(format.min_hi, 1));
  float d_guesses[2] = {extreme / static_cast<float>(format.scale_hi), 0};
  if (format.scale_lo < 0) d_guesses[1] = extreme / static_cast<float>(format.scale_lo);

  // With 4-bit sub-block scales (Q2_K) a sub-block with an outlier can own the whole scale range and
  // leave the others two or three coarse levels; smaller d trade clipping that sub-block against finer
  // scales everywhere else. With 6- and 8-bit scales this never paid off on our data.
  constexpr float kShrink[] = {1.0f, 0.8f, 0.6f};
  const size_t shrink_count = format.scale_hi - format.scale_lo < 63 ? std::size(kShrink) : 1;
  double best_error = -1;
  for (float d : d_guesses) {
    if (d == 0 && best_error >= 0) continue;
    for (float shrink : std::span(kShrink, shrink_count)) {
      SuperBlockCode trial;
      const double error = build_and_refine(format, x, w, sub_scale, sub_min, d * shrink, dmin, trial);
      if (best_error < 0 || error < best_error) {
        best_error = error;
        code = trial;
      }
    }
  }
  return best_error;
}

}  // namespace ferrum::quant
