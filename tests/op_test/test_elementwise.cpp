// Element-wise ops: add_inplace, add_bias, gelu, activation (every kind), scale, softcap and the
// fused gate / up activations, at lengths around the vector width and large enough to thread.
#include <algorithm>
#include <cmath>

#include "op_test.h"
#include "reference_ops.h"

namespace ferrum::op_test {
namespace {

constexpr size_t kLengths[] = {1, 17, 4097, 1 << 18};

constexpr Activation kActivations[] = {Activation::kGeluErf, Activation::kGeluTanh, Activation::kGeluQuick,
                                       Activation::kSilu, Activation::kSigmoid};

const char* activation_name(Activation act) {
  switch (act) {
    case Activation::kGeluErf: return "gelu_erf";
    case Activation::kGeluTanh: return "gelu_tanh";
    case Activation::kGeluQuick: return "gelu_quick";
    case Activation::kSilu: return "silu";
    case Activation::kSigmoid: return "sigmoid";
  }
  return "?";
}

template <Backend B>
CaseResult run_add_inplace(size_t len) {
  Rng rng(len);
  const std::vector<float> residual = random_values(rng, len, DType::kF32);
  const std::vector<float> x = random_values(rng, len, DType::kF32);
  OP_ASSIGN(auto r, upload<B>(residual, DType::kF32));
  OP_ASSIGN(auto xb, upload<B>(x, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::add_inplace(ctx, r, xb, len));
  std::vector<double> expected(len);
  for (size_t i = 0; i < len; ++i) expected[i] = residual[i] + x[i];  // the f32 sum, as stored
  for (double& value : expected) value = static_cast<float>(value);
  OP_ASSIGN(auto actual, download<B>(ctx, r, len));
  return compare(actual, expected, kExact);
}

template <Backend B>
CaseResult run_add_bias(size_t rows, size_t cols, DType bias_dtype) {
  Rng rng(rows * cols);
  const std::vector<float> data = random_values(rng, rows * cols, DType::kF32);
  const std::vector<float> bias = random_values(rng, cols, bias_dtype);
  OP_ASSIGN(auto d, upload<B>(data, DType::kF32));
  OP_ASSIGN(auto b, upload<B>(bias, bias_dtype));
  auto ctx = B::new_context();
  OP_TRY(B::add_bias(ctx, d, b, rows, cols));
  std::vector<double> expected(rows * cols);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<float>(data[i] + bias[i % cols]);
  OP_ASSIGN(auto actual, download<B>(ctx, d, rows * cols));
  return compare(actual, expected, kExact);
}

// act over [-8, 8] (both tails of every curve), out-of-place or in place.
template <Backend B>
CaseResult run_activation(Activation act, size_t len, bool in_place, bool through_gelu) {
  Rng rng(len + static_cast<size_t>(act));
  const std::vector<float> x = random_values(rng, len, DType::kF32, -8.0f, 8.0f);
  OP_ASSIGN(auto xb, upload<B>(x, DType::kF32));
  OP_ASSIGN(auto out, B::alloc(len, DType::kF32));
  auto ctx = B::new_context();
  auto& target = in_place ? xb : out;
  if (through_gelu) {
    OP_TRY(B::gelu(ctx, xb, target, len));
  } else {
    OP_TRY(B::activation(ctx, xb, target, len, act));
  }
  std::vector<double> expected(len);
  for (size_t i = 0; i < len; ++i) expected[i] = ref::activation(act, x[i]);
  OP_ASSIGN(auto actual, download<B>(ctx, target, len));
  return compare(actual, expected, kTranscend, kTranscendAbsolute);
}

template <Backend B>
CaseResult run_scale(size_t len, float factor) {
  Rng rng(len);
  const std::vector<float> data = random_values(rng, len, DType::kF32);
  OP_ASSIGN(auto d, upload<B>(data, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::scale(ctx, d, len, factor));
  std::vector<double> expected(len);
  for (size_t i = 0; i < len; ++i) expected[i] = data[i] * factor;
  for (double& value : expected) value = static_cast<float>(value);
  OP_ASSIGN(auto actual, download<B>(ctx, d, len));
  return compare(actual, expected, kExact);
}

template <Backend B>
CaseResult run_softcap(size_t len, float cap) {
  Rng rng(len);
  const std::vector<float> data = random_values(rng, len, DType::kF32, -4.0f * cap, 4.0f * cap);
  OP_ASSIGN(auto d, upload<B>(data, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::softcap(ctx, d, len, cap));
  std::vector<double> expected(len);
  for (size_t i = 0; i < len; ++i) expected[i] = cap * std::tanh(static_cast<double>(data[i]) / cap);
  OP_ASSIGN(auto actual, download<B>(ctx, d, len));
  return compare(actual, expected, kTranscend, kTranscendAbsolute * cap);
}

template <Backend B>
CaseResult run_act_mul_split(size_t tokens, size_t im, Activation act, bool silu_op) {
  Rng rng(tokens * im + static_cast<size_t>(act));
  const std::vector<float> gate_up = random_values(rng, tokens * 2 * im, DType::kF32, -6.0f, 6.0f);
  OP_ASSIGN(auto gu, upload<B>(gate_up, DType::kF32));
  OP_ASSIGN(auto out, B::alloc(tokens * im, DType::kF32));
  auto ctx = B::new_context();
  if (silu_op) {
    OP_TRY(B::fused_silu_mul_split(ctx, gu, out, tokens, im));
  } else {
    OP_TRY(B::fused_act_mul_split(ctx, gu, out, tokens, im, act));
  }
  OP_ASSIGN(auto actual, download<B>(ctx, out, tokens * im));
  double largest_up = 0.0;
  for (size_t t = 0; t < tokens; ++t) {
    for (size_t i = 0; i < im; ++i) largest_up = std::max(largest_up, std::fabs(double{gate_up[t * 2 * im + im + i]}));
  }
  return compare(actual, ref::act_mul_split(gate_up, tokens, im, act), kTranscend, kTranscendAbsolute * largest_up);
}

template <Backend B>
void add_cases(CaseList& cases) {
  for (size_t len : kLengths) {
    const std::string n = shape_name({{"len", len}});
    add_case<B>(cases, "add_inplace", n, "f32", false, [len] { return run_add_inplace<B>(len); });
    add_case<B>(cases, "gelu", n, "f32", false,
                [len] { return run_activation<B>(Activation::kGeluErf, len, false, true); });
    for (Activation act : kActivations) {
      add_case<B>(cases, "activation", cat(activation_name(act), " ", n), "f32", false,
                  [act, len] { return run_activation<B>(act, len, false, false); });
    }
    add_case<B>(cases, "scale", n, "f32", false, [len] { return run_scale<B>(len, -0.37f); });
    add_case<B>(cases, "softcap", cat(n, " cap=30"), "f32", false, [len] { return run_softcap<B>(len, 30.0f); });
  }
  add_case<B>(cases, "activation", "silu in place len=4097", "f32", false,
              [] { return run_activation<B>(Activation::kSilu, 4097, true, false); });
  add_case<B>(cases, "softcap", "len=17 cap=0.5", "f32", false, [] { return run_softcap<B>(17, 0.5f); });
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (auto [rows, cols] : {std::pair<size_t, size_t>{1, 1}, {3, 17}, {64, 4097}}) {
      add_case<B>(cases, "add_bias", shape_name({{"rows", rows}, {"cols", cols}}), std::string(dtype_name(dtype)),
                  false, [=] { return run_add_bias<B>(rows, cols, dtype); });
    }
  }
  for (auto [tokens, im] : {std::pair<size_t, size_t>{1, 1}, {1, 8192}, {17, 127}, {64, 1000}}) {
    const std::string n = shape_name({{"tokens", tokens}, {"im", im}});
    add_case<B>(cases, "fused_silu_mul_split", n, "f32", false,
                [=] { return run_act_mul_split<B>(tokens, im, Activation::kSilu, true); });
    for (Activation act : kActivations) {
      add_case<B>(cases, "fused_act_mul_split", cat(activation_name(act), " ", n), "f32", false,
                  [=] { return run_act_mul_split<B>(tokens, im, act, false); });
    }
  }

  using Buffer = typename B::Buffer;
  add_error_case<B>(cases, "add_inplace", "x too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer r, B::alloc(10, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(9, DType::kF32));
    auto ctx = B::new_context();
    return B::add_inplace(ctx, r, x, 10);
  });
  add_error_case<B>(cases, "add_inplace", "bf16 residual", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer r, B::alloc(10, DType::kBF16));
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(10, DType::kF32));
    auto ctx = B::new_context();
    return B::add_inplace(ctx, r, x, 10);
  });
  add_error_case<B>(cases, "add_bias", "bias too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer d, B::alloc(12, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer b, B::alloc(3, DType::kF32));
    auto ctx = B::new_context();
    return B::add_bias(ctx, d, b, 3, 4);
  });
  add_error_case<B>(cases, "activation", "out too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(10, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(9, DType::kF32));
    auto ctx = B::new_context();
    return B::activation(ctx, x, out, 10, Activation::kSilu);
  });
  add_error_case<B>(cases, "gelu", "f16 input", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(10, DType::kF16));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(10, DType::kF32));
    auto ctx = B::new_context();
    return B::gelu(ctx, x, out, 10);
  });
  add_error_case<B>(cases, "scale", "len past the end", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer d, B::alloc(10, DType::kF32));
    auto ctx = B::new_context();
    return B::scale(ctx, d, 11, 2.0f);
  });
  add_error_case<B>(cases, "softcap", "cap 0", ErrorCode::kInvalidArgument, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer d, B::alloc(10, DType::kF32));
    auto ctx = B::new_context();
    return B::softcap(ctx, d, 10, 0.0f);
  });
  add_error_case<B>(cases, "fused_act_mul_split", "gate_up too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer gu, B::alloc(2 * 2 * 8 - 1, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(2 * 8, DType::kF32));
    auto ctx = B::new_context();
    return B::fused_act_mul_split(ctx, gu, out, 2, 8, Activation::kGeluTanh);
  });
  add_error_case<B>(cases, "fused_silu_mul_split", "out is bf16", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer gu, B::alloc(2 * 2 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(2 * 8, DType::kBF16));
    auto ctx = B::new_context();
    return B::fused_silu_mul_split(ctx, gu, out, 2, 8);
  });
}

}  // namespace

void add_elementwise_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
