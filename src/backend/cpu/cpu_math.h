// Vectorised activation functions and row helpers built on cpu_simd.h. Every function here is
// accurate to a few f32 ulps of its result or ~2e-7 absolute (noted where the absolute bound is
// the binding one); the op test holds them to that against float64 references.
#pragma once

#include <cstddef>

#include "backend/backend_types.h"
#include "backend/cpu/cpu_simd.h"

namespace ferrum::cpu {

// 1 / (1 + e^-x). Saturates cleanly: e^-x is clamped below overflow, so large |x| gives 0 or 1.
inline simd::Vec sigmoid(simd::Vec x) {
  using namespace simd;
  const Vec one = broadcast(1.0f);
  return div(one, add(one, exp(sub(zero(), x))));
}

inline simd::Vec silu(simd::Vec x) {
  return simd::mul(x, sigmoid(x));
}

// (1 - e^-2x) / (1 + e^-2x). Absolute error ~1e-7 (cancellation near 0), which is what logit
// soft-capping and tanh-GELU need: both care about the value, not its relative error near zero.
inline simd::Vec tanh(simd::Vec x) {
  using namespace simd;
  const Vec one = broadcast(1.0f);
  const Vec e = exp(mul(broadcast(-2.0f), x));
  return div(sub(one, e), add(one, e));
}

// x * Phi(x) = x/2 * (1 + erf(x / sqrt 2)). erf by Abramowitz and Stegun 7.1.26 (absolute error
// <= 1.5e-7): 1 - erf(z) = (a1 t + ... + a5 t^5) e^-z^2 with t = 1 / (1 + p z) for z >= 0. For
// negative x, 1 + erf(x / sqrt 2) is that complement itself, so no cancellation occurs.
inline simd::Vec gelu_erf(simd::Vec x) {
  using namespace simd;
  const Vec z = mul(abs(x), broadcast(0.70710678118654752f));
  const Vec t = div(broadcast(1.0f), fma(broadcast(0.3275911f), z, broadcast(1.0f)));
  Vec poly = broadcast(1.061405429f);
  poly = fma(poly, t, broadcast(-1.453152027f));
  poly = fma(poly, t, broadcast(1.421413741f));
  poly = fma(poly, t, broadcast(-0.284496736f));
  poly = fma(poly, t, broadcast(0.254829592f));
  poly = mul(poly, t);
  const Vec complement = mul(poly, exp(sub(zero(), mul(z, z))));  // 1 - erf(|x| / sqrt 2)
  const Vec one_plus_erf = select_less(x, zero(), complement, sub(broadcast(2.0f), complement));
  return mul(mul(broadcast(0.5f), x), one_plus_erf);
}

// x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the approximation Gemma and GPT-2 train with.
inline simd::Vec gelu_tanh(simd::Vec x) {
  using namespace simd;
  const Vec inner = mul(broadcast(0.79788456080286536f), fma(mul(broadcast(0.044715f), x), mul(x, x), x));
  return mul(mul(broadcast(0.5f), x), add(broadcast(1.0f), tanh(inner)));
}

// x * sigmoid(1.702 x) (CLIP's quick_gelu).
inline simd::Vec gelu_quick(simd::Vec x) {
  return simd::mul(x, sigmoid(simd::mul(simd::broadcast(1.702f), x)));
}

inline bool is_known_activation(Activation act) {
  switch (act) {
    case Activation::kGeluErf:
    case Activation::kGeluTanh:
    case Activation::kGeluQuick:
    case Activation::kSilu:
    case Activation::kSigmoid: return true;
  }
  return false;
}

// Calls f(fn) with fn a callable Vec -> Vec for `act`, so loops are compiled once per activation
// instead of switching per vector. Callers check is_known_activation first.
template <class F>
void with_activation(Activation act, F&& f) {
  switch (act) {
    case Activation::kGeluErf: return f([](simd::Vec x) { return gelu_erf(x); });
    case Activation::kGeluTanh: return f([](simd::Vec x) { return gelu_tanh(x); });
    case Activation::kGeluQuick: return f([](simd::Vec x) { return gelu_quick(x); });
    case Activation::kSilu: return f([](simd::Vec x) { return silu(x); });
    case Activation::kSigmoid: return f([](simd::Vec x) { return sigmoid(x); });
  }
}

// out[i] = f(x[i]) for i < n, vector by vector; out may alias x exactly.
template <class F>
inline void map_row(const float* x, float* out, size_t n, F f) {
  using namespace simd;
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store(out + i, f(load(x + i)));
  if (i < n) store_partial(out + i, f(load_partial(x + i, n - i)), n - i);
}

// out[i] = f(a[i], b[i]); out may alias a or b exactly.
template <class F>
inline void map_rows2(const float* a, const float* b, float* out, size_t n, F f) {
  using namespace simd;
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store(out + i, f(load(a + i), load(b + i)));
  if (i < n) store_partial(out + i, f(load_partial(a + i, n - i), load_partial(b + i, n - i)), n - i);
}

}  // namespace ferrum::cpu
