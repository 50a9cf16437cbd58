// DeepSeek V3 (and models sharing its layout): multi-head latent attention (latent_attention.h:
// low-rank queries, a compressed KV latent plus a shared RoPE key, computed in the absorbed form
// so the cache holds only those two), and a mixture-of-experts feed-forward after the first
// first_k_dense_replace dense layers: sigmoid router scores, expert choice on scores plus
// e_score_correction_bias limited to the best topk_group of n_group groups, weights from the
// unbiased scores (renormalised when norm_topk_prob, times routed_scaling_factor), and shared
// experts added for every token.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "formats/model_config.h"
#include "models/forward_batch.h"
#include "models/gated_mlp.h"
#include "models/latent_attention.h"
#include "models/latent_decoder_state.h"
#include "models/moe_block.h"
#include "models/output_head.h"
#include "models/rope.h"
#include "models/tensor_parallel.h"
#include "models/token_embedding.h"
#include "models/tracer.h"
#include "models/weight_loader.h"

namespace ferrum {

struct DeepseekV3HParams {
  size_t vocab_size = 0;
  size_t hidden_size = 0;
  size_t num_layers = 0;
  size_t max_positions = 0;
  size_t dense_intermediate_size = 0;  // the MLP of the leading dense layers
  float rms_norm_eps = 1e-6f;
  RopeParams rope;  // over qk_rope_head_dim
  MlaParams attention;
  MoeParams moe;
  std::vector<bool> layer_is_moe;
  bool tie_word_embeddings = false;
  TensorParallel tp;  // which shard of the model to load; load hands it to the attention and MoE blocks

  Status validate() const;
};

// Maps a parsed DeepseekV3ForCausalLM config (or GGUF deepseek2 metadata) to these
// hyper-parameters; refuses what this file cannot run.
Expected<DeepseekV3HParams> deepseek_v3_hparams(const ModelConfig& config);

// transformers' softmax scale for MLA: (nope + rope)^-0.5, times mscale^2 under YaRN when the
// config gives mscale_all_dim.
float deepseek_attention_scale(size_t qk_head_dim, const RopeScaling& scaling);

template <Backend B>
class DeepseekV3Model {
 public:
  using Buffer = typename B::Buffer;
  using Context = typename B::Context;
  using State = LatentDecoderState<B>;

  static Expected<DeepseekV3Model> load(const DeepseekV3HParams& hparams, const WeightLoader<B>& loader,
                                        size_t max_batch_tokens, size_t max_context);

  const DeepseekV3HParams& hparams() const { return hparams_; }
  size_t max_context() const { return max_context_; }
  // Bytes of weights one decode token reads (attention, dense MLPs, router, top-k experts, lm_head).
  size_t weight_bytes() const {
    size_t total = output_head_->weight_bytes();
    for (const Layer& layer : layers_) {
      total += layer.attention->weight_bytes();
      total += layer.moe ? layer.moe->weight_bytes() : layer.dense_mlp->weight_bytes();
    }
    return total;
  }

  // The latent caches are written with copy_slice, so they are kept in the activation dtype.
  Expected<LatentDecoderState<B>> new_state(size_t capacity, DType cache_dtype) const {
    FERRUM_CHECK(capacity > 0 && capacity <= max_context_, ErrorCode::kInvalidArgument, "context of ", capacity,
                 " tokens is outside 1..", max_context_, " this model was loaded for");
    FERRUM_CHECK(cache_dtype == B::kActivationDType, ErrorCode::kUnsupported,
                 "deepseek_v3: the latent cache is kept in the activation dtype ", B::kActivationDType, ", not ",
                 cache_dtype);
    return LatentDecoderState<B>::create(hparams_.num_layers, capacity, hparams_.attention.kv_lora_rank,
                                         hparams_.attention.qk_rope_head_dim, cache_dtype);
  }

  // Runs `tokens` after the state's cached ones, appending their latents. Writes the logits of the
  // last token to `logits` [vocab], or of every token to [tokens, vocab] when all_logits is set.
  Status forward(Context& ctx, std::span<const uint32_t> tokens, LatentDecoderState<B>& state, Buffer& logits,
                 bool all_logits);

  // The serving engine's step over the paged cache (forward_batch.h): the pools hold each layer's
  // latent (as K) and rope key (as V). Logits of step.batch.logits_rows.
  PagedLayerShape paged_layer_shape() const {
    return {1, hparams_.attention.kv_lora_rank, hparams_.attention.qk_rope_head_dim};
  }
  Status forward_batch(Context& ctx, const PagedStep<B>& step, Buffer& logits);

 private:
  struct Layer {
    Buffer attn_norm;
    std::optional<LatentAttention<B>> attention;
    Buffer ffn_norm;
    std::optional<GatedMlp<B>> dense_mlp;  // the first first_k_dense_replace layers
    std::optional<MoeBlock<B>> moe;
  };

  struct Scratch {
    Buffer residual, x, attn_out, ffn_out;
    typename LatentAttention<B>::Scratch attention;
    typename GatedMlp<B>::Scratch mlp;
    std::optional<typename MoeBlock<B>::Scratch> moe;
  };

  Status forward_chunk(Context& ctx, std::span<const uint32_t> tokens, LatentDecoderState<B>& state, Buffer& logits,
                       size_t logits_offset, bool all_logits);
  // Every layer and the final norm (into scratch_.x) over t tokens whose embeddings are in
  // scratch_.residual; attend(layer index) runs the
  // layer's attention from scratch_.x into scratch_.attn_out.
  template <class Attend>
  Status run_decoder(Context& ctx, size_t t, const Attend& attend);
  // Checks token ids against the vocabulary.
  Status check_tokens(std::span<const uint32_t> tokens) const;

  DeepseekV3HParams hparams_;
  size_t max_batch_tokens_ = 0;
  size_t max_context_ = 0;
  std::optional<TokenEmbedding<B>> embedding_;
  std::vector<Layer> layers_;
  Buffer final_norm_;
  std::optional<OutputHead<B>> output_head_;
  Buffer rope_cos_, rope_sin_;
  Buffer batch_cos_, batch_sin_;  // the RoPE rows of a batch's positions (forward_batch)
  Scratch scratch_;
  Tracer tracer_;
};

}  // namespace ferrum
