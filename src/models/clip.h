// CLIP (CLIPModel): a causal text transformer pooled at its end-of-text token and a ViT image
// transformer pooled at its class token, each projected (without bias) into the shared embedding
// space. text_features / image_features match transformers' get_text_features / get_image_features
// (projected, not normalised).
//
//   text   ids -> token + position embeddings -> pre-norm layers (causal) -> final_layer_norm at
//          the pooled token -> text_projection
//   vision pixels [channels, size, size] -> patches (im2col_2d, stride = patch) @ patch_embedding
//          -> [class_embedding; patches] + positions -> pre_layrnorm -> pre-norm layers
//          -> post_layernorm on the class token -> visual_projection
#pragma once

#include <span>
#include <vector>

#include "backend/backend.h"
#include "formats/model_config.h"
#include "models/encoder_blocks.h"
#include "models/tracer.h"
#include "models/weight_loader.h"

namespace ferrum {

struct ClipTowerHParams {
  size_t hidden_size = 0;
  size_t num_layers = 0;
  size_t num_heads = 0;
  size_t intermediate_size = 0;
  float layer_norm_eps = 1e-5f;
  Activation activation = Activation::kGeluQuick;

  size_t head_dim() const { return hidden_size / num_heads; }
};

struct ClipHParams {
  ClipTowerHParams text;
  ClipTowerHParams vision;
  size_t vocab_size = 0;
  size_t max_text_positions = 0;
  int64_t text_eos_token_id = 0;
  size_t image_size = 0;
  size_t patch_size = 0;
  size_t num_channels = 0;
  size_t projection_dim = 0;

  size_t patches_per_side() const { return image_size / patch_size; }
  size_t num_patches() const { return patches_per_side() * patches_per_side(); }
};

Expected<ClipHParams> clip_hparams(const ModelConfig& config);

// The text position pooled, as transformers chooses it: the first position holding
// eos_token_id, except that configs saying 2 (the original OpenAI conversions, whose real
// end-of-text token is the largest id) pool at the first occurrence of the largest id.
Expected<size_t> clip_text_pool_index(std::span<const uint32_t> ids, int64_t eos_token_id);

template <Backend B>
class ClipModel {
 public:
  using Buffer = typename B::Buffer;
  using Context = typename B::Context;

  static Expected<ClipModel> load(const ClipHParams& hparams, const WeightLoader<B>& loader);

  const ClipHParams& hparams() const { return hparams_; }

  // [projection_dim] for one tokenized text (with its start and end tokens, no padding).
  Expected<std::vector<float>> text_features(Context& ctx, std::span<const uint32_t> ids);
  // [projection_dim] for one preprocessed image: pixel_values [num_channels, image_size, image_size]
  // (resized, centre-cropped and normalised as CLIPImageProcessor does).
  Expected<std::vector<float>> image_features(Context& ctx, std::span<const float> pixels);

 private:
  struct Tower {
    std::vector<EncoderLayerWeights<B>> layers;
    BlockScratch<B> scratch;
  };

  static Expected<Tower> load_tower(const WeightLoader<B>& loader, const std::string& prefix,
                                    const ClipTowerHParams& hp);
  Status run_layers(Context& ctx, Tower& tower, const ClipTowerHParams& hp, Buffer& hidden, size_t tokens, bool causal);
  // norm(row `row` of hidden) @ projection^T, downloaded.
  Expected<std::vector<float>> pool_and_project(Context& ctx, Tower& tower, const ClipTowerHParams& hp,
                                                const Buffer& hidden, size_t row, const LayerNormWeights<B>& norm,
                                                const Linear<B>& projection);

  ClipHParams hparams_;
  Tower text_, vision_;
  std::shared_ptr<const Buffer> token_embedding_, text_positions_;
  LayerNormWeights<B> text_final_norm_;
  std::optional<Linear<B>> text_projection_;
  std::optional<Linear<B>> patch_embedding_;
  Buffer class_embedding_;
  std::shared_ptr<const Buffer> vision_positions_;
  LayerNormWeights<B> pre_norm_, post_norm_;
  std::optional<Linear<B>> visual_projection_;
  Tracer tracer_;
};

}  // namespace ferrum
