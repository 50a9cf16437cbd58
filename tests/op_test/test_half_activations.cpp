// f16 / bf16 activations end to end, for backends that take them (CUDA): GEMM on the GEMV and the
// cuBLASLt paths, the norms, attention on both CUDA kernels (tensor-core prefill, split-KV decode),
// the gated MLP, residual adds, softmax, RoPE and the KV append.
//
// Tolerances: inputs are rounded to the activation dtype on the host and the reference uses those
// values, so what is left is the f32 arithmetic and the rounding of the stored result:
// stored_tolerance(dtype, kF32Math), i.e. half an ulp of the output type. Attention gets twice
// that: its probabilities are rounded to the operand type before the P.V product on tensor cores,
// a second rounding of the same size.
#include <cmath>

#include "op_test.h"
#include "reference_ops.h"

namespace ferrum::op_test {
namespace {

std::vector<double> doubles(const std::vector<float>& values) {
  return std::vector<double>(values.begin(), values.end());
}

template <Backend B>
CaseResult run_gemm(size_t m, size_t n, size_t k, DType act, DType weight) {
  Rng rng(m * 7 + n * 11 + k);
  const std::vector<float> a = random_values(rng, m * k, act);
  const std::vector<float> b = random_values(rng, n * k, weight);
  OP_ASSIGN(auto a_buffer, upload<B>(a, act));
  OP_ASSIGN(auto b_buffer, upload<B>(b, weight));
  OP_ASSIGN(auto out, B::alloc(m * n, act));
  auto ctx = B::new_context();
  OP_TRY(B::gemm(ctx, a_buffer, b_buffer, out, m, n, k));
  OP_ASSIGN(auto actual, download<B>(ctx, out, m * n));
  return compare(actual, ref::gemm(a, b, m, n, k), stored_tolerance(act, kF32Math));
}

template <Backend B>
CaseResult run_norms(size_t tokens, size_t dim, DType act) {
  Rng rng(tokens * 5 + dim);
  const std::vector<float> x = random_values(rng, tokens * dim, act, -3.0f, 3.0f);
  const std::vector<float> residual = random_values(rng, tokens * dim, act, -3.0f, 3.0f);
  const std::vector<float> w = random_values(rng, dim, DType::kBF16, 0.5f, 1.5f);
  const std::vector<float> beta = random_values(rng, dim, DType::kBF16, -0.5f, 0.5f);
  OP_ASSIGN(auto x_buffer, upload<B>(x, act));
  OP_ASSIGN(auto residual_buffer, upload<B>(residual, act));
  OP_ASSIGN(auto w_buffer, upload<B>(w, DType::kBF16));
  OP_ASSIGN(auto beta_buffer, upload<B>(beta, DType::kBF16));
  OP_ASSIGN(auto rms_out, B::alloc(tokens * dim, act));
  OP_ASSIGN(auto ln_out, B::alloc(tokens * dim, act));
  OP_ASSIGN(auto fused_out, B::alloc(tokens * dim, act));
  auto ctx = B::new_context();
  OP_TRY(B::rms_norm(ctx, x_buffer, w_buffer, 1e-6f, rms_out, tokens, dim));
  OP_TRY(B::layer_norm(ctx, x_buffer, w_buffer, beta_buffer, 1e-5f, ln_out, tokens, dim));
  OP_TRY(B::fused_add_rms_norm(ctx, residual_buffer, x_buffer, w_buffer, 1e-6f, fused_out, tokens, dim));
  // The residual is stored as `act`, and the norm reads it back as stored.
  std::vector<float> sum(tokens * dim);
  for (size_t i = 0; i < sum.size(); ++i) sum[i] = round_to(act, residual[i] + x[i]);
  const double tol = stored_tolerance(act, kF32Math);
  OP_ASSIGN(auto rms, download<B>(ctx, rms_out, tokens * dim));
  OP_ASSIGN(auto ln, download<B>(ctx, ln_out, tokens * dim));
  OP_ASSIGN(auto fused, download<B>(ctx, fused_out, tokens * dim));
  OP_ASSIGN(auto new_residual, download<B>(ctx, residual_buffer, tokens * dim));
  return compare_all({compare(rms, ref::rms_norm(x, w, 1e-6, tokens, dim), tol),
                      compare(ln, ref::layer_norm(x, w, beta, 1e-5, tokens, dim), tol),
                      compare(fused, ref::rms_norm(sum, w, 1e-6, tokens, dim), tol),
                      compare(new_residual, doubles(sum), kExact)});
}

struct AttnCase {
  const char* label;
  size_t batch, q_len, kv_len, pos_offset, heads, kv_heads, head_dim;
  bool causal;
  size_t window, stride;
};

constexpr AttnCase kAttnCases[] = {
    {"prefill 77, gqa 4, d128", 1, 77, 77, 0, 8, 2, 128, true, 0, 0},
    {"prefill 40, d256", 1, 40, 40, 0, 2, 1, 256, true, 0, 0},
    {"encoder 64, d64, batch 2", 2, 64, 64, 0, 4, 4, 64, false, 0, 0},
    {"chunk 33 at 67, d80, window 20", 1, 33, 100, 67, 4, 1, 80, true, 20, 0},
    {"prefill 130, d96, into a cache", 1, 130, 130, 0, 2, 2, 96, true, 0, 160},
    {"decode kv 4096, gqa 4", 1, 1, 4096, 4095, 8, 2, 128, true, 0, 0},
    {"decode kv 1000 in a cache, window 128", 2, 1, 1000, 999, 4, 1, 64, true, 128, 1024},
    {"q_len 4 over kv 300, gqa 8", 1, 4, 300, 296, 8, 1, 128, true, 0, 0},
    // The decode kernel (attention_decode.cuh): one tile, a tile boundary, many splits, group 8.
    {"decode kv 5, gqa 4, d128", 1, 1, 5, 4, 8, 2, 128, true, 0, 0},
    {"decode kv 65 in a cache, gqa 4, d128", 1, 1, 65, 64, 4, 1, 128, true, 0, 96},
    {"decode kv 640, gqa 8, d128, batch 3", 3, 1, 640, 639, 16, 2, 128, true, 0, 0},
    {"decode kv 300, mha, d64, window 100", 1, 1, 300, 299, 4, 4, 64, true, 100, 0},
};

template <Backend B>
CaseResult run_attention(const AttnCase& c, DType act) {
  AttnConfig cfg;
  cfg.num_heads = c.heads;
  cfg.num_kv_heads = c.kv_heads;
  cfg.head_dim = c.head_dim;
  cfg.causal = c.causal;
  cfg.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  cfg.kv_seq_stride = c.stride;
  cfg.sliding_window = c.window;
  const size_t stride = c.stride == 0 ? c.kv_len : c.stride;
  Rng rng(c.q_len * 17 + c.kv_len + c.head_dim);
  const std::vector<float> q = random_values(rng, c.batch * c.heads * c.q_len * c.head_dim, act, -3.0f, 3.0f);
  const std::vector<float> k = random_values(rng, c.batch * c.kv_heads * stride * c.head_dim, act);
  const std::vector<float> v = random_values(rng, c.batch * c.kv_heads * stride * c.head_dim, act);
  OP_ASSIGN(auto q_buffer, upload<B>(q, act));
  OP_ASSIGN(auto k_buffer, upload<B>(k, act));
  OP_ASSIGN(auto v_buffer, upload<B>(v, act));
  const size_t out_numel = c.batch * c.heads * c.q_len * c.head_dim;
  OP_ASSIGN(auto out, B::alloc(out_numel, act));
  auto ctx = B::new_context();
  OP_TRY(B::flash_attention(ctx, q_buffer, k_buffer, v_buffer, out, c.batch, c.q_len, c.kv_len, c.pos_offset, cfg));
  OP_ASSIGN(auto actual, download<B>(ctx, out, out_numel));
  return compare(actual, ref::attention(q, k, v, c.batch, c.q_len, c.kv_len, c.pos_offset, cfg),
                 2 * stored_tolerance(act, kF32Math));
}

template <Backend B>
CaseResult run_elementwise(size_t tokens, size_t im, DType act) {
  Rng rng(tokens + im);
  const std::vector<float> gate_up = random_values(rng, tokens * 2 * im, act, -4.0f, 4.0f);
  const std::vector<float> residual = random_values(rng, tokens * im, act);
  std::vector<float> logits = random_values(rng, tokens * im, act, -8.0f, 8.0f);
  OP_ASSIGN(auto gu, upload<B>(gate_up, act));
  OP_ASSIGN(auto mlp, B::alloc(tokens * im, act));
  OP_ASSIGN(auto res, upload<B>(residual, act));
  OP_ASSIGN(auto lg, upload<B>(logits, act));
  OP_ASSIGN(auto probs, B::alloc(tokens * im, act));
  auto ctx = B::new_context();
  OP_TRY(B::fused_silu_mul_split(ctx, gu, mlp, tokens, im));
  OP_TRY(B::add_inplace(ctx, res, mlp, tokens * im));
  OP_TRY(B::softmax_rows(ctx, lg, probs, tokens, im));
  const double tol = stored_tolerance(act, kTranscend);
  const ref::Doubles mlp_ref = ref::act_mul_split(gate_up, tokens, im, Activation::kSilu);
  OP_ASSIGN(auto mlp_actual, download<B>(ctx, mlp, tokens * im));
  // The add reads the mlp output as stored, then rounds the sum once more.
  ref::Doubles sum(tokens * im);
  for (size_t i = 0; i < sum.size(); ++i) sum[i] = residual[i] + static_cast<double>(mlp_actual[i]);
  OP_ASSIGN(auto res_actual, download<B>(ctx, res, tokens * im));
  OP_ASSIGN(auto probs_actual, download<B>(ctx, probs, tokens * im));
  return compare_all({compare(mlp_actual, mlp_ref, tol), compare(res_actual, sum, tol),
                      compare(probs_actual, ref::softmax_rows(logits, tokens, im), tol)});
}

template <Backend B>
CaseResult run_rope_and_append(size_t tokens, size_t heads, size_t head_dim, DType act) {
  Rng rng(tokens * heads + head_dim);
  const size_t pos_offset = 5, capacity = 32, half = head_dim / 2;
  const std::vector<float> input = random_values(rng, tokens * heads * head_dim, act, -2.0f, 2.0f);
  const std::vector<float> norm_w = random_values(rng, head_dim, DType::kBF16, 0.5f, 1.5f);
  std::vector<float> cos((pos_offset + tokens) * half), sin((pos_offset + tokens) * half);
  for (size_t p = 0; p < pos_offset + tokens; ++p) {
    for (size_t d = 0; d < half; ++d) {
      const double angle = p * std::pow(10000.0, -2.0 * d / head_dim);
      cos[p * half + d] = static_cast<float>(std::cos(angle));
      sin[p * half + d] = static_cast<float>(std::sin(angle));
    }
  }
  const std::vector<float> cache = random_values(rng, heads * capacity * head_dim, act);
  OP_ASSIGN(auto in_buffer, upload<B>(input, act));
  OP_ASSIGN(auto w_buffer, upload<B>(norm_w, DType::kBF16));
  OP_ASSIGN(auto cos_buffer, upload<B>(cos, DType::kF32));
  OP_ASSIGN(auto sin_buffer, upload<B>(sin, DType::kF32));
  OP_ASSIGN(auto roped, B::alloc(tokens * heads * head_dim, act));
  OP_ASSIGN(auto cache_k, upload<B>(cache, act));
  OP_ASSIGN(auto cache_v, upload<B>(cache, act));
  auto ctx = B::new_context();
  OP_TRY(B::qk_norm_rope(ctx, in_buffer, w_buffer, cos_buffer, sin_buffer, roped, tokens, heads, head_dim, pos_offset,
                         1e-6f, kQkNormRope));
  OP_TRY(B::kv_cache_append_head_major(ctx, cache_k, cache_v, pos_offset, capacity, roped, roped, tokens, heads,
                                       head_dim));
  OP_ASSIGN(auto roped_actual, download<B>(ctx, roped, tokens * heads * head_dim));
  // The append copies the stored rows exactly.
  std::vector<float> expected_cache = cache;
  for (size_t h = 0; h < heads; ++h) {
    for (size_t t = 0; t < tokens; ++t) {
      for (size_t d = 0; d < head_dim; ++d) {
        expected_cache[(h * capacity + pos_offset + t) * head_dim + d] = roped_actual[(h * tokens + t) * head_dim + d];
      }
    }
  }
  OP_ASSIGN(auto cache_actual, download<B>(ctx, cache_k, cache.size()));
  return compare_all(
      {compare(roped_actual,
               ref::qk_norm_rope(input, norm_w, cos, sin, tokens, heads, head_dim, pos_offset, 1e-6, kQkNormRope),
               stored_tolerance(act, kF32Math)),
       compare(cache_actual, doubles(expected_cache), kExact)});
}

template <Backend B>
void add_cases(CaseList& cases) {
  if constexpr (takes_half_activations<B>()) {
    for (DType act : {DType::kBF16, DType::kF16}) {
      const std::string dt(dtype_name(act));
      // m <= 8 runs the GEMV kernel, larger m cuBLASLt; k = 13 and 1000 leave the vector path.
      for (auto [m, n, k] : {std::tuple<size_t, size_t, size_t>{1, 33, 300},
                             {5, 64, 1000},
                             {8, 40, 13},
                             {64, 129, 520},
                             {17, 127, 65}}) {
        const std::string shape = shape_name({{"m", m}, {"n", n}, {"k", k}});
        add_case<B>(cases, "gemm", cat(shape, " activations ", dt), dt, false,
                    [=] { return run_gemm<B>(m, n, k, act, act); });
        add_case<B>(cases, "gemm", cat(shape, " activations ", dt, ", f32 weight"), dt, false,
                    [=] { return run_gemm<B>(m, n, k, act, DType::kF32); });
      }
      for (auto [tokens, dim] : {std::pair<size_t, size_t>{1, 4096}, {7, 1000}, {3, 5120}, {2, 17}}) {
        add_case<B>(cases, "rms_norm / layer_norm / fused_add",
                    cat(shape_name({{"tokens", tokens}, {"dim", dim}}), " activations ", dt), dt, false,
                    [=] { return run_norms<B>(tokens, dim, act); });
      }
      for (const AttnCase& c : kAttnCases) {
        add_case<B>(cases, "flash_attention", cat(c.label, ", q/k/v/out ", dt), dt, false,
                    [c, act] { return run_attention<B>(c, act); });
      }
      for (auto [tokens, im] : {std::pair<size_t, size_t>{1, 8192}, {17, 127}, {64, 1000}}) {
        add_case<B>(cases, "silu_mul / add_inplace / softmax",
                    cat(shape_name({{"tokens", tokens}, {"im", im}}), " activations ", dt), dt, false,
                    [=] { return run_elementwise<B>(tokens, im, act); });
      }
      for (size_t head_dim : {size_t{64}, size_t{128}, size_t{6}}) {
        add_case<B>(cases, "qk_norm_rope + kv append", cat("tokens=3 heads=4 head_dim=", head_dim, " ", dt), dt, false,
                    [=] { return run_rope_and_append<B>(3, 4, head_dim, act); });
      }
    }
  }
}

}  // namespace

void add_half_activation_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
