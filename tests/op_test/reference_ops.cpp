#include "reference_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>

namespace ferrum::op_test::ref {
namespace {

// True when query position p may attend to key position j (flash_attention's mask).
bool visible(size_t p, size_t j, const AttnConfig& cfg) {
  if (cfg.causal && j > p) return false;
  if (cfg.sliding_window > 0 && j + cfg.sliding_window <= p) return false;  // j < p - w + 1
  return true;
}

// softmax(scores) @ values over the visible keys; zeros when none is visible.
// score_of(j) gives the scaled score of key j, value_of(j, d) the value.
template <class ScoreOf, class ValueOf>
void attend(size_t p, size_t kv_len, const AttnConfig& cfg, size_t dv, ScoreOf score_of, ValueOf value_of,
            double* out) {
  std::vector<double> scores(kv_len, -std::numeric_limits<double>::infinity());
  double max = -std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < kv_len; ++j) {
    if (!visible(p, j, cfg)) continue;
    scores[j] = score_of(j);
    max = std::max(max, scores[j]);
  }
  std::fill(out, out + dv, 0.0);
  if (max == -std::numeric_limits<double>::infinity()) return;
  double total = 0.0;
  for (size_t j = 0; j < kv_len; ++j) {
    if (!visible(p, j, cfg)) continue;
    const double weight = std::exp(scores[j] - max);
    total += weight;
    for (size_t d = 0; d < dv; ++d) out[d] += weight * value_of(j, d);
  }
  for (size_t d = 0; d < dv; ++d) out[d] /= total;
}

bool ranks_before(float a, size_t ia, float b, size_t ib) {
  if (std::isnan(a) != std::isnan(b)) return std::isnan(b);
  if (std::isnan(a) || a == b) return ia < ib;
  return a > b;
}

}  // namespace

Doubles gemm(const Floats& a, const Floats& b, size_t m, size_t n, size_t k) {
  Doubles out(m * n, 0.0);
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (size_t p = 0; p < k; ++p) sum += static_cast<double>(a[i * k + p]) * b[j * k + p];
      out[i * n + j] = sum;
    }
  }
  return out;
}

Doubles gemm_batched(const Floats& a, const Floats& b, size_t batch, size_t m, size_t n, size_t k) {
  Doubles out;
  out.reserve(batch * m * n);
  for (size_t i = 0; i < batch; ++i) {
    const Floats a_i(a.begin() + static_cast<std::ptrdiff_t>(i * m * k),
                     a.begin() + static_cast<std::ptrdiff_t>((i + 1) * m * k));
    const Floats b_i(b.begin() + static_cast<std::ptrdiff_t>(i * n * k),
                     b.begin() + static_cast<std::ptrdiff_t>((i + 1) * n * k));
    const Doubles out_i = gemm(a_i, b_i, m, n, k);
    out.insert(out.end(), out_i.begin(), out_i.end());
  }
  return out;
}

Doubles scatter_add_rows(const Floats& src, const std::vector<uint32_t>& ids, const Floats& weights, const Floats& out,
                         size_t cols) {
  Doubles result(out.begin(), out.end());
  for (size_t i = 0; i < ids.size(); ++i) {
    for (size_t c = 0; c < cols; ++c) {
      result[ids[i] * cols + c] += static_cast<double>(weights[i]) * src[i * cols + c];
    }
  }
  return result;
}

Doubles rms_norm(const Floats& x, const Floats& w, double eps, size_t tokens, size_t dim) {
  Doubles out(tokens * dim);
  for (size_t t = 0; t < tokens; ++t) {
    double sum = 0.0;
    for (size_t c = 0; c < dim; ++c) sum += static_cast<double>(x[t * dim + c]) * x[t * dim + c];
    const double inv = 1.0 / std::sqrt(sum / static_cast<double>(dim) + eps);
    for (size_t c = 0; c < dim; ++c) out[t * dim + c] = x[t * dim + c] * inv * w[c];
  }
  return out;
}

