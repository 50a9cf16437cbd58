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
// out[i] = a[i] @ b[i]^T for i < batch; a [batch, m, k], b [batch, n, k].
Doubles gemm_batched(const Floats& a, const Floats& b, size_t batch, size_t m, size_t n, size_t k);
// out (initially `out`) with out[ids[i], :] += weights[i] * src[i, :].
Doubles scatter_add_rows(const Floats& src, const std::vector<uint32_t>& ids, const Floats& weights, const Floats& out,
                         size_t cols);

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

// The paged layouts of backend_types.h's PagedAttnBatch, with the batch metadata on the host.
struct PagedBatch {
  std::vector<int32_t> query_start;   // [num_seqs + 1]
  std::vector<int32_t> context_lens;  // [num_seqs]
  std::vector<int32_t> block_tables;  // [num_seqs, max_blocks_per_seq]
  size_t max_blocks_per_seq = 0;
  size_t block_size = 0;
  size_t num_seqs() const { return context_lens.size(); }
  size_t num_tokens() const { return static_cast<size_t>(query_start.back()); }
};
// pool (initially `pool`) [num_blocks, heads, block_size, width] after writing rows [heads, tokens,
// width] to slot_mapping's slots (negative: skipped).
Doubles paged_cache_write(const Floats& pool, const Floats& rows, const std::vector<int32_t>& slot_mapping,
                          size_t heads, size_t width, size_t block_size);
// OCP float8 e4m3, by search rather than bit arithmetic: the value of a code, and the code of the
// finite value nearest to x (ties to the even code), saturating at +-448, NaN to 0x7f.
double e4m3_value(uint8_t code);
uint8_t e4m3_code(float x);
// One row of an f8_e4m3 pool as backend_types.h lays it out: codes of row / s with
// s = max|row| / 448 (f32 arithmetic), or 1 for a row of zeros; returns s.
float e4m3_scaled_row(const float* row, size_t width, uint8_t* codes);
// paged_cache_write into an f8_e4m3 pool (bytes: the values, then the f32 row scales).
std::vector<uint8_t> paged_cache_write_e4m3(const std::vector<uint8_t>& pool, const Floats& rows,
                                            const std::vector<int32_t>& slot_mapping, size_t heads, size_t width,
                                            size_t block_size);
// paged_attention: each sequence's keys gathered from its blocks, then `attention` on them.
Doubles paged_attention(const Floats& q, const Floats& k_pool, const Floats& v_pool, const PagedBatch& batch,
                        const AttnConfig& cfg);
// paged_mla_attention, the same way over `mla_attention`.
Doubles paged_mla_attention(const Floats& q, const Floats& latent_pool, const Floats& rope_pool,
                            const PagedBatch& batch, const AttnConfig& cfg, size_t kv_lora_rank,
                            size_t qk_rope_head_dim);

// Convolution patches (backend.h): x [channels, length] -> [out_length, channels * kernel], zeros in the padding.
Doubles im2col_1d(const Floats& x, size_t channels, size_t length, size_t kernel, size_t stride, size_t padding);
// x [channels, height, width] -> [out_h * out_w, channels * kernel * kernel].
Doubles im2col_2d(const Floats& x, size_t channels, size_t height, size_t width, size_t kernel, size_t stride,
                  size_t padding);

double activation(Activation act, double x);
double gelu_erf(double x);
// out[t, i] = act(gate_up[t, i]) * gate_up[t, im + i]
Doubles act_mul_split(const Floats& gate_up, size_t tokens, size_t im, Activation act);

// A row of all -inf gives zeros (the backend contract's reading of "nothing to attend to").
Doubles softmax_rows(const Floats& x, size_t rows, size_t cols);
// Ranking: larger first, ties by lower index, NaN below every number.
std::vector<int32_t> argmax_rows(const Floats& x, size_t rows, size_t cols);
void topk_rows(const Floats& x, size_t rows, size_t cols, size_t k, Doubles& values, std::vector<int32_t>& ids);

// sample_rows' draw for one row (params as RowSampling), in double with a full sort. `slack`
// widens the draw and the top_p boundary by that much, for the ids a backend may pick when f32
// rounding lands it on the other side of a boundary: the ids drawn at every corner.
std::vector<int32_t> sample_row_ids(const float* x, size_t cols, const RowSampling& params, double slack);

}  // namespace ferrum::op_test::ref
