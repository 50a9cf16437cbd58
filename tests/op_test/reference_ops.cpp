#include "reference_ops.h"

#include <algorithm>
#include <cmath>
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

}  // namespace ferrum::op_test::ref