Doubles layer_norm(const Floats& x, const Floats& gamma, const Floats& beta, double eps, size_t tokens, size_t dim) {
  Doubles out(tokens * dim);
  for (size_t t = 0; t < tokens; ++t) {
    double mean = 0.0;
    for (size_t c = 0; c < dim; ++c) mean += x[t * dim + c];
    mean /= static_cast<double>(dim);
    double var = 0.0;
    for (size_t c = 0; c < dim; ++c) var += (x[t * dim + c] - mean) * (x[t * dim + c] - mean);
    var /= static_cast<double>(dim);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (size_t c = 0; c < dim; ++c) out[t * dim + c] = (x[t * dim + c] - mean) * inv * gamma[c] + beta[c];
  }
  return out;
}

Doubles attention(const Floats& q, const Floats& k, const Floats& v, size_t batch, size_t q_len, size_t kv_len,
                  size_t pos_offset, const AttnConfig& cfg) {
  const size_t hd = cfg.head_dim;
  const size_t stride = cfg.kv_seq_stride == 0 ? kv_len : cfg.kv_seq_stride;
  const size_t group = cfg.num_heads / cfg.num_kv_heads;
  Doubles out(batch * cfg.num_heads * q_len * hd);
  for (size_t b = 0; b < batch; ++b) {
    for (size_t h = 0; h < cfg.num_heads; ++h) {
      const size_t kv_base = (b * cfg.num_kv_heads + h / group) * stride;
      for (size_t i = 0; i < q_len; ++i) {
        const size_t q_row = ((b * cfg.num_heads + h) * q_len + i) * hd;
        auto score_of = [&](size_t j) {
          double dot = 0.0;
          for (size_t d = 0; d < hd; ++d) dot += static_cast<double>(q[q_row + d]) * k[(kv_base + j) * hd + d];
          return cfg.scale * dot;
        };
        auto value_of = [&](size_t j, size_t d) { return static_cast<double>(v[(kv_base + j) * hd + d]); };
        attend(pos_offset + i, kv_len, cfg, hd, score_of, value_of, &out[q_row]);
      }
    }
  }
  return out;
}

Doubles mla_attention(const Floats& q, const Floats& kv_compressed, const Floats& kv_rope, size_t batch, size_t q_len,
                      size_t kv_len, size_t pos_offset, const AttnConfig& cfg, size_t kv_lora_rank,
                      size_t qk_rope_head_dim) {
  const size_t rank = kv_lora_rank;
  const size_t rope = qk_rope_head_dim;
  const size_t stride = cfg.kv_seq_stride == 0 ? kv_len : cfg.kv_seq_stride;
  Doubles out(batch * cfg.num_heads * q_len * rank);
  for (size_t b = 0; b < batch; ++b) {
    for (size_t h = 0; h < cfg.num_heads; ++h) {
      for (size_t i = 0; i < q_len; ++i) {
        const size_t q_row = ((b * cfg.num_heads + h) * q_len + i) * (rank + rope);
        auto score_of = [&](size_t j) {
          double latent = 0.0;
          for (size_t d = 0; d < rank; ++d) {
            latent += static_cast<double>(q[q_row + d]) * kv_compressed[(b * stride + j) * rank + d];
          }
          double rotary = 0.0;
          for (size_t d = 0; d < rope; ++d) {
            rotary += static_cast<double>(q[q_row + rank + d]) * kv_rope[(b * stride + j) * rope + d];
          }
          return cfg.scale * (latent + rotary);
        };
        auto value_of = [&](size_t j, size_t d) {
          return static_cast<double>(kv_compressed[(b * stride + j) * rank + d]);
        };
        attend(pos_offset + i, kv_len, cfg, rank, score_of, value_of,
               &out[((b * cfg.num_heads + h) * q_len + i) * rank]);
      }
    }
  }
  return out;
}

