// Template definitions of LlamaModel, included by the files that instantiate it for a backend.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>

#include "models/llama.h"

namespace ferrum {

template <Backend B>
Expected<LlamaModel<B>> LlamaModel<B>::load(const LlamaHParams& hparams, const WeightLoader<B>& loader,
                                            size_t max_batch_tokens, size_t max_context) {
  FERRUM_TRY(hparams.validate());
  FERRUM_CHECK(max_batch_tokens > 0, ErrorCode::kInvalidArgument, "max_batch_tokens must be positive");
  FERRUM_CHECK(max_context > 0 && max_context <= hparams.max_positions, ErrorCode::kInvalidArgument, "context of ",
               max_context, " tokens is outside 1..", hparams.max_positions, " (max_position_embeddings)");
  LlamaModel model;
  model.hparams_ = hparams;
  model.max_batch_tokens_ = max_batch_tokens;
  model.max_context_ = max_context;
  const LlamaHParams& hp = model.hparams_;
  const std::string& prefix = hp.weight_prefix;
  // Gemma stores RMSNorm weights as (w - 1).
  const float norm_add = hp.gemma_norms ? 1.0f : 0.0f;

  FERRUM_ASSIGN_OR_RETURN(model.embed_tokens_,
                          loader.matrix(prefix + "embed_tokens.weight", hp.vocab_size, hp.hidden_size));
  for (size_t i = 0; i < hp.num_layers; ++i) {
    const std::string layer = prefix + "layers." + std::to_string(i) + ".";
    Layer weights;
    FERRUM_ASSIGN_OR_RETURN(weights.attn_norm,
                            loader.vector_f32(layer + "input_layernorm.weight", hp.hidden_size, norm_add));

    const std::array<std::string, 3> qkv_names = {layer + "self_attn.q_proj", layer + "self_attn.k_proj",
                                                  layer + "self_attn.v_proj"};
    const std::array<size_t, 3> qkv_rows = {hp.q_dim(), hp.kv_dim(), hp.kv_dim()};
    FERRUM_ASSIGN_OR_RETURN(weights.qkv, loader.fused_linear(qkv_names, qkv_rows, hp.hidden_size, hp.qkv_bias,
                                                             layer + "self_attn.qkv_proj"));
    if (!weights.qkv) {
      for (size_t part = 0; part < 3; ++part) {
        FERRUM_ASSIGN_OR_RETURN(auto linear,
                                loader.linear(qkv_names[part], qkv_rows[part], hp.hidden_size, hp.qkv_bias));
        weights.qkv_parts.push_back(std::move(linear));
      }
    }
    FERRUM_ASSIGN_OR_RETURN(weights.o, loader.linear(layer + "self_attn.o_proj", hp.hidden_size, hp.q_dim()));
    if (hp.qk_norm) {
      FERRUM_ASSIGN_OR_RETURN(weights.q_norm,
                              loader.vector_f32(layer + "self_attn.q_norm.weight", hp.head_dim, norm_add));
      FERRUM_ASSIGN_OR_RETURN(weights.k_norm,
                              loader.vector_f32(layer + "self_attn.k_norm.weight", hp.head_dim, norm_add));
    }
    if (hp.gemma_norms) {
      FERRUM_ASSIGN_OR_RETURN(weights.post_attn_norm,
                              loader.vector_f32(layer + "post_attention_layernorm.weight", hp.hidden_size, norm_add));
      FERRUM_ASSIGN_OR_RETURN(weights.ffn_norm,
                              loader.vector_f32(layer + "pre_feedforward_layernorm.weight", hp.hidden_size, norm_add));
      FERRUM_ASSIGN_OR_RETURN(weights.post_ffn_norm,
                              loader.vector_f32(layer + "post_feedforward_layernorm.weight", hp.hidden_size, norm_add));
    } else {
      FERRUM_ASSIGN_OR_RETURN(weights.ffn_norm,
                              loader.vector_f32(layer + "post_attention_layernorm.weight", hp.hidden_size));
    }

    const std::array<std::string, 2> gate_up_names = {layer + "mlp.gate_proj", layer + "mlp.up_proj"};
    const std::array<size_t, 2> gate_up_rows = {hp.intermediate_size, hp.intermediate_size};
    FERRUM_ASSIGN_OR_RETURN(weights.gate_up, loader.fused_linear(gate_up_names, gate_up_rows, hp.hidden_size, false,
                                                                 layer + "mlp.gate_up_proj"));
    if (!weights.gate_up) {
      for (size_t part = 0; part < 2; ++part) {
        FERRUM_ASSIGN_OR_RETURN(auto linear, loader.linear(gate_up_names[part], hp.intermediate_size, hp.hidden_size));
        weights.gate_up_parts.push_back(std::move(linear));
      }
    }
    FERRUM_ASSIGN_OR_RETURN(weights.down, loader.linear(layer + "mlp.down_proj", hp.hidden_size, hp.intermediate_size));
    model.layers_.push_back(std::move(weights));
  }
  FERRUM_ASSIGN_OR_RETURN(model.final_norm_, loader.vector_f32(prefix + "norm.weight", hp.hidden_size, norm_add));
  if (hp.tie_word_embeddings && !loader.contains("lm_head.weight")) {
    model.lm_head_.emplace("lm_head (tied to embed_tokens)", hp.vocab_size, hp.hidden_size,
                           WeightLoader<B>::storage_for(model.embed_tokens_));
  } else {
    FERRUM_ASSIGN_OR_RETURN(model.lm_head_, loader.linear("lm_head", hp.vocab_size, hp.hidden_size));
  }

  for (const Layer& layer : model.layers_) {
    for (const auto* linear : {&layer.qkv, &layer.o, &layer.gate_up, &layer.down}) {
      if (*linear) model.weight_bytes_ += (*linear)->weight_bytes();
    }
    for (const auto& part : layer.qkv_parts) model.weight_bytes_ += part.weight_bytes();
    for (const auto& part : layer.gate_up_parts) model.weight_bytes_ += part.weight_bytes();
  }
  model.weight_bytes_ += model.lm_head_->weight_bytes();

  // RoPE tables for the whole context, uploaded once.
  FERRUM_ASSIGN_OR_RETURN(RopeTable global, rope_table(hp.rope, hp.head_dim, max_context));
  FERRUM_ASSIGN_OR_RETURN(model.rope_cos_, B::from_slice(global.cos, DType::kF32));
  FERRUM_ASSIGN_OR_RETURN(model.rope_sin_, B::from_slice(global.sin, DType::kF32));
  FERRUM_ASSIGN_OR_RETURN(RopeTable local, rope_table(hp.rope_local, hp.head_dim, max_context));
  FERRUM_ASSIGN_OR_RETURN(model.rope_local_cos_, B::from_slice(local.cos, DType::kF32));
  FERRUM_ASSIGN_OR_RETURN(model.rope_local_sin_, B::from_slice(local.sin, DType::kF32));

  const size_t t = max_batch_tokens;
  const DType act = B::kActivationDType;
  Scratch& s = model.scratch_;
  const size_t qkv_width = hp.q_dim() + 2 * hp.kv_dim();
  for (auto [buffer, size] :
       std::initializer_list<std::pair<Buffer*, size_t>>{{&s.residual, t * hp.hidden_size},
                                                         {&s.x, t * hp.hidden_size},
                                                         {&s.qkv, t * qkv_width},
                                                         {&s.q, t * hp.q_dim()},
                                                         {&s.k, t * hp.kv_dim()},
                                                         {&s.v, t * hp.kv_dim()},
                                                         {&s.q_heads, t * hp.q_dim()},
                                                         {&s.k_heads, t * hp.kv_dim()},
                                                         {&s.v_heads, t * hp.kv_dim()},
                                                         {&s.attn_heads, t * hp.q_dim()},
                                                         {&s.attn, t * hp.q_dim()},
                                                         {&s.o, t * hp.hidden_size},
                                                         {&s.gate_up, t * 2 * hp.intermediate_size},
                                                         {&s.act, t * hp.intermediate_size},
                                                         {&s.mlp, t * hp.hidden_size},
                                                         {&s.part, t * std::max(qkv_width, 2 * hp.intermediate_size)},
                                                         {&s.last_hidden, hp.hidden_size},
                                                         {&s.logits, hp.vocab_size}}) {
    FERRUM_ASSIGN_OR_RETURN(*buffer, B::alloc(size, act));
  }
  return model;
}

template <Backend B>
Status LlamaModel<B>::forward(Context& ctx, std::span<const uint32_t> tokens, DecoderState<B>& state, Buffer& logits,
                              bool all_logits) {
  FERRUM_CHECK(!tokens.empty(), ErrorCode::kInvalidArgument, "forward: no tokens");
  FERRUM_CHECK(state.length + tokens.size() <= state.capacity, ErrorCode::kLimitExceeded, "forward: ", state.length,
               " cached + ", tokens.size(), " new tokens exceed the context of ", state.capacity);
  for (size_t done = 0; done < tokens.size(); done += max_batch_tokens_) {
    const size_t count = std::min(max_batch_tokens_, tokens.size() - done);
    // Earlier chunks' last-token logits land in `logits` too and are overwritten by later ones.
    FERRUM_TRY(forward_chunk(ctx, tokens.subspan(done, count), state, logits,
                             all_logits ? done * hparams_.vocab_size : 0, all_logits));
  }
  return ok();
}

template <Backend B>
Status LlamaModel<B>::forward_chunk(Context& ctx, std::span<const uint32_t> tokens, DecoderState<B>& state,
                                    Buffer& logits, size_t logits_offset, bool all_logits) {
  const LlamaHParams& hp = hparams_;
  const size_t t = tokens.size();
  Scratch& s = scratch_;
  for (uint32_t token : tokens) {
    FERRUM_CHECK(token < hp.vocab_size, ErrorCode::kInvalidArgument, "token id ", token,
                 " is outside the vocabulary of ", hp.vocab_size);
  }
  FERRUM_TRY(B::embedding_lookup(ctx, *embed_tokens_, tokens, s.residual, hp.hidden_size));
  if (hp.embedding_scale != 1.0f) FERRUM_TRY(B::scale(ctx, s.residual, t * hp.hidden_size, hp.embedding_scale));
  tracer_.template trace<B>(ctx, "inp_embd", -1, s.residual, t * hp.hidden_size);
  FERRUM_TRY(B::rms_norm(ctx, s.residual, layers_[0].attn_norm, hp.rms_norm_eps, s.x, t, hp.hidden_size));

  for (size_t i = 0; i < layers_.size(); ++i) {
    const int layer = static_cast<int>(i);
    tracer_.template trace<B>(ctx, "attn_norm", layer, s.x, t * hp.hidden_size);
    FERRUM_TRY(attention(ctx, i, t, state));
    const Layer& weights = layers_[i];
    if (weights.post_attn_norm) {
      FERRUM_TRY(B::rms_norm(ctx, s.o, *weights.post_attn_norm, hp.rms_norm_eps, s.mlp, t, hp.hidden_size));
      FERRUM_TRY(B::copy_slice(ctx, s.mlp, 0, s.o, 0, t * hp.hidden_size));
    }
    // residual += attention output; x = ffn_norm(residual)
    FERRUM_TRY(B::fused_add_rms_norm(ctx, s.residual, s.o, weights.ffn_norm, hp.rms_norm_eps, s.x, t, hp.hidden_size));
    tracer_.template trace<B>(ctx, "ffn_inp", layer, s.residual, t * hp.hidden_size);
    FERRUM_TRY(mlp(ctx, i, t));
    if (weights.post_ffn_norm) {
      FERRUM_TRY(B::rms_norm(ctx, s.mlp, *weights.post_ffn_norm, hp.rms_norm_eps, s.o, t, hp.hidden_size));
      FERRUM_TRY(B::copy_slice(ctx, s.o, 0, s.mlp, 0, t * hp.hidden_size));
    }
    tracer_.template trace<B>(ctx, "ffn_out", layer, s.mlp, t * hp.hidden_size);
    // residual += mlp output; x = next layer's attention norm (or the final norm)
    const Buffer& next_norm = i + 1 < layers_.size() ? layers_[i + 1].attn_norm : final_norm_;
    FERRUM_TRY(B::fused_add_rms_norm(ctx, s.residual, s.mlp, next_norm, hp.rms_norm_eps, s.x, t, hp.hidden_size));
    tracer_.template trace<B>(ctx, "l_out", layer, s.residual, t * hp.hidden_size);
  }
  state.length += t;
  for (auto& cache : state.layers) cache.len = state.length;
  tracer_.template trace<B>(ctx, "result_norm", -1, s.x, t * hp.hidden_size);

  // Only the rows whose logits are wanted go through lm_head, one row at a time so the logits
  // scratch stays one vocabulary long.
  const size_t first_row = all_logits ? 0 : t - 1;
  for (size_t row = first_row; row < t; ++row) {
    FERRUM_TRY(B::copy_slice(ctx, s.x, row * hp.hidden_size, s.last_hidden, 0, hp.hidden_size));
    FERRUM_TRY(lm_head_->forward(ctx, s.last_hidden, s.logits, 1));
    if (hp.final_logit_softcap > 0) FERRUM_TRY(B::softcap(ctx, s.logits, hp.vocab_size, hp.final_logit_softcap));
    tracer_.template trace<B>(ctx, "result_output", -1, s.logits, hp.vocab_size);
    FERRUM_TRY(
        B::copy_slice(ctx, s.logits, 0, logits, logits_offset + (row - first_row) * hp.vocab_size, hp.vocab_size));
  }
  return ok();
}

template <Backend B>
Status LlamaModel<B>::project_fused(Context& ctx, const std::optional<Linear<B>>& fused,
                                    const std::vector<Linear<B>>& parts, const Buffer& input, Buffer& out,
                                    size_t tokens) {
  if (fused) return fused->forward(ctx, input, out, tokens);
  // Separate projections write side by side into the fused layout [tokens, sum(out_features)].
  size_t width = 0;
  for (const Linear<B>& part : parts) width += part.out_features();
  size_t column = 0;
  for (const Linear<B>& part : parts) {
    FERRUM_TRY(part.forward(ctx, input, scratch_.part, tokens));
    FERRUM_TRY(B::copy_2d(ctx, scratch_.part, 0, part.out_features(), out, column, width, tokens, part.out_features()));
    column += part.out_features();
  }
  return ok();
}

template <Backend B>
Status LlamaModel<B>::attention(Context& ctx, size_t layer_index, size_t tokens, DecoderState<B>& state) {
  const LlamaHParams& hp = hparams_;
  const Layer& weights = layers_[layer_index];
  const int layer = static_cast<int>(layer_index);
  Scratch& s = scratch_;
  KvCache<Buffer>& cache = state.layers[layer_index];
  const size_t position = state.length;
  const size_t window = hp.sliding_window[layer_index];
  const Buffer& cos = window ? rope_local_cos_ : rope_cos_;
  const Buffer& sin = window ? rope_local_sin_ : rope_sin_;

  FERRUM_TRY(project_fused(ctx, weights.qkv, weights.qkv_parts, s.x, s.qkv, tokens));
  FERRUM_TRY(B::split_qkv(ctx, s.qkv, s.q, s.k, s.v, tokens, hp.q_dim(), hp.kv_dim()));
  tracer_.template trace<B>(ctx, "Qcur", layer, s.q, tokens * hp.q_dim());
  tracer_.template trace<B>(ctx, "Kcur", layer, s.k, tokens * hp.kv_dim());
  tracer_.template trace<B>(ctx, "Vcur", layer, s.v, tokens * hp.kv_dim());

  const int mode = hp.qk_norm ? kQkNormRope : kQkRope;
  // norm_w is read only in mode 1; any buffer stands in otherwise.
  const Buffer& q_norm = weights.q_norm ? *weights.q_norm : weights.attn_norm;
  const Buffer& k_norm = weights.k_norm ? *weights.k_norm : weights.attn_norm;
  FERRUM_TRY(B::qk_norm_rope(ctx, s.q, q_norm, cos, sin, s.q_heads, tokens, hp.num_heads, hp.head_dim, position,
                             hp.rms_norm_eps, mode));
  FERRUM_TRY(B::qk_norm_rope(ctx, s.k, k_norm, cos, sin, s.k_heads, tokens, hp.num_kv_heads, hp.head_dim, position,
                             hp.rms_norm_eps, mode));
  FERRUM_TRY(B::qk_norm_rope(ctx, s.v, k_norm, cos, sin, s.v_heads, tokens, hp.num_kv_heads, hp.head_dim, position,
                             hp.rms_norm_eps, kQkTransposeOnly));
  FERRUM_TRY(B::kv_cache_append_head_major(ctx, cache.k, cache.v, position, cache.capacity, s.k_heads, s.v_heads,
                                           tokens, hp.num_kv_heads, hp.head_dim));

  AttnConfig config;
  config.num_heads = hp.num_heads;
  config.num_kv_heads = hp.num_kv_heads;
  config.head_dim = hp.head_dim;
  config.causal = true;
  config.scale = hp.attention_scale;
  config.kv_seq_stride = cache.capacity;
  config.sliding_window = window;
  FERRUM_TRY(B::flash_attention(ctx, s.q_heads, cache.k, cache.v, s.attn_heads, 1, tokens, position + tokens, position,
                                config));
  FERRUM_TRY(B::transpose_head_to_token(ctx, s.attn_heads, s.attn, tokens, hp.num_heads, hp.head_dim));
  tracer_.template trace<B>(ctx, "kqv_out", layer, s.attn, tokens * hp.q_dim());
  FERRUM_TRY(weights.o->forward(ctx, s.attn, s.o, tokens));
  tracer_.template trace<B>(ctx, "attn_out", layer, s.o, tokens * hp.hidden_size);
  return ok();
}

template <Backend B>
Status LlamaModel<B>::mlp(Context& ctx, size_t layer_index, size_t tokens) {
  const LlamaHParams& hp = hparams_;
  const Layer& weights = layers_[layer_index];
  Scratch& s = scratch_;
  tracer_.template trace<B>(ctx, "ffn_norm", static_cast<int>(layer_index), s.x, tokens * hp.hidden_size);
  FERRUM_TRY(project_fused(ctx, weights.gate_up, weights.gate_up_parts, s.x, s.gate_up, tokens));
  FERRUM_TRY(B::fused_act_mul_split(ctx, s.gate_up, s.act, tokens, hp.intermediate_size, hp.mlp_activation));
  return weights.down->forward(ctx, s.act, s.mlp, tokens);
}

}  // namespace ferrum
