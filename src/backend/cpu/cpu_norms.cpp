// RMS norm, fused residual-add + RMS norm, and layer norm: one row per token, rows spread over
// threads. Row statistics are summed in f32 vector lanes, then combined and finished in double.
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_simd.h"
#include "backend/op_checks.h"

namespace ferrum {
namespace {

namespace simd = cpu::simd;
using simd::kLanes;
using simd::Vec;

double sum_row(const float* x, size_t n) {
  Vec acc0 = simd::zero();
  Vec acc1 = simd::zero();
  size_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    acc0 = simd::add(acc0, simd::load(x + i));
    acc1 = simd::add(acc1, simd::load(x + i + kLanes));
  }
  if (i + kLanes <= n) {
    acc0 = simd::add(acc0, simd::load(x + i));
    i += kLanes;
  }
  double sum = static_cast<double>(simd::reduce_add(acc0)) + static_cast<double>(simd::reduce_add(acc1));
  for (; i < n; ++i) sum += x[i];
  return sum;
}

// Sum of (x[i] - center)^2 over a row.
double sum_squared_deviations(const float* x, size_t n, float center) {
  const Vec c = simd::broadcast(center);
  Vec acc0 = simd::zero();
  Vec acc1 = simd::zero();
  size_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    const Vec d0 = simd::sub(simd::load(x + i), c);
    const Vec d1 = simd::sub(simd::load(x + i + kLanes), c);
    acc0 = simd::fma(d0, d0, acc0);
    acc1 = simd::fma(d1, d1, acc1);
  }
  if (i + kLanes <= n) {
    const Vec d = simd::sub(simd::load(x + i), c);
    acc0 = simd::fma(d, d, acc0);
    i += kLanes;
  }
  double sum = static_cast<double>(simd::reduce_add(acc0)) + static_cast<double>(simd::reduce_add(acc1));
  for (; i < n; ++i) sum += static_cast<double>(x[i] - center) * static_cast<double>(x[i] - center);
  return sum;
}

// out[i] = (x[i] - shift) * factor * w[i] (+ bias[i] when given).
template <class W>
void normalize_row(const float* x, float shift, float factor, const W* w, const W* bias, float* out, size_t n) {
  const Vec s = simd::broadcast(shift);
  const Vec f = simd::broadcast(factor);
  size_t i = 0;
  for (; i < n; i += kLanes) {
    const size_t count = std::min(kLanes, n - i);
    const bool full = count == kLanes;
    const Vec xv = full ? simd::load(x + i) : simd::load_partial(x + i, count);
    const Vec wv = full ? simd::load(w + i) : simd::load_partial(w + i, count);
    Vec value = simd::mul(simd::mul(simd::sub(xv, s), f), wv);
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
        const float factor = rms_factor(sum_squared_deviations(row, dim, 0.0f), dim, eps);
        normalize_row<W>(row, 0.0f, factor, weights, nullptr, outs + t * dim, dim);
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
        const float factor = rms_factor(sum_squared_deviations(row, dim, 0.0f), dim, eps);
        normalize_row<W>(row, 0.0f, factor, weights, nullptr, outs + t * dim, dim);
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
        const float mean = static_cast<float>(sum_row(row, dim) / static_cast<double>(dim));
        const double variance = sum_squared_deviations(row, dim, mean) / static_cast<double>(dim);
        const float factor = static_cast<float>(1.0 / std::sqrt(variance + static_cast<double>(eps)));
        normalize_row<W>(row, mean, factor, g, b, outs + t * dim, dim);
      }
    });
  });
  return ok();
}

}  // namespace ferrum