Doubles qk_norm_rope(const Floats& input, const Floats& norm_w, const Floats& cos, const Floats& sin, size_t tokens,
                     size_t heads, size_t head_dim, size_t pos_offset, double eps, int mode) {
  Doubles out(heads * tokens * head_dim);
  const size_t half = head_dim / 2;
  for (size_t t = 0; t < tokens; ++t) {
    for (size_t h = 0; h < heads; ++h) {
      const float* x = &input[(t * heads + h) * head_dim];
      double* y = &out[(h * tokens + t) * head_dim];
      std::vector<double> values(x, x + head_dim);
      if (mode == kQkNormRope) {
        double sum = 0.0;
        for (double value : values) sum += value * value;
        const double inv = 1.0 / std::sqrt(sum / static_cast<double>(head_dim) + eps);
        for (size_t d = 0; d < head_dim; ++d) values[d] *= inv * norm_w[d];
      }
      if (mode == kQkTransposeOnly) {
        std::copy(values.begin(), values.end(), y);
        continue;
      }
      const size_t row = (pos_offset + t) * half;
      for (size_t d = 0; d < half; ++d) {
        y[d] = values[d] * cos[row + d] - values[d + half] * sin[row + d];
        y[d + half] = values[d + half] * cos[row + d] + values[d] * sin[row + d];
      }
    }
  }
  return out;
}

double gelu_erf(double x) {
  return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}

double activation(Activation act, double x) {
  switch (act) {
    case Activation::kGeluErf: return gelu_erf(x);
    case Activation::kGeluTanh: {
      const double inner = std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x);
      return 0.5 * x * (1.0 + std::tanh(inner));
    }
    case Activation::kGeluQuick: return x / (1.0 + std::exp(-1.702 * x));
    case Activation::kSilu: return x / (1.0 + std::exp(-x));
    case Activation::kSigmoid: return 1.0 / (1.0 + std::exp(-x));
  }
  return x;
}

Doubles act_mul_split(const Floats& gate_up, size_t tokens, size_t im, Activation act) {
  Doubles out(tokens * im);
  for (size_t t = 0; t < tokens; ++t) {
    for (size_t i = 0; i < im; ++i) {
      out[t * im + i] = activation(act, gate_up[t * 2 * im + i]) * gate_up[t * 2 * im + im + i];
    }
  }
  return out;
}

Doubles softmax_rows(const Floats& x, size_t rows, size_t cols) {
  Doubles out(rows * cols, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    double max = -std::numeric_limits<double>::infinity();
    for (size_t c = 0; c < cols; ++c) max = std::max<double>(max, x[r * cols + c]);
    if (max == -std::numeric_limits<double>::infinity()) continue;
    double total = 0.0;
    for (size_t c = 0; c < cols; ++c) total += std::exp(x[r * cols + c] - max);
    for (size_t c = 0; c < cols; ++c) out[r * cols + c] = std::exp(x[r * cols + c] - max) / total;
  }
  return out;
}

Doubles im2col_1d(const Floats& x, size_t channels, size_t length, size_t kernel, size_t stride, size_t padding) {
  const size_t out_length = (length + 2 * padding - kernel) / stride + 1;
  Doubles out(out_length * channels * kernel, 0.0);
  for (size_t t = 0; t < out_length; ++t) {
    for (size_t c = 0; c < channels; ++c) {
      for (size_t k = 0; k < kernel; ++k) {
        // The input index t * stride + k - padding, kept signed so the left padding shows as negative.
        const long long i = static_cast<long long>(t * stride + k) - static_cast<long long>(padding);
        if (i >= 0 && i < static_cast<long long>(length)) {
          out[t * channels * kernel + c * kernel + k] = x[c * length + static_cast<size_t>(i)];
        }
      }
    }
  }
  return out;
}

Doubles im2col_2d(const Floats& x, size_t channels, size_t height, size_t width, size_t kernel, size_t stride,
                  size_t padding) {
  const size_t out_h = (height + 2 * padding - kernel) / stride + 1;
  const size_t out_w = (width + 2 * padding - kernel) / stride + 1;
  const size_t row = channels * kernel * kernel;
  Doubles out(out_h * out_w * row, 0.0);
  for (size_t oy = 0; oy < out_h; ++oy) {
    for (size_t ox = 0; ox < out_w; ++ox) {
      for (size_t c = 0; c < channels; ++c) {
        for (size_t ky = 0; ky < kernel; ++ky) {
          for (size_t kx = 0; kx < kernel; ++kx) {
            const long long y = static_cast<long long>(oy * stride + ky) - static_cast<long long>(padding);
            const long long xi = static_cast<long long>(ox * stride + kx) - static_cast<long long>(padding);
            if (y < 0 || y >= static_cast<long long>(height) || xi < 0 || xi >= static_cast<long long>(width)) {
              continue;
            }
            out[(oy * out_w + ox) * row + (c * kernel + ky) * kernel + kx] =
                x[(c * height + static_cast<size_t>(y)) * width + static_cast<size_t>(xi)];
          }
        }
      }
    }
  }
  return out;
}

