// Float64 reference implementations of the Backend contract's ops: plain loops that follow the
// comments in backend/backend.h word for word, with no blocking, vectors or shortcuts, so that each
// is obviously right. Inputs are the exact f32 values a backend receives; outputs are double.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend/backend_types.h"

namespace ferrum::op_test::ref {

using Floats = std::vector<float>;
using Doubles = std::vector<double>;

// out[m, n] = a[m, k] @ b[n, k]^T
Doubles gemm(const Floats& a, const Floats& b, size_t m, size_t n, size_t k);

Doubles rms_norm(const Floats& x, const Floats& w, double eps, size_t tokens, size_t dim);
Doubles layer_norm(const Floats& x, const Floats& gamma, const Floats& beta, double eps, size_t tokens, size_t dim);

// flash_attention on q [batch, heads, q_len, hd], k / v [batch, kv_heads, stride, hd].
Doubles attention(const Floats& q, const Floats& k, const Floats& v, size_t batch, size_t q_len, size_t kv_len,
                  size_t pos_offset, const AttnConfig& cfg);
// mla_attention in the weight-absorbed form (see backend.h).
Doubles mla_attention(const Floats& q, const Floats& kv_compressed, const Floats& kv_rope, size_t batch, size_t q_len,
                      size_t kv_len, size_t pos_offset, const AttnConfig& cfg, size_t kv_lora_rank,
                      size_t qk_rope_head_dim);

// input [tokens, heads, hd] -> [heads, tokens, hd] with the mode's norm / rotate-half RoPE.
Doubles qk_norm_rope(const Floats& input, const Floats& norm_w, const Floats& cos, const Floats& sin, size_t tokens,
                     size_t heads, size_t head_dim, size_t pos_offset, double eps, int mode);

double activation(Activation act, double x);
double gelu_erf(double x);
// out[t, i] = act(gate_up[t, i]) * gate_up[t, im + i]
Doubles act_mul_split(const Floats& gate_up, size_t tokens, size_t im, Activation act);

// A row of all -inf gives zeros (the backend contract's reading of "nothing to attend to").
Doubles softmax_rows(const Floats& x, size_t rows, size_t cols);
// Ranking: larger first, ties by lower index, NaN below every number.
std::vector<int32_t> argmax_rows(const Floats& x, size_t rows, size_t cols);
void topk_rows(const Floats& x, size_t rows, size_t cols, size_t k, Doubles& values, std::vector<int32_t>& ids);

}  // namespace ferrum::op_test::ref
