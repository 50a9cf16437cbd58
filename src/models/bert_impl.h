// Template definitions of BertModel, included by the files that instantiate it for a backend.
#pragma once

#include <cmath>

#include "backend/op_checks.h"
#include "models/bert.h"
#include "models/pooling.h"

namespace ferrum {

template <Backend B>
Expected<BertModel<B>> BertModel<B>::load(BertHParams hparams, const WeightLoader<B>& loader) {
  BertModel model;
  if (!loader.contains("embeddings.word_embeddings.weight") &&
      loader.contains("bert.embeddings.word_embeddings.weight")) {
    hparams.weight_prefix = "bert.";
  }
  model.hparams_ = hparams;
  const BertHParams& hp = model.hparams_;
  const std::string& prefix = hp.weight_prefix;
  const size_t hidden = hp.hidden_size;
  FERRUM_ASSIGN_OR_RETURN(model.word_embeddings_,
                          loader.matrix(prefix + "embeddings.word_embeddings.weight", hp.vocab_size, hidden));
  FERRUM_ASSIGN_OR_RETURN(model.position_embeddings_,
                          loader.matrix(prefix + "embeddings.position_embeddings.weight", hp.max_positions, hidden));
  FERRUM_ASSIGN_OR_RETURN(
      model.token_type_embeddings_,
      loader.matrix(prefix + "embeddings.token_type_embeddings.weight", hp.type_vocab_size, hidden));
  FERRUM_ASSIGN_OR_RETURN(model.embedding_norm_, LayerNormWeights<B>::load(loader, prefix + "embeddings.LayerNorm",
                                                                           hidden, hp.layer_norm_eps));
  for (size_t i = 0; i < hp.num_layers; ++i) {
    const std::string layer = prefix + "encoder.layer." + std::to_string(i) + ".";
    EncoderLayerWeights<B> weights;
    const AttentionNames names{.q = layer + "attention.self.query",
                               .k = layer + "attention.self.key",
                               .v = layer + "attention.self.value",
                               .out = layer + "attention.output.dense"};
    FERRUM_ASSIGN_OR_RETURN(weights.attention, AttentionWeights<B>::load(loader, names, hidden, hidden));
    FERRUM_ASSIGN_OR_RETURN(weights.attn_norm, LayerNormWeights<B>::load(loader, layer + "attention.output.LayerNorm",
                                                                         hidden, hp.layer_norm_eps));
    FERRUM_ASSIGN_OR_RETURN(weights.mlp.up,
                            loader.linear(layer + "intermediate.dense", hp.intermediate_size, hidden, true));
    FERRUM_ASSIGN_OR_RETURN(weights.mlp.down,
                            loader.linear(layer + "output.dense", hidden, hp.intermediate_size, true));
    weights.mlp.activation = hp.activation;
    FERRUM_ASSIGN_OR_RETURN(weights.mlp_norm,
                            LayerNormWeights<B>::load(loader, layer + "output.LayerNorm", hidden, hp.layer_norm_eps));
    model.layers_.push_back(std::move(weights));
  }
  return model;
}

template <Backend B>
Status BertModel<B>::encode(Context& ctx, std::span<const uint32_t> ids, std::span<const uint32_t> token_types,
                            Buffer& out) {
  const BertHParams& hp = hparams_;
  const size_t tokens = ids.size();
  const size_t hidden = hp.hidden_size;
  FERRUM_CHECK(tokens > 0, ErrorCode::kInvalidArgument, "bert: no tokens");
  FERRUM_CHECK(tokens <= hp.max_positions, ErrorCode::kLimitExceeded, "bert: ", tokens,
               " tokens exceed max_position_embeddings ", hp.max_positions);
  FERRUM_CHECK(token_types.empty() || token_types.size() == tokens, ErrorCode::kInvalidArgument,
               "bert: ", token_types.size(), " token types for ", tokens, " tokens");
  for (uint32_t id : ids) {
    FERRUM_CHECK(id < hp.vocab_size, ErrorCode::kInvalidArgument, "bert: token id ", id,
                 " is outside the vocabulary of ", hp.vocab_size);
  }
  for (uint32_t type : token_types) {
    FERRUM_CHECK(type < hp.type_vocab_size, ErrorCode::kInvalidArgument, "bert: token type ", type, " is not below ",
                 hp.type_vocab_size);
  }
  FERRUM_TRY(check_numel("bert encode", "out", out, {tokens, hidden}));
  BlockScratch<B>& s = scratch_;
  FERRUM_TRY(s.reserve(tokens, hidden, hidden, hp.intermediate_size));
  const AttentionShape shape{
      .heads = hp.num_heads, .head_dim = hp.head_dim(), .scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim()))};

  // embeddings = LayerNorm(word[ids] + position[0..tokens) + token_type[types]), into `out`, which
  // then carries the residual stream.
  FERRUM_TRY(B::embedding_lookup(ctx, *word_embeddings_, ids, s.out, hidden));
  FERRUM_TRY(add_positions<B>(ctx, *position_embeddings_, 0, tokens, hidden, s.out, s));
  const std::vector<uint32_t> zero_types(token_types.empty() ? tokens : 0, 0);
  const std::span<const uint32_t> types = token_types.empty() ? std::span<const uint32_t>(zero_types) : token_types;
  FERRUM_TRY(B::embedding_lookup(ctx, *token_type_embeddings_, types, s.positions, hidden));
  FERRUM_TRY(B::add_inplace(ctx, s.out, s.positions, tokens * hidden));
  FERRUM_TRY(embedding_norm_.forward(ctx, s.out, out, tokens, hidden));
  tracer_.template trace<B>(ctx, "inp_embd", -1, out, tokens * hidden);

  for (size_t i = 0; i < layers_.size(); ++i) {
    FERRUM_TRY(encoder_layer<B>(ctx, layers_[i], NormPlacement::kPostNorm, /*causal=*/false, shape, out, tokens, hidden,
                                s, tracer_, static_cast<int>(i)));
  }
  return ok();
}

template <Backend B>
Expected<std::vector<float>> BertModel<B>::embed(Context& ctx, std::span<const uint32_t> ids,
                                                 std::span<const uint32_t> token_types) {
  const size_t hidden = hparams_.hidden_size;
  FERRUM_ASSIGN_OR_RETURN(Buffer states, B::alloc(ids.size() * hidden, B::kActivationDType));
  FERRUM_TRY(encode(ctx, ids, token_types, states));
  FERRUM_TRY(B::sync(ctx));
  FERRUM_ASSIGN_OR_RETURN(std::vector<float> host, B::to_vec(states, ids.size() * hidden));
  return l2_normalize(mean_pool(host, ids.size(), hidden));
}

}  // namespace ferrum
