// Template definitions of ClipModel, included by the files that instantiate it for a backend.
#pragma once

#include <cmath>

#include "models/clip.h"

namespace ferrum {

template <Backend B>
Expected<typename ClipModel<B>::Tower> ClipModel<B>::load_tower(const WeightLoader<B>& loader,
                                                                const std::string& prefix, const ClipTowerHParams& hp) {
  Tower tower;
  const size_t hidden = hp.hidden_size;
  for (size_t i = 0; i < hp.num_layers; ++i) {
    const std::string layer = prefix + "encoder.layers." + std::to_string(i) + ".";
    EncoderLayerWeights<B> weights;
    const AttentionNames names{.q = layer + "self_attn.q_proj",
                               .k = layer + "self_attn.k_proj",
                               .v = layer + "self_attn.v_proj",
                               .out = layer + "self_attn.out_proj"};
    FERRUM_ASSIGN_OR_RETURN(weights.attention, AttentionWeights<B>::load(loader, names, hidden, hidden));
    FERRUM_ASSIGN_OR_RETURN(weights.attn_norm,
                            LayerNormWeights<B>::load(loader, layer + "layer_norm1", hidden, hp.layer_norm_eps));
    FERRUM_ASSIGN_OR_RETURN(weights.mlp.up, loader.linear(layer + "mlp.fc1", hp.intermediate_size, hidden, true));
    FERRUM_ASSIGN_OR_RETURN(weights.mlp.down, loader.linear(layer + "mlp.fc2", hidden, hp.intermediate_size, true));
    weights.mlp.activation = hp.activation;
    FERRUM_ASSIGN_OR_RETURN(weights.mlp_norm,
                            LayerNormWeights<B>::load(loader, layer + "layer_norm2", hidden, hp.layer_norm_eps));
    tower.layers.push_back(std::move(weights));
  }
  return tower;
}

template <Backend B>
Expected<ClipModel<B>> ClipModel<B>::load(const ClipHParams& hparams, const WeightLoader<B>& loader) {
  ClipModel model;
  model.hparams_ = hparams;
  const ClipHParams& hp = model.hparams_;
  const size_t text_hidden = hp.text.hidden_size;
  const size_t vision_hidden = hp.vision.hidden_size;

  FERRUM_ASSIGN_OR_RETURN(model.text_, load_tower(loader, "text_model.", hp.text));
  FERRUM_ASSIGN_OR_RETURN(model.token_embedding_,
                          loader.matrix("text_model.embeddings.token_embedding.weight", hp.vocab_size, text_hidden));
  FERRUM_ASSIGN_OR_RETURN(model.text_positions_, loader.matrix("text_model.embeddings.position_embedding.weight",
                                                               hp.max_text_positions, text_hidden));
  FERRUM_ASSIGN_OR_RETURN(model.text_final_norm_, LayerNormWeights<B>::load(loader, "text_model.final_layer_norm",
                                                                            text_hidden, hp.text.layer_norm_eps));
  FERRUM_ASSIGN_OR_RETURN(model.text_projection_, loader.linear("text_projection", hp.projection_dim, text_hidden));

  FERRUM_ASSIGN_OR_RETURN(model.vision_, load_tower(loader, "vision_model.", hp.vision));
  const int64_t patch = static_cast<int64_t>(hp.patch_size);
  FERRUM_ASSIGN_OR_RETURN(
      model.patch_embedding_,
      load_convolution(loader, "vision_model.embeddings.patch_embedding",
                       {static_cast<int64_t>(vision_hidden), static_cast<int64_t>(hp.num_channels), patch, patch},
                       /*bias=*/false));
  FERRUM_ASSIGN_OR_RETURN(model.class_embedding_,
                          loader.vector_f32("vision_model.embeddings.class_embedding", vision_hidden));
  FERRUM_ASSIGN_OR_RETURN(model.vision_positions_, loader.matrix("vision_model.embeddings.position_embedding.weight",
                                                                 hp.num_patches() + 1, vision_hidden));
  // "pre_layrnorm" is how the checkpoints spell it.
  FERRUM_ASSIGN_OR_RETURN(model.pre_norm_, LayerNormWeights<B>::load(loader, "vision_model.pre_layrnorm", vision_hidden,
                                                                     hp.vision.layer_norm_eps));
  FERRUM_ASSIGN_OR_RETURN(model.post_norm_, LayerNormWeights<B>::load(loader, "vision_model.post_layernorm",
                                                                      vision_hidden, hp.vision.layer_norm_eps));
  FERRUM_ASSIGN_OR_RETURN(model.visual_projection_,
                          loader.linear("visual_projection", hp.projection_dim, vision_hidden));
  return model;
}

template <Backend B>
Status ClipModel<B>::run_layers(Context& ctx, Tower& tower, const ClipTowerHParams& hp, Buffer& hidden, size_t tokens,
                                bool causal) {
  const AttentionShape shape{
      .heads = hp.num_heads, .head_dim = hp.head_dim(), .scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim()))};
  for (size_t i = 0; i < tower.layers.size(); ++i) {
    FERRUM_TRY(encoder_layer<B>(ctx, tower.layers[i], NormPlacement::kPreNorm, causal, shape, hidden, tokens,
                                hp.hidden_size, tower.scratch, tracer_, static_cast<int>(i)));
  }
  return ok();
}