std::vector<int32_t> argmax_rows(const Floats& x, size_t rows, size_t cols) {
  std::vector<int32_t> out(rows);
  for (size_t r = 0; r < rows; ++r) {
    size_t best = 0;
    for (size_t c = 1; c < cols; ++c) {
      if (ranks_before(x[r * cols + c], c, x[r * cols + best], best)) best = c;
    }
    out[r] = static_cast<int32_t>(best);
  }
  return out;
}

namespace {

int32_t draw_once(const float* x, size_t cols, const RowSampling& params, double top_p, double uniform) {
  const std::vector<int32_t> argmax = argmax_rows(Floats(x, x + cols), 1, cols);
  if (!(params.temperature > 0.0f)) return argmax[0];
  double max = -std::numeric_limits<double>::infinity();
  std::vector<size_t> order;
  for (size_t c = 0; c < cols; ++c) {
    if (!std::isfinite(x[c])) continue;
    order.push_back(c);
    max = std::max(max, static_cast<double>(x[c]));
  }
  if (order.empty() || std::isinf(max) || std::any_of(x, x + cols, [](float v) { return v == INFINITY; }))
    return argmax[0];
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] > x[b]; });
  std::vector<double> p(cols, 0.0);
  double total = 0.0;
  for (size_t c : order) total += (p[c] = std::exp((x[c] - max) / params.temperature));
  for (double& value : p) value /= total;
  size_t kept = order.size();
  const double top_k = std::floor(params.top_k);
  if (top_k >= 1.0 && top_k < static_cast<double>(kept)) kept = static_cast<size_t>(top_k);
  double cumulative = 0.0;
  for (size_t i = 0; i < kept && top_p < 1.0; ++i) {
    cumulative += p[order[i]];
    if (cumulative >= top_p) kept = i + 1;
  }
  std::vector<bool> keep(cols, false);
  for (size_t i = 0; i < kept; ++i) keep[order[i]] = p[order[i]] >= params.min_p * p[order[0]];
  if (std::find(keep.begin(), keep.end(), true) == keep.end()) return argmax[0];  // min_p > 1 or NaN
  double kept_mass = 0.0;
  for (size_t c = 0; c < cols; ++c) kept_mass += keep[c] ? p[c] : 0.0;
  double running = 0.0;
  int32_t last = -1;
  for (size_t c = 0; c < cols; ++c) {
    if (!keep[c]) continue;
    running += p[c];
    last = static_cast<int32_t>(c);
    if (uniform * kept_mass < running) return last;
  }
  return last;
}

}  // namespace

std::vector<int32_t> sample_row_ids(const float* x, size_t cols, const RowSampling& params, double slack) {
  std::vector<int32_t> ids;
  for (double dp : {-slack, 0.0, slack}) {
    for (double du : {-slack, 0.0, slack}) {
      const double top_p = params.top_p < 1.0f ? std::min(1.0, params.top_p + dp) : 1.0;
      const double uniform = params.uniform > 0.0f ? params.uniform : 0.0;  // NaN draws at 0
      const int32_t id = draw_once(x, cols, params, top_p, std::clamp(uniform + du, 0.0, 1.0));
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
  }
  return ids;
}

void topk_rows(const Floats& x, size_t rows, size_t cols, size_t k, Doubles& values, std::vector<int32_t>& ids) {
  values.assign(rows * k, 0.0);
  ids.assign(rows * k, 0);
  for (size_t r = 0; r < rows; ++r) {
    std::vector<size_t> order(cols);
    for (size_t c = 0; c < cols; ++c) order[c] = c;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return ranks_before(x[r * cols + a], a, x[r * cols + b], b); });
    for (size_t i = 0; i < k; ++i) {
      values[r * k + i] = x[r * cols + order[i]];
      ids[r * k + i] = static_cast<int32_t>(order[i]);
    }
  }
}

