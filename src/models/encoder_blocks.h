// Blocks shared by the encoder-style families (BERT, Whisper, CLIP): LayerNorm with a bias,
// multi-head attention with biased projections and no RoPE, a two-layer MLP, and one transformer
// layer in either norm placement:
//   pre-norm  (Whisper, CLIP)  h += attn(norm1(h));  h += mlp(norm2(h))
//   post-norm (BERT)           h = norm1(h + attn(h));  h = norm2(h + mlp(h))
// Activations are token-major [tokens, width]; attention runs head-major, through
// transpose_head_to_token in both directions (it maps [a, b, d] to [b, a, d]).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "models/linear.h"
#include "models/tracer.h"
#include "models/weight_loader.h"

namespace ferrum {

template <Backend B>
struct LayerNormWeights {
  typename B::Buffer gamma;
  typename B::Buffer beta;
  float eps = 1e-5f;

  // prefix.weight and prefix.bias, both [dim].
  static Expected<LayerNormWeights> load(const WeightLoader<B>& loader, const std::string& prefix, size_t dim,
                                         float eps) {
    LayerNormWeights norm;
    FERRUM_ASSIGN_OR_RETURN(norm.gamma, loader.vector_f32(prefix + ".weight", dim));
    FERRUM_ASSIGN_OR_RETURN(norm.beta, loader.vector_f32(prefix + ".bias", dim));
    norm.eps = eps;
    return norm;
  }

  Status forward(typename B::Context& ctx, const typename B::Buffer& x, typename B::Buffer& out, size_t tokens,
                 size_t dim) const {
    return B::layer_norm(ctx, x, gamma, beta, eps, out, tokens, dim);
  }
};

struct AttentionShape {
  size_t heads = 0;
  size_t head_dim = 0;
  float scale = 1.0f;  // 1 / sqrt(head_dim) in all three families
  size_t width() const { return heads * head_dim; }
};

// Where each family stores one attention block's four projections, and which carry a bias.
struct AttentionNames {
  std::string q, k, v, out;
  bool q_bias = true, k_bias = true, v_bias = true, out_bias = true;
};

template <Backend B>
struct AttentionWeights {
  std::optional<Linear<B>> q, k, v, out;

  static Expected<AttentionWeights> load(const WeightLoader<B>& loader, const AttentionNames& names, size_t hidden,
                                         size_t width) {
    AttentionWeights weights;
    FERRUM_ASSIGN_OR_RETURN(weights.q, loader.linear(names.q, width, hidden, names.q_bias));
    FERRUM_ASSIGN_OR_RETURN(weights.k, loader.linear(names.k, width, hidden, names.k_bias));
    FERRUM_ASSIGN_OR_RETURN(weights.v, loader.linear(names.v, width, hidden, names.v_bias));
    FERRUM_ASSIGN_OR_RETURN(weights.out, loader.linear(names.out, hidden, width, names.out_bias));
    return weights;
  }
};

template <Backend B>
struct MlpWeights {
  std::optional<Linear<B>> up;    // [ffn, hidden] with bias
  std::optional<Linear<B>> down;  // [hidden, ffn] with bias
  Activation activation = Activation::kGeluErf;
};

enum class NormPlacement { kPreNorm, kPostNorm };

template <Backend B>
struct EncoderLayerWeights {
  AttentionWeights<B> attention;
  MlpWeights<B> mlp;
  LayerNormWeights<B> attn_norm;  // before attention (pre-norm) or after its residual add (post-norm)
  LayerNormWeights<B> mlp_norm;
};

// Activations of one block for up to `capacity` tokens, grown on demand and reused across calls.
template <Backend B>
struct BlockScratch {
  using Buffer = typename B::Buffer;
  Buffer normed, q, k, v, q_heads, k_heads, v_heads, attn_heads, attn, out, ffn, positions;
  size_t capacity = 0;

