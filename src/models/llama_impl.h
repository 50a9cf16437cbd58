// Template definitions of LlamaModel, included by the files that instantiate it for a backend.
#pragma once

#include <algorithm>
#include <cmath>

#include "models/llama.h"

namespace ferrum {

template <Backend B>
GqaParams LlamaModel<B>::attention_params() const {
  const LlamaHParams& hp = hparams_;
  GqaParams params;
  params.hidden_size = hp.hidden_size;
  params.num_heads = hp.num_heads;
  params.num_kv_heads = hp.num_kv_heads;
  params.head_dim = hp.head_dim;
  params.qkv_bias = hp.qkv_bias;
  params.qk_norm = hp.qk_norm;
  params.norm_weight_offset = hp.gemma_norms ? 1.0f : 0.0f;
  params.rms_norm_eps = hp.rms_norm_eps;
  params.scale = hp.attention_scale;
  params.tp = hp.tp;
  return params;
}

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
  const bool sum_in_decoder = model.decoder_sums_ranks();
  GqaParams attention = model.attention_params();
  attention.sum_ranks_in_forward = !sum_in_decoder;
  // Gemma stores RMSNorm weights as (w - 1).
  const float norm_add = attention.norm_weight_offset;

  FERRUM_ASSIGN_OR_RETURN(model.embedding_, TokenEmbedding<B>::load(loader, prefix + "embed_tokens.weight",
                                                                    hp.vocab_size, hp.hidden_size, hp.tp));
  for (size_t i = 0; i < hp.num_layers; ++i) {
    const std::string layer = prefix + "layers." + std::to_string(i) + ".";
    Layer weights;
    FERRUM_ASSIGN_OR_RETURN(weights.attn_norm,
                            loader.vector_f32(layer + "input_layernorm.weight", hp.hidden_size, norm_add));
    FERRUM_ASSIGN_OR_RETURN(weights.attention, GroupedQueryAttention<B>::load(loader, layer + "self_attn.", attention));
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
    FERRUM_ASSIGN_OR_RETURN(
        weights.mlp,
        GatedMlp<B>::load(loader, layer + "mlp.", hp.hidden_size, hp.intermediate_size, hp.mlp_activation, hp.tp,
                          sum_in_decoder ? GatedMlp<B>::RankSum::kByCaller : GatedMlp<B>::RankSum::kInForward));
    model.layers_.push_back(std::move(weights));
  }
  FERRUM_ASSIGN_OR_RETURN(model.final_norm_, loader.vector_f32(prefix + "norm.weight", hp.hidden_size, norm_add));
  FERRUM_ASSIGN_OR_RETURN(model.output_head_,
                          OutputHead<B>::load(loader, hp.tie_word_embeddings, model.embedding_->table(), hp.vocab_size,
                                              hp.hidden_size, hp.final_logit_softcap, hp.tp));

  for (const Layer& layer : model.layers_) {
    model.weight_bytes_ += layer.attention->weight_bytes() + layer.mlp->weight_bytes();
  }
  model.weight_bytes_ += model.output_head_->weight_bytes();

  // RoPE tables for the whole context, uploaded once.
  FERRUM_ASSIGN_OR_RETURN(RopeTable global, rope_table(hp.rope, hp.head_dim, max_context));
  FERRUM_ASSIGN_OR_RETURN(model.rope_cos_, B::from_slice(global.cos, DType::kF32));
  FERRUM_ASSIGN_OR_RETURN(model.rope_sin_, B::from_slice(global.sin, DType::kF32));
  FERRUM_ASSIGN_OR_RETURN(RopeTable local, rope_table(hp.rope_local, hp.head_dim, max_context));
  FERRUM_ASSIGN_OR_RETURN(model.rope_local_cos_, B::from_slice(local.cos, DType::kF32));
  FERRUM_ASSIGN_OR_RETURN(model.rope_local_sin_, B::from_slice(local.sin, DType::kF32));

