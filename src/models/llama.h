// The Llama family: Llama 2 / 3 / 3.1, Mistral, Qwen2 / 2.5, Qwen3 and Gemma 3 (text).
// One decoder with the variants as flags of its hyper-parameters:
//   Qwen2      biases on q / k / v
//   Qwen3      per-head RMSNorm on q and k before RoPE (QK-norm), head_dim independent of hidden
//   Mistral    a sliding window on every layer
//   Gemma 3    sliding / full layer pattern with two RoPE bases, (1 + w) RMSNorm weights, sandwich
//              norms around attention and MLP, GeGLU with tanh-GELU, scaled embeddings,
//              query_pre_attn_scalar, final logit soft-capping
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
#include "models/linear.h"
#include "models/output_head.h"
#include "models/rope.h"
#include "models/tensor_parallel.h"
#include "models/token_embedding.h"
#include "models/tracer.h"
#include "models/weight_loader.h"

namespace ferrum {

struct LlamaHParams {
  std::string architecture;  // llama, mistral, qwen2, qwen3, gemma3
  size_t vocab_size = 0;
  size_t hidden_size = 0;
  size_t intermediate_size = 0;
  size_t num_layers = 0;
  size_t num_heads = 0;
  size_t num_kv_heads = 0;
  size_t head_dim = 0;
  size_t max_positions = 0;
  float rms_norm_eps = 1e-6f;
  RopeParams rope;                     // full-attention layers
  RopeParams rope_local;               // sliding-window layers (Gemma 3 has its own base; others copy `rope`)
  std::vector<size_t> sliding_window;  // per layer; 0 = full attention
  bool qkv_bias = false;
  bool qk_norm = false;
  bool gemma_norms = false;  // (1 + w) weights, sandwich norms
  Activation mlp_activation = Activation::kSilu;
  float embedding_scale = 1.0f;
  float attention_scale = 1.0f;
  float final_logit_softcap = 0.0f;  // 0 = off
  bool tie_word_embeddings = false;
  std::string weight_prefix = "model.";  // "language_model.model." inside multimodal checkpoints
  TensorParallel tp;                     // which shard of the model to load (tensor_parallel.h)

  size_t q_dim() const { return num_heads * head_dim; }
  size_t kv_dim() const { return num_kv_heads * head_dim; }
  Status validate() const;
};

// Maps a model's parsed config to these hyper-parameters; refuses configs this family cannot run.
Expected<LlamaHParams> llama_hparams(const ModelConfig& config);
// Activation named by config.json's hidden_act.
Expected<Activation> activation_from_name(std::string_view name);

template <Backend B>
class LlamaModel {
 public:
  using Buffer = typename B::Buffer;
  using Context = typename B::Context;
  using State = DecoderState<B>;
  // A one-token forward reads its position and token only through ops that follow the backend's
  // device-state mode, and never syncs: it may be captured once and replayed as a CUDA graph.
  static constexpr bool kDecodeGraphSafe = true;

  // max_batch_tokens: tokens one forward step processes at most (longer inputs run in chunks);
  // max_context: the longest sequence any state will hold (RoPE tables are built that far).
  static Expected<LlamaModel> load(const LlamaHParams& hparams, const WeightLoader<B>& loader, size_t max_batch_tokens,
                                   size_t max_context);

  const LlamaHParams& hparams() const { return hparams_; }
  // Bytes of weights one decode step reads (every matrix once), for bandwidth figures.
  size_t weight_bytes() const { return weight_bytes_; }
  size_t max_batch_tokens() const { return max_batch_tokens_; }
  size_t max_context() const { return max_context_; }

  Expected<DecoderState<B>> new_state(size_t capacity, DType cache_dtype) const {
    FERRUM_CHECK(capacity > 0 && capacity <= max_context_, ErrorCode::kInvalidArgument, "context of ", capacity,
                 " tokens is outside 1..", max_context_, " this model was loaded for");
    return DecoderState<B>::create(hparams_.num_layers, attention_params().local_kv_heads(), hparams_.head_dim,
                                   capacity, cache_dtype);
  }

