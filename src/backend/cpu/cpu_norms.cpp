// RMS norm, fused residual-add + RMS norm, and layer norm: one row per token, rows spread over
// threads. Row statistics are summed in f32 vector lanes, then combined and finished in double.
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_math.h"
#include "backend/cpu/cpu_simd.h"
#include "backend/op_checks.h"

namespace ferrum {
namespace {

namespace simd = cpu::simd;
using simd::kLanes;
using simd::Vec;

double sum_squares(const float* x, size_t n) {
  return cpu::sum_row_terms(x, n, [](Vec v) { return simd::mul(v, v); });
}

// The row mean as an unevaluated sum hi + lo of two floats: subtracting both from x (which the
// centered passes do) removes the mean to double accuracy, not just to the float nearest it.
struct Mean {
  float hi;
  float lo;
};

// Summed as x[0] + mean(x - x[0]): the terms are then deviations, not values, so a row of large
// mean and small spread (the case layer norm must get right) sums without losing the spread.
Mean row_mean(const float* x, size_t n) {
  const float first = x[0];
  const Vec shift = simd::broadcast(first);
  const double deviation = cpu::sum_row_terms(x, n, [&](Vec v) { return simd::sub(v, shift); });
  const double mean = static_cast<double>(first) + deviation / static_cast<double>(n);
  const float hi = static_cast<float>(mean);
  return {hi, static_cast<float>(mean - hi)};
}

Vec centered(Vec v, Vec hi, Vec lo) {
  return simd::sub(simd::sub(v, hi), lo);
}

double sum_squared_deviations(const float* x, size_t n, Mean mean) {
  const Vec hi = simd::broadcast(mean.hi);
  const Vec lo = simd::broadcast(mean.lo);
  return cpu::sum_row_terms(x, n, [&](Vec v) {
    const Vec d = centered(v, hi, lo);
    return simd::mul(d, d);
  });
}

// out[i] = (x[i] - mean) * factor * w[i] (+ bias[i] when given).
template <class W>
void normalize_row(const float* x, Mean mean, float factor, const W* w, const W* bias, float* out, size_t n) {
  const Vec hi = simd::broadcast(mean.hi);
  const Vec lo = simd::broadcast(mean.lo);
  const Vec f = simd::broadcast(factor);
  for (size_t i = 0; i < n; i += kLanes) {
    const size_t count = std::min(kLanes, n - i);
    const bool full = count == kLanes;
    const Vec xv = full ? simd::load(x + i) : simd::load_partial(x + i, count);
    const Vec wv = full ? simd::load(w + i) : simd::load_partial(w + i, count);
    Vec value = simd::mul(simd::mul(centered(xv, hi, lo), f), wv);
    if (bias != nullptr) value = simd::add(value, full ? simd::load(bias + i) : simd::load_partial(bias + i, count));
    if (full) {
      simd::store(out + i, value);
    } else {
      simd::store_partial(out + i, value, count);
    }
  }
}

float rms_factor(double sum_squares, size_t dim, float eps) {
  return static_cast<float>(1.0 / std::sqrt(sum_squares / static_cast<double>(dim) + static_cast<double>(eps)));
}

Status check_norm_args(std::string_view op, const CpuBuffer& x, const CpuBuffer& w, const CpuBuffer& out, size_t tokens,
                       size_t dim) {
  FERRUM_TRY(check_dtype(op, "x", x, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "w", w, {DType::kF32, DType::kF16, DType::kBF16}));
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "x", x, {tokens, dim}));
  FERRUM_TRY(check_numel(op, "w", w, dim));
  return check_numel(op, "out", out, {tokens, dim});
}

}  // namespace