Doubles paged_cache_write(const Floats& pool, const Floats& rows, const std::vector<int32_t>& slot_mapping,
                          size_t heads, size_t width, size_t block_size) {
  Doubles out(pool.begin(), pool.end());
  const size_t tokens = slot_mapping.size();
  for (size_t t = 0; t < tokens; ++t) {
    if (slot_mapping[t] < 0) continue;
    const auto slot = static_cast<size_t>(slot_mapping[t]);
    const size_t block = slot / block_size;
    const size_t row = slot % block_size;
    for (size_t h = 0; h < heads; ++h) {
      for (size_t d = 0; d < width; ++d) {
        out[((block * heads + h) * block_size + row) * width + d] = rows[(h * tokens + t) * width + d];
      }
    }
  }
  return out;
}

double e4m3_value(uint8_t code) {
  const int exponent = (code >> 3) & 0xf;
  const int mantissa = code & 0x7;
  if (exponent == 0xf && mantissa == 0x7) return std::numeric_limits<double>::quiet_NaN();
  const double magnitude =
      exponent == 0 ? std::ldexp(mantissa / 8.0, -6) : std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
  return (code & 0x80) ? -magnitude : magnitude;
}

uint8_t e4m3_code(float x) {
  if (std::isnan(x)) return 0x7f;
  const double target = std::min(std::fabs(static_cast<double>(x)), 448.0);
  uint8_t best = 0;
  for (uint8_t code = 1; code <= 0x7e; ++code) {
    const double miss = std::fabs(e4m3_value(code) - target);
    const double best_miss = std::fabs(e4m3_value(best) - target);
    if (miss < best_miss || (miss == best_miss && code % 2 == 0)) best = code;
  }
  return static_cast<uint8_t>(best | (std::signbit(x) ? 0x80 : 0));
}

float e4m3_scaled_row(const float* row, size_t width, uint8_t* codes) {
  float largest = 0.0f;
  for (size_t d = 0; d < width; ++d) largest = std::max(largest, std::fabs(row[d]));
  const float scale = largest > 0.0f ? largest / 448.0f : 1.0f;
  for (size_t d = 0; d < width; ++d) codes[d] = e4m3_code(row[d] / scale);
  return scale;
}

std::vector<uint8_t> paged_cache_write_e4m3(const std::vector<uint8_t>& pool, const Floats& rows,
                                            const std::vector<int32_t>& slot_mapping, size_t heads, size_t width,
                                            size_t block_size) {
  std::vector<uint8_t> out = pool;
  const size_t pool_rows = pool.size() / (width + sizeof(float));
  const size_t tokens = slot_mapping.size();
  for (size_t t = 0; t < tokens; ++t) {
    if (slot_mapping[t] < 0) continue;
    const auto slot = static_cast<size_t>(slot_mapping[t]);
    for (size_t h = 0; h < heads; ++h) {
      const size_t row = (slot / block_size * heads + h) * block_size + slot % block_size;
      const float scale = e4m3_scaled_row(&rows[(h * tokens + t) * width], width, &out[row * width]);
      std::memcpy(&out[pool_rows * width + row * sizeof(float)], &scale, sizeof scale);
    }
  }
  return out;
}