template <Backend B>
Expected<std::vector<float>> ClipModel<B>::pool_and_project(Context& ctx, Tower& tower, const ClipTowerHParams& hp,
                                                            const Buffer& hidden, size_t row,
                                                            const LayerNormWeights<B>& norm,
                                                            const Linear<B>& projection) {
  BlockScratch<B>& s = tower.scratch;
  const size_t dim = hp.hidden_size;
  // Normalising every row and then picking one equals picking first: the norm is per row.
  FERRUM_TRY(B::copy_slice(ctx, hidden, row * dim, s.out, 0, dim));
  FERRUM_TRY(norm.forward(ctx, s.out, s.normed, 1, dim));
  tracer_.template trace<B>(ctx, "pooled", -1, s.normed, dim);
  FERRUM_TRY(projection.forward(ctx, s.normed, s.q, 1));
  FERRUM_TRY(B::sync(ctx));
  return B::to_vec(s.q, projection.out_features());
}

template <Backend B>
Expected<std::vector<float>> ClipModel<B>::text_features(Context& ctx, std::span<const uint32_t> ids) {
  const ClipHParams& hp = hparams_;
  const size_t tokens = ids.size();
  const size_t dim = hp.text.hidden_size;
  FERRUM_CHECK(tokens > 0, ErrorCode::kInvalidArgument, "clip text: no tokens");
  FERRUM_CHECK(tokens <= hp.max_text_positions, ErrorCode::kLimitExceeded, "clip text: ", tokens,
               " tokens exceed max_position_embeddings ", hp.max_text_positions);
  for (uint32_t id : ids) {
    FERRUM_CHECK(id < hp.vocab_size, ErrorCode::kInvalidArgument, "clip text: token id ", id,
                 " is outside the vocabulary of ", hp.vocab_size);
  }
  FERRUM_ASSIGN_OR_RETURN(size_t pooled, clip_text_pool_index(ids, hp.text_eos_token_id));
  // The projection writes projection_dim values into s.q, which holds tokens * hidden.
  BlockScratch<B>& s = text_.scratch;
  FERRUM_TRY(s.reserve(std::max<size_t>(tokens, 1 + hp.projection_dim / dim), dim, dim, hp.text.intermediate_size));
  FERRUM_ASSIGN_OR_RETURN(Buffer hidden, B::alloc(tokens * dim, B::kActivationDType));
  FERRUM_TRY(B::embedding_lookup(ctx, *token_embedding_, ids, hidden, dim));
  FERRUM_TRY(add_positions<B>(ctx, *text_positions_, 0, tokens, dim, hidden, s));
  tracer_.template trace<B>(ctx, "inp_embd", -1, hidden, tokens * dim);
  FERRUM_TRY(run_layers(ctx, text_, hp.text, hidden, tokens, /*causal=*/true));
  return pool_and_project(ctx, text_, hp.text, hidden, pooled, text_final_norm_, *text_projection_);
}

template <Backend B>
Expected<std::vector<float>> ClipModel<B>::image_features(Context& ctx, std::span<const float> pixels) {
  const ClipHParams& hp = hparams_;
  const size_t dim = hp.vision.hidden_size;
  const size_t side = hp.image_size;
  FERRUM_CHECK(pixels.size() == hp.num_channels * side * side, ErrorCode::kShapeMismatch, "clip image: ", pixels.size(),
               " pixel values, expected ", hp.num_channels, " x ", side, " x ", side);
  const size_t patches = hp.num_patches();
  const size_t tokens = patches + 1;
  const size_t patch_width = hp.num_channels * hp.patch_size * hp.patch_size;
  BlockScratch<B>& s = vision_.scratch;
  FERRUM_TRY(s.reserve(std::max<size_t>(tokens, 1 + hp.projection_dim / dim), dim, dim, hp.vision.intermediate_size));

  FERRUM_ASSIGN_OR_RETURN(Buffer image, B::from_slice(pixels, DType::kF32));
  FERRUM_ASSIGN_OR_RETURN(Buffer columns, B::alloc(patches * patch_width, B::kActivationDType));
  FERRUM_TRY(B::im2col_2d(ctx, image, columns, hp.num_channels, side, side, hp.patch_size, hp.patch_size, 0));
  FERRUM_TRY(patch_embedding_->forward(ctx, columns, s.out, patches));
  // Token 0 is the class embedding, tokens 1.. the patches in row-major order.
  FERRUM_ASSIGN_OR_RETURN(Buffer embeddings, B::alloc(tokens * dim, B::kActivationDType));
  FERRUM_TRY(B::copy_slice(ctx, class_embedding_, 0, embeddings, 0, dim));
  FERRUM_TRY(B::copy_slice(ctx, s.out, 0, embeddings, dim, patches * dim));
  FERRUM_TRY(add_positions<B>(ctx, *vision_positions_, 0, tokens, dim, embeddings, s));
  tracer_.template trace<B>(ctx, "inp_embd", -1, embeddings, tokens * dim);
  FERRUM_ASSIGN_OR_RETURN(Buffer hidden, B::alloc(tokens * dim, B::kActivationDType));
  FERRUM_TRY(pre_norm_.forward(ctx, embeddings, hidden, tokens, dim));
  FERRUM_TRY(run_layers(ctx, vision_, hp.vision, hidden, tokens, /*causal=*/false));
  return pool_and_project(ctx, vision_, hp.vision, hidden, 0, post_norm_, *visual_projection_);
}

}  // namespace ferrum