Status CpuBackend::rms_norm(CpuContext& ctx, const CpuBuffer& x, const CpuBuffer& w, float eps, CpuBuffer& out,
                            size_t tokens, size_t dim) {
  FERRUM_TRY(check_norm_args("rms_norm", x, w, out, tokens, dim));
  if (dim == 0) return ok();
  const float* xs = x.data_as<float>();
  float* outs = out.data_as<float>();
  cpu::with_float_type(w.dtype(), [&](auto tag) {
    using W = decltype(tag);
    const W* weights = w.data_as<W>();
    cpu::parallel_for(ctx, tokens, cpu::grain_for(3 * dim), [&](size_t begin, size_t end) {
      for (size_t t = begin; t < end; ++t) {
        const float* row = xs + t * dim;
        const float factor = rms_factor(sum_squares(row, dim), dim, eps);
        normalize_row<W>(row, Mean{0.0f, 0.0f}, factor, weights, nullptr, outs + t * dim, dim);
      }
    });
  });
  return ok();
}

Status CpuBackend::fused_add_rms_norm(CpuContext& ctx, CpuBuffer& residual, const CpuBuffer& x, const CpuBuffer& w,
                                      float eps, CpuBuffer& out, size_t tokens, size_t dim) {
  FERRUM_TRY(check_norm_args("fused_add_rms_norm", x, w, out, tokens, dim));
  FERRUM_TRY(check_dtype("fused_add_rms_norm", "residual", residual, {DType::kF32}));
  FERRUM_TRY(check_numel("fused_add_rms_norm", "residual", residual, {tokens, dim}));
  if (dim == 0) return ok();
  float* res = residual.data_as<float>();
  const float* xs = x.data_as<float>();
  float* outs = out.data_as<float>();
  cpu::with_float_type(w.dtype(), [&](auto tag) {
    using W = decltype(tag);
    const W* weights = w.data_as<W>();
    cpu::parallel_for(ctx, tokens, cpu::grain_for(4 * dim), [&](size_t begin, size_t end) {
      for (size_t t = begin; t < end; ++t) {
        float* row = res + t * dim;
        const float* delta = xs + t * dim;
        size_t i = 0;
        for (; i + kLanes <= dim; i += kLanes)
          simd::store(row + i, simd::add(simd::load(row + i), simd::load(delta + i)));
        for (; i < dim; ++i) row[i] += delta[i];
        const float factor = rms_factor(sum_squares(row, dim), dim, eps);
        normalize_row<W>(row, Mean{0.0f, 0.0f}, factor, weights, nullptr, outs + t * dim, dim);
      }
    });
  });
  return ok();
}

Status CpuBackend::layer_norm(CpuContext& ctx, const CpuBuffer& x, const CpuBuffer& gamma, const CpuBuffer& beta,
                              float eps, CpuBuffer& out, size_t tokens, size_t dim) {
  FERRUM_TRY(check_norm_args("layer_norm", x, gamma, out, tokens, dim));
  FERRUM_CHECK(beta.dtype() == gamma.dtype(), ErrorCode::kUnsupported, "layer_norm: beta has dtype ", beta.dtype(),
               " but gamma has ", gamma.dtype(), " (they must match)");
  FERRUM_TRY(check_numel("layer_norm", "beta", beta, dim));
  if (dim == 0) return ok();
  const float* xs = x.data_as<float>();
  float* outs = out.data_as<float>();
  cpu::with_float_type(gamma.dtype(), [&](auto tag) {
    using W = decltype(tag);
    const W* g = gamma.data_as<W>();
    const W* b = beta.data_as<W>();
    cpu::parallel_for(ctx, tokens, cpu::grain_for(4 * dim), [&](size_t begin, size_t end) {
      for (size_t t = begin; t < end; ++t) {
        const float* row = xs + t * dim;
        // Two passes (mean, then squared deviations from it): no cancellation for large means.
        const Mean mean = row_mean(row, dim);
        const double variance = sum_squared_deviations(row, dim, mean) / static_cast<double>(dim);
        const float factor = static_cast<float>(1.0 / std::sqrt(variance + static_cast<double>(eps)));
        normalize_row<W>(row, mean, factor, g, b, outs + t * dim, dim);
      }
    });
  });
  return ok();
}

}  // namespace ferrum
