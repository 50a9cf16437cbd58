// rms_norm, fused_add_rms_norm and layer_norm with f32 / f16 / bf16 weights, odd widths, one
// token, and (layer_norm) inputs with a large mean to catch one-pass variance cancellation; and
// all_reduce_add_rms_norm_rounding (the decoder's rank sum fused with the add and norm, CUDA's
// all_reduce_add_rms_norm) on one rank, where the sum is x itself. Its kernel across ranks is
// tested in tests/unit/cuda/cuda_ipc_add_rms_norm_test.cpp (two ranks on one GPU).
#include "models/rounded_rows.h"
#include "op_test.h"
#include "reference_ops.h"

namespace ferrum::op_test {
namespace {

struct NormShape {
  size_t tokens, dim;
};
constexpr NormShape kShapes[] = {{1, 1}, {1, 4097}, {3, 17}, {17, 127}, {64, 2048}};

template <Backend B>
CaseResult run_rms_norm(size_t tokens, size_t dim, DType w_dtype) {
  Rng rng(tokens * 31 + dim);
  const std::vector<float> x = random_values(rng, tokens * dim, DType::kF32, -3.0f, 3.0f);
  const std::vector<float> w = random_values(rng, dim, w_dtype, 0.5f, 1.5f);
  OP_ASSIGN(auto x_buffer, upload<B>(x, DType::kF32));
  OP_ASSIGN(auto w_buffer, upload<B>(w, w_dtype));
  OP_ASSIGN(auto out, B::alloc(tokens * dim, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::rms_norm(ctx, x_buffer, w_buffer, 1e-6f, out, tokens, dim));
  OP_ASSIGN(auto actual, download<B>(ctx, out, tokens * dim));
  return compare(actual, ref::rms_norm(x, w, 1e-6f, tokens, dim), kF32Math);
}

// With `rank_sum`, through all_reduce_add_rms_norm_rounding: on one rank the sum is x itself, so
// the reference is the same.
template <Backend B>
CaseResult run_fused_add_rms_norm(size_t tokens, size_t dim, DType w_dtype, bool rank_sum = false) {
  Rng rng(tokens * 37 + dim);
  const std::vector<float> residual = random_values(rng, tokens * dim, DType::kF32, -3.0f, 3.0f);
  const std::vector<float> x = random_values(rng, tokens * dim, DType::kF32, -3.0f, 3.0f);
  const std::vector<float> w = random_values(rng, dim, w_dtype, 0.5f, 1.5f);
  OP_ASSIGN(auto residual_buffer, upload<B>(residual, DType::kF32));
  OP_ASSIGN(auto x_buffer, upload<B>(x, DType::kF32));
  OP_ASSIGN(auto w_buffer, upload<B>(w, w_dtype));
  OP_ASSIGN(auto out, B::alloc(tokens * dim, DType::kF32));
  auto ctx = B::new_context();
  if (rank_sum) {
    OP_TRY(all_reduce_add_rms_norm_rounding<B>(ctx, x_buffer, residual_buffer, w_buffer, 1e-5f, out, tokens, dim,
                                               nullptr));
  } else {
    OP_TRY(B::fused_add_rms_norm(ctx, residual_buffer, x_buffer, w_buffer, 1e-5f, out, tokens, dim));
  }
  // The reference adds in f32 as the op's contract does (residual is an f32 buffer).
  std::vector<float> sum(tokens * dim);
  for (size_t i = 0; i < sum.size(); ++i) sum[i] = residual[i] + x[i];
  OP_ASSIGN(auto actual_out, download<B>(ctx, out, tokens * dim));
  OP_ASSIGN(auto actual_residual, download<B>(ctx, residual_buffer, tokens * dim));
  return compare_all({compare(actual_residual, as_doubles(sum), kExact),
                      compare(actual_out, ref::rms_norm(sum, w, 1e-5f, tokens, dim), kF32Math)});
}

template <Backend B>
CaseResult run_layer_norm(size_t tokens, size_t dim, DType w_dtype) {
  Rng rng(tokens * 41 + dim);
  // A mean of 100 over unit spread: one-pass E[x^2] - E[x]^2 would lose ~4 digits here.
  const std::vector<float> x = random_values(rng, tokens * dim, DType::kF32, 99.0f, 101.0f);
  const std::vector<float> gamma = random_values(rng, dim, w_dtype, 0.5f, 1.5f);
  const std::vector<float> beta = random_values(rng, dim, w_dtype, -0.5f, 0.5f);
  OP_ASSIGN(auto x_buffer, upload<B>(x, DType::kF32));
  OP_ASSIGN(auto gamma_buffer, upload<B>(gamma, w_dtype));
  OP_ASSIGN(auto beta_buffer, upload<B>(beta, w_dtype));
  OP_ASSIGN(auto out, B::alloc(tokens * dim, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::layer_norm(ctx, x_buffer, gamma_buffer, beta_buffer, 1e-5f, out, tokens, dim));
  OP_ASSIGN(auto actual, download<B>(ctx, out, tokens * dim));
  return compare(actual, ref::layer_norm(x, gamma, beta, 1e-5f, tokens, dim), kF32Math);
}

template <Backend B>
void add_cases(CaseList& cases) {
  for (const NormShape& s : kShapes) {
    const std::string name = shape_name({{"tokens", s.tokens}, {"dim", s.dim}});
    for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
      const std::string dt(dtype_name(dtype));
      add_case<B>(cases, "rms_norm", name, dt, false, [s, dtype] { return run_rms_norm<B>(s.tokens, s.dim, dtype); });
      add_case<B>(cases, "fused_add_rms_norm", name, dt, false,
                  [s, dtype] { return run_fused_add_rms_norm<B>(s.tokens, s.dim, dtype); });
      add_case<B>(cases, "layer_norm", name, dt, false,
                  [s, dtype] { return run_layer_norm<B>(s.tokens, s.dim, dtype); });
      add_case<B>(cases, "all_reduce_add_rms_norm", name, dt, false,
                  [s, dtype] { return run_fused_add_rms_norm<B>(s.tokens, s.dim, dtype, true); });
    }
  }

  using Buffer = typename B::Buffer;
  auto rms = [](size_t x_numel, size_t w_numel, DType w_dtype, size_t out_numel) -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(x_numel, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer w, B::alloc(w_numel, w_dtype));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(out_numel, DType::kF32));
    auto ctx = B::new_context();
    return B::rms_norm(ctx, x, w, 1e-6f, out, 2, 8);
  };
  add_error_case<B>(cases, "rms_norm", "x too small", ErrorCode::kShapeMismatch,
                    [=] { return rms(15, 8, DType::kF32, 16); });
  add_error_case<B>(cases, "rms_norm", "w too small", ErrorCode::kShapeMismatch,
                    [=] { return rms(16, 7, DType::kF32, 16); });
  add_error_case<B>(cases, "rms_norm", "w is i32", ErrorCode::kUnsupported,
                    [=] { return rms(16, 8, DType::kI32, 16); });
  // A residual one value short, through fused_add_rms_norm or (rank_sum) the rank sum fused with it.
  const auto short_residual = [](bool rank_sum) -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer residual, B::alloc(15, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(16, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer w, B::alloc(8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(16, DType::kF32));
    auto ctx = B::new_context();
    if (rank_sum) return all_reduce_add_rms_norm_rounding<B>(ctx, x, residual, w, 1e-6f, out, 2, 8, nullptr);
    return B::fused_add_rms_norm(ctx, residual, x, w, 1e-6f, out, 2, 8);
  };
  add_error_case<B>(cases, "fused_add_rms_norm", "residual too small", ErrorCode::kShapeMismatch,
                    [=] { return short_residual(false); });
  add_error_case<B>(cases, "all_reduce_add_rms_norm", "residual too small", ErrorCode::kShapeMismatch,
                    [=] { return short_residual(true); });
  add_error_case<B>(cases, "layer_norm", "beta dtype differs from gamma", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(16, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer gamma, B::alloc(8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer beta, B::alloc(8, DType::kBF16));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(16, DType::kF32));
    auto ctx = B::new_context();
    return B::layer_norm(ctx, x, gamma, beta, 1e-5f, out, 2, 8);
  });
}

}  // namespace

void add_norm_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