  Status reserve(size_t tokens, size_t hidden, size_t width, size_t ffn_dim) {
    if (tokens <= capacity) return ok();
    const DType act = B::kActivationDType;
    for (auto [buffer, size] : std::initializer_list<std::pair<Buffer*, size_t>>{{&normed, tokens * hidden},
                                                                                 {&q, tokens * width},
                                                                                 {&k, tokens * width},
                                                                                 {&v, tokens * width},
                                                                                 {&q_heads, tokens * width},
                                                                                 {&k_heads, tokens * width},
                                                                                 {&v_heads, tokens * width},
                                                                                 {&attn_heads, tokens * width},
                                                                                 {&attn, tokens * width},
                                                                                 {&out, tokens * hidden},
                                                                                 {&ffn, tokens * ffn_dim},
                                                                                 {&positions, tokens * hidden}}) {
      FERRUM_ASSIGN_OR_RETURN(*buffer, B::alloc(size, act));
    }
    capacity = tokens;
    return ok();
  }
};

// [tokens, heads * head_dim] -> [heads, tokens, head_dim]
template <Backend B>
Status to_head_major(typename B::Context& ctx, const typename B::Buffer& token_major, typename B::Buffer& head_major,
                     size_t tokens, const AttentionShape& shape) {
  return B::transpose_head_to_token(ctx, token_major, head_major, shape.heads, tokens, shape.head_dim);
}

// Attention of `q_len` token-major queries (s.q) over head-major keys / values with `kv_len` valid
// rows every `kv_stride`; the result, token-major, lands in s.attn.
template <Backend B>
Status attend(typename B::Context& ctx, BlockScratch<B>& s, const typename B::Buffer& k_heads,
              const typename B::Buffer& v_heads, size_t q_len, size_t kv_len, size_t kv_stride, size_t pos_offset,
              bool causal, const AttentionShape& shape) {
  FERRUM_TRY(to_head_major<B>(ctx, s.q, s.q_heads, q_len, shape));
  AttnConfig config;
  config.num_heads = shape.heads;
  config.num_kv_heads = shape.heads;
  config.head_dim = shape.head_dim;
  config.causal = causal;
  config.scale = shape.scale;
  config.kv_seq_stride = kv_stride;
  FERRUM_TRY(B::flash_attention(ctx, s.q_heads, k_heads, v_heads, s.attn_heads, 1, q_len, kv_len, pos_offset, config));
  return B::transpose_head_to_token(ctx, s.attn_heads, s.attn, q_len, shape.heads, shape.head_dim);
}

// Self-attention over the `tokens` rows of x (no cache); the projected output lands in s.out.
template <Backend B>
Status self_attention(typename B::Context& ctx, const AttentionWeights<B>& weights, const typename B::Buffer& x,
                      size_t tokens, bool causal, const AttentionShape& shape, BlockScratch<B>& s) {
  FERRUM_TRY(weights.q->forward(ctx, x, s.q, tokens));
  FERRUM_TRY(weights.k->forward(ctx, x, s.k, tokens));
  FERRUM_TRY(weights.v->forward(ctx, x, s.v, tokens));
  FERRUM_TRY(to_head_major<B>(ctx, s.k, s.k_heads, tokens, shape));
  FERRUM_TRY(to_head_major<B>(ctx, s.v, s.v_heads, tokens, shape));
  FERRUM_TRY(attend<B>(ctx, s, s.k_heads, s.v_heads, tokens, tokens, 0, 0, causal, shape));
  return weights.out->forward(ctx, s.attn, s.out, tokens);
}

// down(act(up(x))) into s.out.
template <Backend B>
Status mlp(typename B::Context& ctx, const MlpWeights<B>& weights, const typename B::Buffer& x, size_t tokens,
           BlockScratch<B>& s) {
  FERRUM_TRY(weights.up->forward(ctx, x, s.ffn, tokens));
  FERRUM_TRY(B::activation(ctx, s.ffn, s.ffn, tokens * weights.up->out_features(), weights.activation));
  return weights.down->forward(ctx, s.ffn, s.out, tokens);
}

// One encoder layer over the residual stream `hidden` [tokens, hidden_size], updated in place.
template <Backend B>
Status encoder_layer(typename B::Context& ctx, const EncoderLayerWeights<B>& layer, NormPlacement placement,
                     bool causal, const AttentionShape& shape, typename B::Buffer& hidden, size_t tokens,
                     size_t hidden_size, BlockScratch<B>& s, const Tracer& tracer, int index) {
  const size_t n = tokens * hidden_size;
  if (placement == NormPlacement::kPreNorm) {
    FERRUM_TRY(layer.attn_norm.forward(ctx, hidden, s.normed, tokens, hidden_size));
    tracer.template trace<B>(ctx, "attn_norm", index, s.normed, n);
    FERRUM_TRY(self_attention<B>(ctx, layer.attention, s.normed, tokens, causal, shape, s));
    tracer.template trace<B>(ctx, "attn_out", index, s.out, n);
    FERRUM_TRY(B::add_inplace(ctx, hidden, s.out, n));
    tracer.template trace<B>(ctx, "ffn_inp", index, hidden, n);
    FERRUM_TRY(layer.mlp_norm.forward(ctx, hidden, s.normed, tokens, hidden_size));
    FERRUM_TRY(mlp<B>(ctx, layer.mlp, s.normed, tokens, s));
    tracer.template trace<B>(ctx, "ffn_out", index, s.out, n);
    FERRUM_TRY(B::add_inplace(ctx, hidden, s.out, n));
  } else {
    FERRUM_TRY(self_attention<B>(ctx, layer.attention, hidden, tokens, causal, shape, s));
    tracer.template trace<B>(ctx, "attn_out", index, s.out, n);
    FERRUM_TRY(B::add_inplace(ctx, s.out, hidden, n));
    FERRUM_TRY(layer.attn_norm.forward(ctx, s.out, hidden, tokens, hidden_size));
    tracer.template trace<B>(ctx, "ffn_inp", index, hidden, n);
    FERRUM_TRY(mlp<B>(ctx, layer.mlp, hidden, tokens, s));
    tracer.template trace<B>(ctx, "ffn_out", index, s.out, n);
    FERRUM_TRY(B::add_inplace(ctx, s.out, hidden, n));
    FERRUM_TRY(layer.mlp_norm.forward(ctx, s.out, hidden, tokens, hidden_size));
  }
  tracer.template trace<B>(ctx, "l_out", index, hidden, n);
  return ok();
}

// hidden[t, :] += table[first + t, :] for t < tokens (learned absolute positions, any table dtype).
template <Backend B>
Status add_positions(typename B::Context& ctx, const typename B::Buffer& table, size_t first, size_t tokens, size_t dim,
                     typename B::Buffer& hidden, BlockScratch<B>& s) {
  std::vector<uint32_t> positions(tokens);
  for (size_t t = 0; t < tokens; ++t) positions[t] = static_cast<uint32_t>(first + t);
  FERRUM_TRY(B::embedding_lookup(ctx, table, positions, s.positions, dim));
  return B::add_inplace(ctx, hidden, s.positions, tokens * dim);
}

// A convolution weight [out_channels, in_channels, k...] as the dense [out_channels, in_channels * k...]
// matrix gemm multiplies im2col patches by (the stored order already matches im2col's columns).
template <Backend B>
Expected<Linear<B>> load_convolution(const WeightLoader<B>& loader, const std::string& prefix,
                                     std::initializer_list<int64_t> shape, bool bias) {
  const std::string name = prefix + ".weight";
  FERRUM_ASSIGN_OR_RETURN(WeightTensor tensor, loader.source().find(name));
  FERRUM_CHECK(tensor.view.shape() == Shape(shape), ErrorCode::kShapeMismatch, loader.source().describe(), ": tensor ",
               name, " has shape ", tensor.view.shape().to_string(), ", expected ", Shape(shape).to_string());
  FERRUM_ASSIGN_OR_RETURN(std::vector<float> values, tensor_to_f32(tensor.view));
  const size_t out_channels = static_cast<size_t>(*shape.begin());
  const size_t columns = values.size() / out_channels;
  FERRUM_ASSIGN_OR_RETURN(typename B::Buffer weight, B::from_slice(values, DType::kF32));
  std::optional<typename B::Buffer> bias_buffer;
  if (bias) {
    FERRUM_ASSIGN_OR_RETURN(bias_buffer, loader.vector_f32(prefix + ".bias", out_channels));
  }
  return Linear<B>(prefix, out_channels, columns,
                   DenseWeight<B>{std::make_shared<const typename B::Buffer>(std::move(weight))},
                   std::move(bias_buffer));
}

}  // namespace ferrum