namespace {

// Rows [heads, context, width] of one sequence, gathered from pool [num_blocks, heads, block_size, width].
Floats gather_sequence(const Floats& pool, const PagedBatch& batch, size_t seq, size_t heads, size_t width) {
  const size_t context = static_cast<size_t>(batch.context_lens[seq]);
  Floats rows(heads * context * width);
  for (size_t h = 0; h < heads; ++h) {
    for (size_t j = 0; j < context; ++j) {
      const auto block = static_cast<size_t>(batch.block_tables[seq * batch.max_blocks_per_seq + j / batch.block_size]);
      const size_t source = ((block * heads + h) * batch.block_size + j % batch.block_size) * width;
      std::copy_n(pool.begin() + static_cast<std::ptrdiff_t>(source), width,
                  rows.begin() + static_cast<std::ptrdiff_t>((h * context + j) * width));
    }
  }
  return rows;
}

// Query rows of one sequence [heads, q_len, width], from the batch's [heads, num_tokens, width].
Floats sequence_rows(const Floats& all, const PagedBatch& batch, size_t seq, size_t heads, size_t width) {
  const auto first = static_cast<size_t>(batch.query_start[seq]);
  const size_t q_len = static_cast<size_t>(batch.query_start[seq + 1]) - first;
  Floats rows(heads * q_len * width);
  for (size_t h = 0; h < heads; ++h) {
    std::copy_n(all.begin() + static_cast<std::ptrdiff_t>((h * batch.num_tokens() + first) * width), q_len * width,
                rows.begin() + static_cast<std::ptrdiff_t>(h * q_len * width));
  }
  return rows;
}

// Puts one sequence's [heads, q_len, width] result into the batch's [heads, num_tokens, width].
void place_rows(const Doubles& rows, const PagedBatch& batch, size_t seq, size_t heads, size_t width, Doubles& all) {
  const auto first = static_cast<size_t>(batch.query_start[seq]);
  const size_t q_len = static_cast<size_t>(batch.query_start[seq + 1]) - first;
  for (size_t h = 0; h < heads; ++h) {
    std::copy_n(rows.begin() + static_cast<std::ptrdiff_t>(h * q_len * width), q_len * width,
                all.begin() + static_cast<std::ptrdiff_t>((h * batch.num_tokens() + first) * width));
  }
}

}  // namespace

Doubles paged_attention(const Floats& q, const Floats& k_pool, const Floats& v_pool, const PagedBatch& batch,
                        const AttnConfig& cfg) {
  const size_t hd = cfg.head_dim;
  Doubles out(cfg.num_heads * batch.num_tokens() * hd, 0.0);
  AttnConfig dense = cfg;
  dense.kv_seq_stride = 0;
  for (size_t s = 0; s < batch.num_seqs(); ++s) {
    const size_t q_len = static_cast<size_t>(batch.query_start[s + 1] - batch.query_start[s]);
    const auto context = static_cast<size_t>(batch.context_lens[s]);
    const Floats k = gather_sequence(k_pool, batch, s, cfg.num_kv_heads, hd);
    const Floats v = gather_sequence(v_pool, batch, s, cfg.num_kv_heads, hd);
    const Floats queries = sequence_rows(q, batch, s, cfg.num_heads, hd);
    place_rows(attention(queries, k, v, 1, q_len, context, context - q_len, dense), batch, s, cfg.num_heads, hd, out);
  }
  return out;
}

Doubles paged_mla_attention(const Floats& q, const Floats& latent_pool, const Floats& rope_pool,
                            const PagedBatch& batch, const AttnConfig& cfg, size_t kv_lora_rank,
                            size_t qk_rope_head_dim) {
  Doubles out(cfg.num_heads * batch.num_tokens() * kv_lora_rank, 0.0);
  AttnConfig dense = cfg;
  dense.kv_seq_stride = 0;
  for (size_t s = 0; s < batch.num_seqs(); ++s) {
    const size_t q_len = static_cast<size_t>(batch.query_start[s + 1] - batch.query_start[s]);
    const auto context = static_cast<size_t>(batch.context_lens[s]);
    const Floats latent = gather_sequence(latent_pool, batch, s, 1, kv_lora_rank);
    const Floats rope = gather_sequence(rope_pool, batch, s, 1, qk_rope_head_dim);
    const Floats queries = sequence_rows(q, batch, s, cfg.num_heads, cfg.head_dim);
    place_rows(
        mla_attention(queries, latent, rope, 1, q_len, context, context - q_len, dense, kv_lora_rank, qk_rope_head_dim),
        batch, s, cfg.num_heads, kv_lora_rank, out);
  }
  return out;
}

}  // namespace ferrum::op_test::ref
