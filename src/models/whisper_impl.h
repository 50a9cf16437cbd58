// Template definitions of WhisperModel, included by the files that instantiate it for a backend.
#pragma once

#include <algorithm>
#include <cmath>

#include "backend/op_checks.h"
#include "models/whisper.h"

namespace ferrum {

template <Backend B>
Expected<WhisperModel<B>> WhisperModel<B>::load(const WhisperHParams& hparams, const WeightLoader<B>& loader) {
  WhisperModel model;
  model.hparams_ = hparams;
  const WhisperHParams& hp = model.hparams_;
  const size_t d = hp.d_model;
  const float eps = hp.layer_norm_eps;
  const auto shape_of = [d](size_t heads) {
    const size_t head_dim = d / heads;
    return AttentionShape{
        .heads = heads, .head_dim = head_dim, .scale = 1.0f / std::sqrt(static_cast<float>(head_dim))};
  };
  model.encoder_shape_ = shape_of(hp.encoder_heads);
  model.decoder_shape_ = shape_of(hp.decoder_heads);
  // Whisper's key projections have no bias (a bias on keys shifts every score of a query equally).
  const auto attention_names = [](const std::string& prefix) {
    return AttentionNames{.q = prefix + "q_proj",
                          .k = prefix + "k_proj",
                          .v = prefix + "v_proj",
                          .out = prefix + "out_proj",
                          .k_bias = false};
  };
  const auto load_mlp = [&](const std::string& prefix, size_t ffn) -> Expected<MlpWeights<B>> {
    MlpWeights<B> mlp;
    FERRUM_ASSIGN_OR_RETURN(mlp.up, loader.linear(prefix + "fc1", ffn, d, true));
    FERRUM_ASSIGN_OR_RETURN(mlp.down, loader.linear(prefix + "fc2", d, ffn, true));
    mlp.activation = hp.activation;
    return mlp;
  };

  const std::string encoder = "model.encoder.";
  FERRUM_ASSIGN_OR_RETURN(
      model.conv1_,
      load_convolution(loader, encoder + "conv1", {static_cast<int64_t>(d), static_cast<int64_t>(hp.num_mel_bins), 3},
                       /*bias=*/true));
  FERRUM_ASSIGN_OR_RETURN(
      model.conv2_, load_convolution(loader, encoder + "conv2", {static_cast<int64_t>(d), static_cast<int64_t>(d), 3},
                                     /*bias=*/true));
  // Sinusoids in the original checkpoints, stored as a weight like a learned table.
  FERRUM_ASSIGN_OR_RETURN(model.encoder_positions_,
                          loader.matrix(encoder + "embed_positions.weight", hp.max_source_positions, d));
  for (size_t i = 0; i < hp.encoder_layers; ++i) {
    const std::string layer = encoder + "layers." + std::to_string(i) + ".";
    EncoderLayerWeights<B> weights;
    FERRUM_ASSIGN_OR_RETURN(weights.attention,
                            AttentionWeights<B>::load(loader, attention_names(layer + "self_attn."), d, d));
    FERRUM_ASSIGN_OR_RETURN(weights.attn_norm,
                            LayerNormWeights<B>::load(loader, layer + "self_attn_layer_norm", d, eps));
    FERRUM_ASSIGN_OR_RETURN(weights.mlp, load_mlp(layer, hp.encoder_ffn));
    FERRUM_ASSIGN_OR_RETURN(weights.mlp_norm, LayerNormWeights<B>::load(loader, layer + "final_layer_norm", d, eps));
    model.encoder_layers_.push_back(std::move(weights));
  }
  FERRUM_ASSIGN_OR_RETURN(model.encoder_norm_, LayerNormWeights<B>::load(loader, encoder + "layer_norm", d, eps));

  const std::string decoder = "model.decoder.";
  FERRUM_ASSIGN_OR_RETURN(model.embed_tokens_, loader.matrix(decoder + "embed_tokens.weight", hp.vocab_size, d));
  FERRUM_ASSIGN_OR_RETURN(model.decoder_positions_,
                          loader.matrix(decoder + "embed_positions.weight", hp.max_target_positions, d));
  for (size_t i = 0; i < hp.decoder_layers; ++i) {
    const std::string layer = decoder + "layers." + std::to_string(i) + ".";
    DecoderLayer weights;
    FERRUM_ASSIGN_OR_RETURN(weights.self_attention,
                            AttentionWeights<B>::load(loader, attention_names(layer + "self_attn."), d, d));
    FERRUM_ASSIGN_OR_RETURN(weights.self_norm,
                            LayerNormWeights<B>::load(loader, layer + "self_attn_layer_norm", d, eps));
    FERRUM_ASSIGN_OR_RETURN(weights.cross_attention,
                            AttentionWeights<B>::load(loader, attention_names(layer + "encoder_attn."), d, d));
    FERRUM_ASSIGN_OR_RETURN(weights.cross_norm,
                            LayerNormWeights<B>::load(loader, layer + "encoder_attn_layer_norm", d, eps));
    FERRUM_ASSIGN_OR_RETURN(weights.mlp, load_mlp(layer, hp.decoder_ffn));
    FERRUM_ASSIGN_OR_RETURN(weights.mlp_norm, LayerNormWeights<B>::load(loader, layer + "final_layer_norm", d, eps));
    model.decoder_layers_.push_back(std::move(weights));
  }
  FERRUM_ASSIGN_OR_RETURN(model.decoder_norm_, LayerNormWeights<B>::load(loader, decoder + "layer_norm", d, eps));
  if (loader.contains("proj_out.weight")) {
    FERRUM_ASSIGN_OR_RETURN(model.proj_out_, loader.linear("proj_out", hp.vocab_size, d));
  } else {
    model.proj_out_.emplace("proj_out (tied to embed_tokens)", hp.vocab_size, d,
                            WeightLoader<B>::storage_for(model.embed_tokens_));
  }
  return model;
}

template <Backend B>
Status WhisperModel<B>::encode(Context& ctx, std::span<const float> mel, size_t frames, Buffer& out) {
  const WhisperHParams& hp = hparams_;
  const size_t d = hp.d_model;
  const size_t mels = hp.num_mel_bins;
  FERRUM_CHECK(frames > 0 && mel.size() == mels * frames, ErrorCode::kShapeMismatch, "whisper encode: ", mel.size(),
               " feature values, expected ", mels, " mel bins x ", frames, " frames");
  const size_t length = WhisperHParams::encoder_length(frames);
  FERRUM_CHECK(length <= hp.max_source_positions, ErrorCode::kLimitExceeded, "whisper encode: ", frames,
               " frames give ", length, " encoder positions, more than max_source_positions ", hp.max_source_positions);
  FERRUM_TRY(check_numel("whisper encode", "out", out, {length, d}));
  BlockScratch<B>& s = encoder_scratch_;
  FERRUM_TRY(s.reserve(length, d, d, hp.encoder_ffn));
  const DType act = B::kActivationDType;

  // conv1 (stride 1) as patches [frames, mels * 3] @ weight [d, mels * 3]^T, then GELU.
  FERRUM_ASSIGN_OR_RETURN(Buffer features, B::from_slice(mel, DType::kF32));
  FERRUM_ASSIGN_OR_RETURN(Buffer columns, B::alloc(frames * std::max(mels, d) * 3, act));
  FERRUM_TRY(B::im2col_1d(ctx, features, columns, mels, frames, 3, 1, 1));
  FERRUM_ASSIGN_OR_RETURN(Buffer conv1_out, B::alloc(frames * d, act));
  FERRUM_TRY(conv1_->forward(ctx, columns, conv1_out, frames));
  FERRUM_TRY(B::gelu(ctx, conv1_out, conv1_out, frames * d));
  // Back to channel-major [d, frames] for the next im2col: a [frames, d, 1] -> [d, frames, 1] transpose.
  FERRUM_ASSIGN_OR_RETURN(Buffer channels_major, B::alloc(d * frames, act));
  FERRUM_TRY(B::transpose_head_to_token(ctx, conv1_out, channels_major, d, frames, 1));
  // conv2 (stride 2) into `out`, then GELU and positions.
  FERRUM_TRY(B::im2col_1d(ctx, channels_major, columns, d, frames, 3, 2, 1));
  FERRUM_TRY(conv2_->forward(ctx, columns, out, length));
  FERRUM_TRY(B::gelu(ctx, out, out, length * d));
  FERRUM_TRY(add_positions<B>(ctx, *encoder_positions_, 0, length, d, out, s));
  tracer_.template trace<B>(ctx, "inp_embd", -1, out, length * d);

  for (size_t i = 0; i < encoder_layers_.size(); ++i) {
    FERRUM_TRY(encoder_layer<B>(ctx, encoder_layers_[i], NormPlacement::kPreNorm, /*causal=*/false, encoder_shape_, out,
                                length, d, s, tracer_, static_cast<int>(i)));
  }
  FERRUM_TRY(encoder_norm_.forward(ctx, out, s.normed, length, d));
  FERRUM_TRY(B::copy_slice(ctx, s.normed, 0, out, 0, length * d));
  tracer_.template trace<B>(ctx, "encoder_out", -1, out, length * d);
  return ok();
}

template <Backend B>
Expected<WhisperDecoderState<B>> WhisperModel<B>::start_decoding(Context& ctx, const Buffer& encoder_out,
                                                                 size_t encoder_length, DType cache_dtype) {
  const WhisperHParams& hp = hparams_;
  const size_t d = hp.d_model;
  FERRUM_CHECK(encoder_length > 0 && encoder_length <= hp.max_source_positions, ErrorCode::kInvalidArgument,
               "whisper: encoder length ", encoder_length, " is outside 1..", hp.max_source_positions);
  FERRUM_TRY(check_numel("whisper start_decoding", "encoder_out", encoder_out, {encoder_length, d}));
  WhisperDecoderState<B> state;
  FERRUM_ASSIGN_OR_RETURN(state.self_attention,
                          DecoderState<B>::create(hp.decoder_layers, decoder_shape_.heads, decoder_shape_.head_dim,
                                                  hp.max_target_positions, cache_dtype));
  state.encoder_length = encoder_length;
  BlockScratch<B>& s = decoder_scratch_;
  FERRUM_TRY(s.reserve(encoder_length, d, d, hp.decoder_ffn));
  for (const DecoderLayer& layer : decoder_layers_) {
    FERRUM_ASSIGN_OR_RETURN(Buffer k, B::alloc(encoder_length * d, B::kActivationDType));
    FERRUM_ASSIGN_OR_RETURN(Buffer v, B::alloc(encoder_length * d, B::kActivationDType));
    FERRUM_TRY(layer.cross_attention.k->forward(ctx, encoder_out, s.k, encoder_length));
    FERRUM_TRY(layer.cross_attention.v->forward(ctx, encoder_out, s.v, encoder_length));
    FERRUM_TRY(to_head_major<B>(ctx, s.k, k, encoder_length, decoder_shape_));
    FERRUM_TRY(to_head_major<B>(ctx, s.v, v, encoder_length, decoder_shape_));
    state.cross_k.push_back(std::move(k));
    state.cross_v.push_back(std::move(v));
  }
  return state;
}

template <Backend B>
Status WhisperModel<B>::decoder_layer(Context& ctx, size_t index, Buffer& hidden, size_t tokens,
                                      WhisperDecoderState<B>& state) {
  const size_t d = hparams_.d_model;
  const size_t n = tokens * d;
  const int layer_index = static_cast<int>(index);
  const DecoderLayer& layer = decoder_layers_[index];
  const AttentionShape& shape = decoder_shape_;
  BlockScratch<B>& s = decoder_scratch_;
  KvCache<Buffer>& cache = state.self_attention.layers[index];
  const size_t position = state.self_attention.length;

  // Causal self-attention over the cache extended by these tokens.
  FERRUM_TRY(layer.self_norm.forward(ctx, hidden, s.normed, tokens, d));
  FERRUM_TRY(layer.self_attention.q->forward(ctx, s.normed, s.q, tokens));
  FERRUM_TRY(layer.self_attention.k->forward(ctx, s.normed, s.k, tokens));
  FERRUM_TRY(layer.self_attention.v->forward(ctx, s.normed, s.v, tokens));
  FERRUM_TRY(to_head_major<B>(ctx, s.k, s.k_heads, tokens, shape));
  FERRUM_TRY(to_head_major<B>(ctx, s.v, s.v_heads, tokens, shape));
  FERRUM_TRY(B::kv_cache_append_head_major(ctx, cache.k, cache.v, position, cache.capacity, s.k_heads, s.v_heads,
                                           tokens, shape.heads, shape.head_dim));
  FERRUM_TRY(attend<B>(ctx, s, cache.k, cache.v, tokens, position + tokens, cache.capacity, position,
                       /*causal=*/true, shape));
  FERRUM_TRY(layer.self_attention.out->forward(ctx, s.attn, s.out, tokens));
  tracer_.template trace<B>(ctx, "self_attn_out", layer_index, s.out, n);
  FERRUM_TRY(B::add_inplace(ctx, hidden, s.out, n));

  // Cross-attention over the whole encoder output.
  FERRUM_TRY(layer.cross_norm.forward(ctx, hidden, s.normed, tokens, d));
  FERRUM_TRY(layer.cross_attention.q->forward(ctx, s.normed, s.q, tokens));
  FERRUM_TRY(attend<B>(ctx, s, state.cross_k[index], state.cross_v[index], tokens, state.encoder_length, 0, 0,
                       /*causal=*/false, shape));
  FERRUM_TRY(layer.cross_attention.out->forward(ctx, s.attn, s.out, tokens));
  tracer_.template trace<B>(ctx, "cross_attn_out", layer_index, s.out, n);
  FERRUM_TRY(B::add_inplace(ctx, hidden, s.out, n));

  FERRUM_TRY(layer.mlp_norm.forward(ctx, hidden, s.normed, tokens, d));
  FERRUM_TRY(mlp<B>(ctx, layer.mlp, s.normed, tokens, s));
  tracer_.template trace<B>(ctx, "ffn_out", layer_index, s.out, n);
  FERRUM_TRY(B::add_inplace(ctx, hidden, s.out, n));
  tracer_.template trace<B>(ctx, "l_out", layer_index, hidden, n);
  return ok();
}

template <Backend B>
Status WhisperModel<B>::decode(Context& ctx, std::span<const uint32_t> tokens, WhisperDecoderState<B>& state,
                               Buffer& logits, bool all_logits) {
  const WhisperHParams& hp = hparams_;
  const size_t d = hp.d_model;
  const size_t t = tokens.size();
  FERRUM_CHECK(t > 0, ErrorCode::kInvalidArgument, "whisper decode: no tokens");
  FERRUM_CHECK(state.cross_k.size() == decoder_layers_.size(), ErrorCode::kInvalidArgument,
               "whisper decode: the state was not made by start_decoding of this model");
  FERRUM_CHECK(state.length() + t <= state.self_attention.capacity, ErrorCode::kLimitExceeded,
               "whisper decode: ", state.length(), " cached + ", t, " new tokens exceed max_target_positions ",
               state.self_attention.capacity);
  for (uint32_t token : tokens) {
    FERRUM_CHECK(token < hp.vocab_size, ErrorCode::kInvalidArgument, "whisper decode: token id ", token,
                 " is outside the vocabulary of ", hp.vocab_size);
  }
  FERRUM_TRY(check_numel("whisper decode", "logits", logits, {all_logits ? t : 1, hp.vocab_size}));
  BlockScratch<B>& s = decoder_scratch_;
  FERRUM_TRY(s.reserve(t, d, d, hp.decoder_ffn));

  FERRUM_ASSIGN_OR_RETURN(Buffer hidden, B::alloc(t * d, B::kActivationDType));
  FERRUM_TRY(B::embedding_lookup(ctx, *embed_tokens_, tokens, hidden, d));
  FERRUM_TRY(add_positions<B>(ctx, *decoder_positions_, state.length(), t, d, hidden, s));
  tracer_.template trace<B>(ctx, "inp_embd", -1, hidden, t * d);
  for (size_t i = 0; i < decoder_layers_.size(); ++i) FERRUM_TRY(decoder_layer(ctx, i, hidden, t, state));
  state.self_attention.length += t;
  for (auto& cache : state.self_attention.layers) cache.len = state.self_attention.length;

  FERRUM_TRY(decoder_norm_.forward(ctx, hidden, s.normed, t, d));
  tracer_.template trace<B>(ctx, "result_norm", -1, s.normed, t * d);
  if (all_logits) return proj_out_->forward(ctx, s.normed, logits, t);
  FERRUM_TRY(B::copy_slice(ctx, s.normed, (t - 1) * d, s.out, 0, d));
  return proj_out_->forward(ctx, s.out, logits, 1);
}

}  // namespace ferrum