  // Runs `tokens` after the state's cached ones, appending their K / V. Writes the f32 logits of the
  // last token to `logits` [vocab], or of every token to [tokens, vocab] when all_logits is set.
  Status forward(Context& ctx, std::span<const uint32_t> tokens, DecoderState<B>& state, Buffer& logits,
                 bool all_logits);

  // The serving engine's step: the tokens of many sequences over the paged cache (forward_batch.h).
  // Writes the f32 logits of step.batch.logits_rows to `logits` [rows, vocab].
  // forward_batch runs entirely on the device (no host round trip), so a decode step can be
  // captured as a graph (MoE families read their routing back to the host and cannot).
  static constexpr bool kCapturableBatches = true;
  // This rank's KV heads (all of them with one rank).
  PagedLayerShape paged_layer_shape() const {
    return {attention_params().local_kv_heads(), hparams_.head_dim, hparams_.head_dim};
  }
  Status forward_batch(Context& ctx, const PagedStep<B>& step, Buffer& logits);

  // Same as forward, writing the final-normed hidden states [tokens, hidden] (what the output head
  // reads) to `hidden` instead of logits: sentence embeddings pool these.
  Status forward_hidden(Context& ctx, std::span<const uint32_t> tokens, DecoderState<B>& state, Buffer& hidden);

 private:
  struct Layer {
    Buffer attn_norm;
    std::optional<GroupedQueryAttention<B>> attention;
    std::optional<Buffer> post_attn_norm;  // Gemma: on the attention output
    Buffer ffn_norm;                       // before the MLP
    std::optional<Buffer> post_ffn_norm;   // Gemma: on the MLP output
    std::optional<GatedMlp<B>> mlp;
  };

  // Activations for up to max_batch_tokens tokens, allocated once.
  struct Scratch {
    Buffer residual, x, o, mlp;
    std::optional<RoundedRows<B>> x_rounded;  // x's rounding for quantized q / k / v, gate / up
    typename GroupedQueryAttention<B>::Scratch attention;
    typename GatedMlp<B>::Scratch gated_mlp;
  };

  Status forward_chunk(Context& ctx, std::span<const uint32_t> tokens, DecoderState<B>& state, Buffer& logits,
                       size_t logits_offset, bool all_logits);
  // Every layer and the final norm (into scratch_.x) over t tokens whose embeddings are in
  // scratch_.residual for `tokens`; attend(layer index, its RoPE cos / sin, its window, x's rounding
  // or nullptr) runs the layer's attention from scratch_.x into scratch_.o.
  template <class Attend>
  Status run_decoder(Context& ctx, size_t t, const Attend& attend);
  // Whether the decoder sums the ranks' partial outputs of o_proj and down_proj (fused with the
  // residual add and the next norm) rather than the blocks themselves: not with Gemma's norms on
  // the block outputs, which need the whole output.
  bool decoder_sums_ranks() const { return !hparams_.gemma_norms; }
  // residual += block_out (first summed over the ranks when decoder_sums_ranks(): the block left
  // its row-parallel projection's part), then scratch_.x = rms_norm(residual) * norm, with x's
  // rounding when x_rounded is not null.
  Status add_block_output(Context& ctx, Buffer& block_out, const Buffer& norm, size_t t, RoundedRows<B>* x_rounded);
  // Embeddings, every layer over the state's contiguous cache and the final norm for one chunk:
  // leaves the normed hidden states in scratch_.x and advances the state.
  Status forward_layers(Context& ctx, std::span<const uint32_t> tokens, DecoderState<B>& state);
  // Checks token ids against the vocabulary.
  Status check_tokens(std::span<const uint32_t> tokens) const;
  GqaParams attention_params() const;

  LlamaHParams hparams_;
  size_t max_batch_tokens_ = 0;
  size_t max_context_ = 0;
  size_t weight_bytes_ = 0;
  std::optional<TokenEmbedding<B>> embedding_;
  std::vector<Layer> layers_;
  Buffer final_norm_;
  std::optional<OutputHead<B>> output_head_;
  Buffer rope_cos_, rope_sin_, rope_local_cos_, rope_local_sin_;
  // The RoPE rows of a batch's positions, one per token (forward_batch).
  Buffer batch_cos_, batch_sin_, batch_local_cos_, batch_local_sin_;
  Scratch scratch_;
  Tracer tracer_;
};

}  // namespace ferrum