  const size_t t = max_batch_tokens;
  Scratch& s = model.scratch_;
  for (Buffer* buffer : {&s.residual, &s.x, &s.o, &s.mlp}) {
    FERRUM_ASSIGN_OR_RETURN(*buffer, B::alloc(t * hp.hidden_size, B::kActivationDType));
  }
  FERRUM_ASSIGN_OR_RETURN(s.x_rounded, alloc_rounded_rows<B>(t, hp.hidden_size));
  FERRUM_ASSIGN_OR_RETURN(s.attention, GroupedQueryAttention<B>::Scratch::create(attention, t));
  for (Buffer* buffer : {&model.batch_cos_, &model.batch_sin_, &model.batch_local_cos_, &model.batch_local_sin_}) {
    FERRUM_ASSIGN_OR_RETURN(*buffer, B::alloc(t * (hp.head_dim / 2), DType::kF32));
  }
  FERRUM_ASSIGN_OR_RETURN(s.gated_mlp, GatedMlp<B>::Scratch::create(t, hp.intermediate_size));
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
Status LlamaModel<B>::forward_hidden(Context& ctx, std::span<const uint32_t> tokens, DecoderState<B>& state,
                                     Buffer& hidden) {
  FERRUM_CHECK(!tokens.empty(), ErrorCode::kInvalidArgument, "forward_hidden: no tokens");
  FERRUM_CHECK(state.length + tokens.size() <= state.capacity, ErrorCode::kLimitExceeded,
               "forward_hidden: ", state.length, " cached + ", tokens.size(), " new tokens exceed the context of ",
               state.capacity);
  const size_t width = hparams_.hidden_size;
  for (size_t done = 0; done < tokens.size(); done += max_batch_tokens_) {
    const size_t count = std::min(max_batch_tokens_, tokens.size() - done);
    FERRUM_TRY(forward_layers(ctx, tokens.subspan(done, count), state));
    FERRUM_TRY(B::copy_slice(ctx, scratch_.x, 0, hidden, done * width, count * width));
  }
  return ok();
}

template <Backend B>
Status LlamaModel<B>::forward_chunk(Context& ctx, std::span<const uint32_t> tokens, DecoderState<B>& state,
                                    Buffer& logits, size_t logits_offset, bool all_logits) {
  FERRUM_TRY(forward_layers(ctx, tokens, state));
  return output_head_->write_logits(ctx, scratch_.x, tokens.size(), all_logits, logits, logits_offset, tracer_);
}

template <Backend B>
Status LlamaModel<B>::forward_layers(Context& ctx, std::span<const uint32_t> tokens, DecoderState<B>& state) {
  const size_t position = state.length;
  FERRUM_TRY(check_tokens(tokens));
  FERRUM_TRY(embedding_->forward(ctx, tokens, scratch_.residual));
  FERRUM_TRY(run_decoder(
      ctx, tokens.size(),
      [&](size_t i, const Buffer& cos, const Buffer& sin, size_t window, const RoundedRows<B>* x_rounded) {
        return layers_[i].attention->forward(ctx, scratch_.x, scratch_.o, tokens.size(), state.layers[i], position, cos,
                                             sin, window, scratch_.attention, tracer_, static_cast<int>(i), x_rounded);
      }));
  state.advance(tokens.size());
  return ok();
}

template <Backend B>
Status LlamaModel<B>::forward_batch(Context& ctx, const PagedStep<B>& step, Buffer& logits) {
  const ForwardBatch& batch = step.batch;
  const size_t t = batch.num_tokens();
  FERRUM_TRY(check_paged_step(step, layers_.size(), max_batch_tokens_, max_context_));
  const size_t half = hparams_.head_dim / 2;
  FERRUM_TRY(B::gather_rows(ctx, rope_cos_, step.metadata.positions(), t, batch_cos_, half));
  FERRUM_TRY(B::gather_rows(ctx, rope_sin_, step.metadata.positions(), t, batch_sin_, half));
  FERRUM_TRY(B::gather_rows(ctx, rope_local_cos_, step.metadata.positions(), t, batch_local_cos_, half));
  FERRUM_TRY(B::gather_rows(ctx, rope_local_sin_, step.metadata.positions(), t, batch_local_sin_, half));
  FERRUM_TRY(check_tokens(batch.tokens));
  FERRUM_TRY(embedding_->forward_rows(ctx, batch.tokens, step.metadata.tokens(), scratch_.residual));
  FERRUM_TRY(
      run_decoder(ctx, t, [&](size_t i, const Buffer&, const Buffer&, size_t window, const RoundedRows<B>* x_rounded) {
        // Sliding-window layers use the local RoPE table, as run_decoder picks it.
        const bool local = window != 0;
        return layers_[i].attention->forward_paged(
            ctx, scratch_.x, scratch_.o, t, step.cache.layers[i], step, local ? batch_local_cos_ : batch_cos_,
            local ? batch_local_sin_ : batch_sin_, window, scratch_.attention, tracer_, static_cast<int>(i), x_rounded);
      }));
  return output_head_->write_logits_rows(ctx, scratch_.x, step.metadata.logits_rows(), batch.logits_rows.size(),
                                         scratch_.o, logits, tracer_, step.local_logits);
}

template <Backend B>
Status LlamaModel<B>::check_tokens(std::span<const uint32_t> tokens) const {
  for (uint32_t token : tokens) {
    FERRUM_CHECK(token < hparams_.vocab_size, ErrorCode::kInvalidArgument, "token id ", token,
                 " is outside the vocabulary of ", hparams_.vocab_size);
  }
  return ok();
}

template <Backend B>
Status LlamaModel<B>::add_block_output(Context& ctx, Buffer& block_out, const Buffer& norm, size_t t,
                                       RoundedRows<B>* x_rounded) {
  Scratch& s = scratch_;
  const LlamaHParams& hp = hparams_;
  if (decoder_sums_ranks()) {
    return all_reduce_add_rms_norm_rounding<B>(ctx, block_out, s.residual, norm, hp.rms_norm_eps, s.x, t,
                                               hp.hidden_size, x_rounded);
  }
  return fused_add_rms_norm_rounding<B>(ctx, s.residual, block_out, norm, hp.rms_norm_eps, s.x, t, hp.hidden_size,
                                        x_rounded);
}

template <Backend B>
template <class Attend>
Status LlamaModel<B>::run_decoder(Context& ctx, size_t t, const Attend& attend) {
  const LlamaHParams& hp = hparams_;
  Scratch& s = scratch_;
  if (hp.embedding_scale != 1.0f) FERRUM_TRY(B::scale(ctx, s.residual, t * hp.hidden_size, hp.embedding_scale));
  tracer_.template trace<B>(ctx, "inp_embd", -1, s.residual, t * hp.hidden_size);
  // Each norm into s.x also rounds it for the layer part that reads it when that part's weights
  // take it (GGUF, 4-bit GPTQ at one row; rounded_rows.h): one rounding then serves q, k and v, or
  // gate and up.
  const auto x_rounding = [&](bool reader_takes_it) {
    return rounding_for(s.x_rounded, t, hp.hidden_size, reader_takes_it);
  };
  RoundedRows<B>* x_rounded = x_rounding(layers_[0].attention->takes_rounded_rows(t));
  FERRUM_TRY(
      rms_norm_rounding<B>(ctx, s.residual, layers_[0].attn_norm, hp.rms_norm_eps, s.x, t, hp.hidden_size, x_rounded));

  for (size_t i = 0; i < layers_.size(); ++i) {
    const int layer = static_cast<int>(i);
    const Layer& weights = layers_[i];
    tracer_.template trace<B>(ctx, "attn_norm", layer, s.x, t * hp.hidden_size);
    const size_t window = hp.sliding_window[i];
    const Buffer& cos = window ? rope_local_cos_ : rope_cos_;
    const Buffer& sin = window ? rope_local_sin_ : rope_sin_;
    FERRUM_TRY(attend(i, cos, sin, window, x_rounded));
    if (weights.post_attn_norm) {
      FERRUM_TRY(B::rms_norm(ctx, s.o, *weights.post_attn_norm, hp.rms_norm_eps, s.mlp, t, hp.hidden_size));
      FERRUM_TRY(B::copy_slice(ctx, s.mlp, 0, s.o, 0, t * hp.hidden_size));
    }
    // residual += attention output (summed over ranks here unless a post-norm needed it summed);
    // x = ffn_norm(residual)
    x_rounded = x_rounding(weights.mlp->takes_rounded_rows(t));
    FERRUM_TRY(add_block_output(ctx, s.o, weights.ffn_norm, t, x_rounded));
    tracer_.template trace<B>(ctx, "ffn_inp", layer, s.residual, t * hp.hidden_size);
    tracer_.template trace<B>(ctx, "ffn_norm", layer, s.x, t * hp.hidden_size);
    FERRUM_TRY(weights.mlp->forward(ctx, s.x, s.mlp, t, s.gated_mlp, x_rounded));
    if (weights.post_ffn_norm) {
      FERRUM_TRY(B::rms_norm(ctx, s.mlp, *weights.post_ffn_norm, hp.rms_norm_eps, s.o, t, hp.hidden_size));
      FERRUM_TRY(B::copy_slice(ctx, s.o, 0, s.mlp, 0, t * hp.hidden_size));
    }
    // (With several ranks, "attn_out" and "ffn_out" are this rank's part: add_block_output sums them.)
    tracer_.template trace<B>(ctx, "ffn_out", layer, s.mlp, t * hp.hidden_size);
    // residual += mlp output; x = next layer's attention norm (or the final norm)
    const bool last = i + 1 == layers_.size();
    const Buffer& next_norm = last ? final_norm_ : layers_[i + 1].attn_norm;
    x_rounded = last ? nullptr : x_rounding(layers_[i + 1].attention->takes_rounded_rows(t));
    FERRUM_TRY(add_block_output(ctx, s.mlp, next_norm, t, x_rounded));
    tracer_.template trace<B>(ctx, "l_out", layer, s.residual, t * hp.hidden_size);
  }
  tracer_.template trace<B>(ctx, "result_norm", -1, s.x, t * hp.hidden_size);
  return ok();
}

}  // namespace ferrum
