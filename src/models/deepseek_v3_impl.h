// Template definitions of DeepseekV3Model, included by the files that instantiate it for a backend.
#pragma once

#include <algorithm>

#include "models/deepseek_v3.h"

namespace ferrum {

template <Backend B>
Expected<DeepseekV3Model<B>> DeepseekV3Model<B>::load(const DeepseekV3HParams& hparams, const WeightLoader<B>& loader,
                                                      size_t max_batch_tokens, size_t max_context) {
  FERRUM_TRY(hparams.validate());
  FERRUM_CHECK(max_batch_tokens > 0, ErrorCode::kInvalidArgument, "max_batch_tokens must be positive");
  FERRUM_CHECK(max_context > 0 && max_context <= hparams.max_positions, ErrorCode::kInvalidArgument, "context of ",
               max_context, " tokens is outside 1..", hparams.max_positions, " (max_position_embeddings)");
  DeepseekV3Model model;
  model.hparams_ = hparams;
  model.hparams_.attention.tp = model.hparams_.moe.tp = hparams.tp;
  model.max_batch_tokens_ = max_batch_tokens;
  model.max_context_ = max_context;
  const DeepseekV3HParams& hp = model.hparams_;

  FERRUM_ASSIGN_OR_RETURN(model.embedding_, TokenEmbedding<B>::load(loader, "model.embed_tokens.weight", hp.vocab_size,
                                                                    hp.hidden_size, hp.tp));
  for (size_t i = 0; i < hp.num_layers; ++i) {
    const std::string layer = "model.layers." + std::to_string(i) + ".";
    Layer weights;
    FERRUM_ASSIGN_OR_RETURN(weights.attn_norm, loader.vector_f32(layer + "input_layernorm.weight", hp.hidden_size));
    FERRUM_ASSIGN_OR_RETURN(weights.attention, LatentAttention<B>::load(loader, layer + "self_attn.", hp.attention));
    FERRUM_ASSIGN_OR_RETURN(weights.ffn_norm,
                            loader.vector_f32(layer + "post_attention_layernorm.weight", hp.hidden_size));
    if (hp.layer_is_moe[i]) {
      FERRUM_ASSIGN_OR_RETURN(weights.moe, MoeBlock<B>::load(loader, layer + "mlp.", hp.moe));
    } else {
      FERRUM_ASSIGN_OR_RETURN(weights.dense_mlp,
                              GatedMlp<B>::load(loader, layer + "mlp.", hp.hidden_size, hp.dense_intermediate_size,
                                                hp.moe.activation, hp.tp));
    }
    model.layers_.push_back(std::move(weights));
  }
  FERRUM_ASSIGN_OR_RETURN(model.final_norm_, loader.vector_f32("model.norm.weight", hp.hidden_size));
  FERRUM_ASSIGN_OR_RETURN(model.output_head_,
                          OutputHead<B>::load(loader, hp.tie_word_embeddings, model.embedding_->table(), hp.vocab_size,
                                              hp.hidden_size, 0.0f, hp.tp));

  // RoPE over the qk_rope_head_dim part only, with YaRN's attention factor folded into cos / sin.
  FERRUM_ASSIGN_OR_RETURN(RopeTable table, rope_table(hp.rope, hp.attention.qk_rope_head_dim, max_context));
  FERRUM_ASSIGN_OR_RETURN(model.rope_cos_, B::from_slice(table.cos, DType::kF32));
  FERRUM_ASSIGN_OR_RETURN(model.rope_sin_, B::from_slice(table.sin, DType::kF32));

  const size_t t = max_batch_tokens;
  Scratch& s = model.scratch_;
  for (Buffer* buffer : {&s.residual, &s.x, &s.attn_out, &s.ffn_out}) {
    FERRUM_ASSIGN_OR_RETURN(*buffer, B::alloc(t * hp.hidden_size, B::kActivationDType));
  }
  FERRUM_ASSIGN_OR_RETURN(s.attention, LatentAttention<B>::Scratch::create(hp.attention, t));
  FERRUM_ASSIGN_OR_RETURN(model.batch_cos_, B::alloc(t * (hp.attention.qk_rope_head_dim / 2), DType::kF32));
  FERRUM_ASSIGN_OR_RETURN(model.batch_sin_, B::alloc(t * (hp.attention.qk_rope_head_dim / 2), DType::kF32));
  const size_t widest_mlp =
      std::max({hp.dense_intermediate_size, hp.moe.expert_intermediate_size, hp.moe.shared_intermediate_size});
  FERRUM_ASSIGN_OR_RETURN(s.mlp, GatedMlp<B>::Scratch::create(t, widest_mlp));
  FERRUM_ASSIGN_OR_RETURN(s.moe, MoeBlock<B>::Scratch::create(hp.moe, t));
  return model;
}

template <Backend B>
Status DeepseekV3Model<B>::forward(Context& ctx, std::span<const uint32_t> tokens, LatentDecoderState<B>& state,
                                   Buffer& logits, bool all_logits) {
  FERRUM_CHECK(!tokens.empty(), ErrorCode::kInvalidArgument, "forward: no tokens");
  FERRUM_CHECK(state.length + tokens.size() <= state.capacity, ErrorCode::kLimitExceeded, "forward: ", state.length,
               " cached + ", tokens.size(), " new tokens exceed the context of ", state.capacity);
  for (size_t done = 0; done < tokens.size(); done += max_batch_tokens_) {
    const size_t count = std::min(max_batch_tokens_, tokens.size() - done);
    FERRUM_TRY(forward_chunk(ctx, tokens.subspan(done, count), state, logits,
                             all_logits ? done * hparams_.vocab_size : 0, all_logits));
  }
  return ok();
}

template <Backend B>
Status DeepseekV3Model<B>::forward_chunk(Context& ctx, std::span<const uint32_t> tokens, LatentDecoderState<B>& state,
                                         Buffer& logits, size_t logits_offset, bool all_logits) {
  const size_t position = state.length;
  FERRUM_TRY(check_tokens(tokens));
  FERRUM_TRY(embedding_->forward(ctx, tokens, scratch_.residual));
  FERRUM_TRY(run_decoder(ctx, tokens.size(), [&](size_t i) {
    return layers_[i].attention->forward(ctx, scratch_.x, scratch_.attn_out, tokens.size(), state.layers[i], position,
                                         rope_cos_, rope_sin_, scratch_.attention, tracer_, static_cast<int>(i));
  }));
  state.length += tokens.size();
  return output_head_->write_logits(ctx, scratch_.x, tokens.size(), all_logits, logits, logits_offset, tracer_);
}

template <Backend B>
Status DeepseekV3Model<B>::forward_batch(Context& ctx, const PagedStep<B>& step, Buffer& logits) {
  const ForwardBatch& batch = step.batch;
  const size_t t = batch.num_tokens();
  FERRUM_TRY(check_paged_step(step, layers_.size(), max_batch_tokens_, max_context_));
  const size_t half = hparams_.attention.qk_rope_head_dim / 2;
  FERRUM_TRY(B::gather_rows(ctx, rope_cos_, step.metadata.positions(), t, batch_cos_, half));
  FERRUM_TRY(B::gather_rows(ctx, rope_sin_, step.metadata.positions(), t, batch_sin_, half));
  FERRUM_TRY(check_tokens(batch.tokens));
  FERRUM_TRY(embedding_->forward_rows(ctx, batch.tokens, step.metadata.tokens(), scratch_.residual));
  FERRUM_TRY(run_decoder(ctx, t, [&](size_t i) {
    return layers_[i].attention->forward_paged(ctx, scratch_.x, scratch_.attn_out, t, step.cache.layers[i], step,
                                               batch_cos_, batch_sin_, scratch_.attention, tracer_,
                                               static_cast<int>(i));
  }));
  return output_head_->write_logits_rows(ctx, scratch_.x, step.metadata.logits_rows(), batch.logits_rows.size(),
                                         scratch_.attn_out, logits, tracer_, step.local_logits);
}

template <Backend B>
Status DeepseekV3Model<B>::check_tokens(std::span<const uint32_t> tokens) const {
  for (uint32_t token : tokens) {
    FERRUM_CHECK(token < hparams_.vocab_size, ErrorCode::kInvalidArgument, "token id ", token,
                 " is outside the vocabulary of ", hparams_.vocab_size);
  }
  return ok();
}

template <Backend B>
template <class Attend>
Status DeepseekV3Model<B>::run_decoder(Context& ctx, size_t t, const Attend& attend) {
  const DeepseekV3HParams& hp = hparams_;
  const size_t hidden = hp.hidden_size;
  Scratch& s = scratch_;
  tracer_.template trace<B>(ctx, "inp_embd", -1, s.residual, t * hidden);
  FERRUM_TRY(B::rms_norm(ctx, s.residual, layers_[0].attn_norm, hp.rms_norm_eps, s.x, t, hidden));

  for (size_t i = 0; i < layers_.size(); ++i) {
    const int layer = static_cast<int>(i);
    const Layer& weights = layers_[i];
    tracer_.template trace<B>(ctx, "attn_norm", layer, s.x, t * hidden);
    FERRUM_TRY(attend(i));
    // residual += attention output; x = ffn_norm(residual)
    FERRUM_TRY(B::fused_add_rms_norm(ctx, s.residual, s.attn_out, weights.ffn_norm, hp.rms_norm_eps, s.x, t, hidden));
    tracer_.template trace<B>(ctx, "ffn_inp", layer, s.residual, t * hidden);
    tracer_.template trace<B>(ctx, "ffn_norm", layer, s.x, t * hidden);
    if (weights.moe) {
      FERRUM_TRY(weights.moe->forward(ctx, s.x, s.ffn_out, t, *s.moe, s.mlp, tracer_, layer));
    } else {
      FERRUM_TRY(weights.dense_mlp->forward(ctx, s.x, s.ffn_out, t, s.mlp));
    }
    tracer_.template trace<B>(ctx, "ffn_out", layer, s.ffn_out, t * hidden);
    // residual += feed-forward output; x = next layer's attention norm (or the final norm)
    const Buffer& next_norm = i + 1 < layers_.size() ? layers_[i + 1].attn_norm : final_norm_;
    FERRUM_TRY(B::fused_add_rms_norm(ctx, s.residual, s.ffn_out, next_norm, hp.rms_norm_eps, s.x, t, hidden));
    tracer_.template trace<B>(ctx, "l_out", layer, s.residual, t * hidden);
  }
  tracer_.template trace<B>(ctx, "result_norm", -1, s.x, t * hidden);
  return ok();
}

}  // namespace ferrum
