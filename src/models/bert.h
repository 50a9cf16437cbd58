// BERT (BertModel and the encoders of BERT-based sentence embedders): token + position + segment
// embeddings with LayerNorm, post-norm encoder layers with biased projections and GELU, and
// sentence embeddings by mean pooling + L2 normalisation.
//
// Each sequence runs on its own, attending over its own tokens only: exactly what a padded batch
// computes for its real tokens under the attention mask, without the padding's work.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "formats/model_config.h"
#include "models/encoder_blocks.h"
#include "models/tracer.h"
#include "models/weight_loader.h"

namespace ferrum {

struct BertHParams {
  size_t vocab_size = 0;
  size_t hidden_size = 0;
  size_t num_layers = 0;
  size_t num_heads = 0;
  size_t intermediate_size = 0;
  size_t max_positions = 0;
  size_t type_vocab_size = 0;
  float layer_norm_eps = 1e-12f;
  Activation activation = Activation::kGeluErf;
  std::string weight_prefix;  // "" for BertModel checkpoints, "bert." inside BertFor* heads

  size_t head_dim() const { return hidden_size / num_heads; }
};

// Refuses position embeddings other than "absolute" and hidden sizes the heads do not divide.
Expected<BertHParams> bert_hparams(const ModelConfig& config);

template <Backend B>
class BertModel {
 public:
  using Buffer = typename B::Buffer;
  using Context = typename B::Context;

  // The weight prefix is found from the checkpoint ("embeddings.word_embeddings.weight" or the
  // same under "bert.").
  static Expected<BertModel> load(BertHParams hparams, const WeightLoader<B>& loader);

  const BertHParams& hparams() const { return hparams_; }

  // last_hidden_state [tokens, hidden] of one sequence into `out`. token_types may be empty (all 0).
  Status encode(Context& ctx, std::span<const uint32_t> ids, std::span<const uint32_t> token_types, Buffer& out);

  // The sentence embedding: mean of last_hidden_state over the tokens, L2-normalised.
  Expected<std::vector<float>> embed(Context& ctx, std::span<const uint32_t> ids,
                                     std::span<const uint32_t> token_types = {});

 private:
  BertHParams hparams_;
  std::shared_ptr<const Buffer> word_embeddings_, position_embeddings_, token_type_embeddings_;
  LayerNormWeights<B> embedding_norm_;
  std::vector<EncoderLayerWeights<B>> layers_;
  BlockScratch<B> scratch_;
  Tracer tracer_;
};

}  // namespace ferrum
