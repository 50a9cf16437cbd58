// Qwen3-MoE: Qwen3's attention (grouped-query heads, per-head RMSNorm on q and k, rotate-half
// RoPE) with a mixture-of-experts feed-forward on the layers the config makes sparse
// (decoder_sparse_step, minus mlp_only_layers; the others keep a dense gated MLP). Routing:
// softmax over the experts, top-k, renormalised when norm_topk_prob; no shared experts.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "formats/model_config.h"
#include "models/decoder_state.h"
#include "models/forward_batch.h"
#include "models/gated_mlp.h"
#include "models/grouped_query_attention.h"
#include "models/moe_block.h"
#include "models/output_head.h"
#include "models/rope.h"
#include "models/tensor_parallel.h"
#include "models/token_embedding.h"
#include "models/tracer.h"
#include "models/weight_loader.h"

namespace ferrum {

struct Qwen3MoeHParams {
  size_t vocab_size = 0;
  size_t hidden_size = 0;
  size_t num_layers = 0;
  size_t max_positions = 0;
  size_t dense_intermediate_size = 0;  // the MLP of layers without experts
  float rms_norm_eps = 1e-6f;
  RopeParams rope;
  std::vector<size_t> sliding_window;  // per layer; 0 = full attention
  GqaParams attention;
  MoeParams moe;
  std::vector<bool> layer_is_moe;
  bool tie_word_embeddings = false;
  TensorParallel tp;  // which shard of the model to load; load hands it to the attention and MoE blocks

  Status validate() const;
};

// Maps a parsed Qwen3MoeForCausalLM config to these hyper-parameters; refuses what this file
// cannot run.
Expected<Qwen3MoeHParams> qwen3_moe_hparams(const ModelConfig& config);

template <Backend B>
class Qwen3MoeModel {
 public:
  using Buffer = typename B::Buffer;
  using Context = typename B::Context;
  using State = DecoderState<B>;

  // max_batch_tokens: tokens one forward step processes at most (longer inputs run in chunks);
  // max_context: the longest sequence any state will hold (RoPE tables are built that far).
  static Expected<Qwen3MoeModel> load(const Qwen3MoeHParams& hparams, const WeightLoader<B>& loader,
                                      size_t max_batch_tokens, size_t max_context);

  const Qwen3MoeHParams& hparams() const { return hparams_; }
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

  Expected<DecoderState<B>> new_state(size_t capacity, DType cache_dtype) const {
    FERRUM_CHECK(capacity > 0 && capacity <= max_context_, ErrorCode::kInvalidArgument, "context of ", capacity,
                 " tokens is outside 1..", max_context_, " this model was loaded for");
    return DecoderState<B>::create(hparams_.num_layers, hparams_.attention.local_kv_heads(),
                                   hparams_.attention.head_dim, capacity, cache_dtype);
  }

  // Runs `tokens` after the state's cached ones, appending their K / V. Writes the logits of the last
  // token to `logits` [vocab], or of every token to [tokens, vocab] when all_logits is set.
  Status forward(Context& ctx, std::span<const uint32_t> tokens, DecoderState<B>& state, Buffer& logits,
                 bool all_logits);

  // The serving engine's step over the paged cache (forward_batch.h); logits of step.batch.logits_rows.
  PagedLayerShape paged_layer_shape() const {
    return {hparams_.attention.local_kv_heads(), hparams_.attention.head_dim, hparams_.attention.head_dim};
  }
  Status forward_batch(Context& ctx, const PagedStep<B>& step, Buffer& logits);

 private:
  struct Layer {
    Buffer attn_norm;
    std::optional<GroupedQueryAttention<B>> attention;
    Buffer ffn_norm;
    std::optional<GatedMlp<B>> dense_mlp;  // layers without experts
    std::optional<MoeBlock<B>> moe;
  };

  struct Scratch {
    Buffer residual, x, attn_out, ffn_out;
    typename GroupedQueryAttention<B>::Scratch attention;
    typename GatedMlp<B>::Scratch mlp;
    std::optional<typename MoeBlock<B>::Scratch> moe;
  };

  Status forward_chunk(Context& ctx, std::span<const uint32_t> tokens, DecoderState<B>& state, Buffer& logits,
                       size_t logits_offset, bool all_logits);
  // Every layer and the final norm (into scratch_.x) over t tokens whose embeddings are in
  // scratch_.residual; attend(layer index) runs the
  // layer's attention from scratch_.x into scratch_.attn_out.
  template <class Attend>
  Status run_decoder(Context& ctx, size_t t, const Attend& attend);
  // Checks token ids against the vocabulary.
  Status check_tokens(std::span<const uint32_t> tokens) const;

  Qwen3MoeHParams hparams_;
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
