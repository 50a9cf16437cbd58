// Element-wise ops: residual adds, bias, activations (alone and fused with the gate / up split),
// scaling and logit soft-capping. Flat ranges are split over threads in 1024-element blocks.
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_math.h"
#include "backend/op_checks.h"

namespace ferrum {
namespace {

namespace simd = cpu::simd;
using simd::Vec;

// Transcendental activations cost roughly this many simple operations per element.
constexpr size_t kActivationWork = 16;

Status check_f32(std::string_view op, std::string_view arg, const CpuBuffer& buffer, size_t needed) {
  FERRUM_TRY(check_dtype(op, arg, buffer, {DType::kF32}));
  return check_numel(op, arg, buffer, needed);
}

Status check_activation(std::string_view op, Activation act) {
  FERRUM_CHECK(cpu::is_known_activation(act), ErrorCode::kInvalidArgument, op, ": unknown activation ",
               static_cast<int>(act));
  return ok();
}

Status act_mul_split(std::string_view op, CpuContext& ctx, const CpuBuffer& gate_up, CpuBuffer& out, size_t tokens,
                     size_t im, Activation act) {
  FERRUM_TRY(check_dtype(op, "gate_up", gate_up, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "gate_up", gate_up, {tokens, 2, im}));
  FERRUM_TRY(check_numel(op, "out", out, {tokens, im}));
  FERRUM_TRY(check_activation(op, act));
  const float* in = gate_up.data_as<float>();
  float* dst = out.data_as<float>();
  cpu::with_activation(act, [&](auto fn) {
    cpu::parallel_for(ctx, tokens, cpu::grain_for(kActivationWork * im), [&](size_t begin, size_t end) {
      for (size_t t = begin; t < end; ++t) {
        const float* gate = in + t * 2 * im;
        cpu::map_rows2(gate, gate + im, dst + t * im, im, [&](Vec g, Vec u) { return simd::mul(fn(g), u); });
      }
    });
  });
  return ok();
}

}  // namespace

Status CpuBackend::add_inplace(CpuContext& ctx, CpuBuffer& residual, const CpuBuffer& x, size_t len) {
  FERRUM_TRY(check_f32("add_inplace", "residual", residual, len));
  FERRUM_TRY(check_f32("add_inplace", "x", x, len));
  float* r = residual.data_as<float>();
  const float* xs = x.data_as<float>();
  cpu::parallel_elements(ctx, len, 1, [&](size_t begin, size_t end) {
    cpu::map_rows2(r + begin, xs + begin, r + begin, end - begin, [](Vec a, Vec b) { return simd::add(a, b); });
  });
  return ok();
}

Status CpuBackend::add_bias(CpuContext& ctx, CpuBuffer& data, const CpuBuffer& bias, size_t rows, size_t cols) {
  FERRUM_TRY(check_dtype("add_bias", "data", data, {DType::kF32}));
  FERRUM_TRY(check_dtype("add_bias", "bias", bias, {DType::kF32, DType::kF16, DType::kBF16}));
  FERRUM_TRY(check_numel("add_bias", "data", data, {rows, cols}));
  FERRUM_TRY(check_numel("add_bias", "bias", bias, cols));
  float* values = data.data_as<float>();
  cpu::with_float_type(bias.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* b = bias.data_as<T>();
    cpu::parallel_for(ctx, rows, cpu::grain_for(cols), [&](size_t begin, size_t end) {
      for (size_t r = begin; r < end; ++r) {
        float* row = values + r * cols;
        size_t c = 0;
        for (; c + simd::kLanes <= cols; c += simd::kLanes) {
          simd::store(row + c, simd::add(simd::load(row + c), simd::load(b + c)));
        }
        if (c < cols) {
          const size_t rest = cols - c;
          simd::store_partial(row + c, simd::add(simd::load_partial(row + c, rest), simd::load_partial(b + c, rest)),
                              rest);
        }
      }
    });
  });
  return ok();
}

Status CpuBackend::activation(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& out, size_t len, Activation act) {
  FERRUM_TRY(check_f32("activation", "x", x, len));
  FERRUM_TRY(check_f32("activation", "out", out, len));
  FERRUM_TRY(check_activation("activation", act));
  const float* in = x.data_as<float>();
  float* dst = out.data_as<float>();
  cpu::with_activation(act, [&](auto fn) {
    cpu::parallel_elements(ctx, len, kActivationWork,
                           [&](size_t begin, size_t end) { cpu::map_row(in + begin, dst + begin, end - begin, fn); });
  });
  return ok();
}

Status CpuBackend::gelu(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& out, size_t len) {
  FERRUM_TRY(check_f32("gelu", "x", x, len));
  FERRUM_TRY(check_f32("gelu", "out", out, len));
  return activation(ctx, x, out, len, Activation::kGeluErf);
}

Status CpuBackend::scale(CpuContext& ctx, CpuBuffer& data, size_t len, float factor) {
  FERRUM_TRY(check_f32("scale", "data", data, len));
  float* values = data.data_as<float>();
  const Vec f = simd::broadcast(factor);
  cpu::parallel_elements(ctx, len, 1, [&](size_t begin, size_t end) {
    cpu::map_row(values + begin, values + begin, end - begin, [f](Vec v) { return simd::mul(v, f); });
  });
  return ok();
}

Status CpuBackend::softcap(CpuContext& ctx, CpuBuffer& data, size_t len, float cap) {
  FERRUM_TRY(check_f32("softcap", "data", data, len));
  FERRUM_CHECK(cap > 0.0f && std::isfinite(cap), ErrorCode::kInvalidArgument, "softcap: cap must be positive, got ",
               cap);
  float* values = data.data_as<float>();
  const Vec c = simd::broadcast(cap);
  const Vec inverse = simd::broadcast(1.0f / cap);
  cpu::parallel_elements(ctx, len, kActivationWork, [&](size_t begin, size_t end) {
    cpu::map_row(values + begin, values + begin, end - begin,
                 [c, inverse](Vec v) { return simd::mul(c, cpu::tanh(simd::mul(v, inverse))); });
  });
  return ok();
}

Status CpuBackend::fused_silu_mul_split(CpuContext& ctx, const CpuBuffer& gate_up, CpuBuffer& out, size_t tokens,
                                        size_t im) {
  return act_mul_split("fused_silu_mul_split", ctx, gate_up, out, tokens, im, Activation::kSilu);
}

Status CpuBackend::fused_act_mul_split(CpuContext& ctx, const CpuBuffer& gate_up, CpuBuffer& out, size_t tokens,
                                       size_t im, Activation act) {
  return act_mul_split("fused_act_mul_split", ctx, gate_up, out, tokens, im, act);
}

}  // namespace ferrum
