// Whisper (WhisperForConditionalGeneration): an audio encoder over log-mel features and a text
// decoder that cross-attends to it.
//
//   encoder  mel [n_mels, frames] -> conv1d(k 3, pad 1) + GELU -> conv1d(k 3, stride 2, pad 1) + GELU
//            (each as im2col_1d + gemm) -> + embed_positions -> pre-norm layers -> layer_norm
//   decoder  ids -> embed_tokens + embed_positions[past..] -> pre-norm layers of
//            causal self-attention (KV cache), cross-attention over the encoder output (its keys and
//            values computed once per audio chunk), MLP -> layer_norm -> proj_out (tied to
//            embed_tokens when the checkpoint has no proj_out)
//
// The convolutions always use erf-GELU (as transformers' encoder does); the layers use
// activation_function. The greedy loop over the special tokens lives in whisper_transcribe.h.
#pragma once

#include <span>
#include <vector>

#include "backend/backend.h"
#include "formats/model_config.h"
#include "models/decoder_state.h"
#include "models/encoder_blocks.h"
#include "models/tracer.h"
#include "models/weight_loader.h"

namespace ferrum {

struct WhisperHParams {
  size_t vocab_size = 0;
  size_t d_model = 0;
  size_t encoder_layers = 0;
  size_t decoder_layers = 0;
  size_t encoder_heads = 0;
  size_t decoder_heads = 0;
  size_t encoder_ffn = 0;
  size_t decoder_ffn = 0;
  size_t num_mel_bins = 0;
  size_t max_source_positions = 0;  // encoder positions (mel frames / 2)
  size_t max_target_positions = 0;  // decoder positions
  Activation activation = Activation::kGeluErf;
  float layer_norm_eps = 1e-5f;  // nn.LayerNorm's default; Whisper configs do not set it

  // Encoder positions for `frames` mel frames: the stride-2 convolution halves them, rounding up.
  static size_t encoder_length(size_t frames) { return frames == 0 ? 0 : (frames - 1) / 2 + 1; }
};

// Refuses scale_embedding (no released checkpoint sets it) and sizes the heads do not divide.
Expected<WhisperHParams> whisper_hparams(const ModelConfig& config);

// One decoding of one audio chunk: the decoder's self-attention cache and the cross-attention keys
// and values of every layer, head-major [heads, encoder_length, head_dim].
template <Backend B>
struct WhisperDecoderState {
  DecoderState<B> self_attention;
  std::vector<typename B::Buffer> cross_k, cross_v;
  size_t encoder_length = 0;

  size_t length() const { return self_attention.length; }
  // Forgets decoded tokens past `length`, keeping the encoder's keys and values.
  void truncate(size_t length) { self_attention.truncate(length); }
};

template <Backend B>
class WhisperModel {
 public:
  using Buffer = typename B::Buffer;
  using Context = typename B::Context;

  static Expected<WhisperModel> load(const WhisperHParams& hparams, const WeightLoader<B>& loader);

  const WhisperHParams& hparams() const { return hparams_; }

  // Encoder output [encoder_length(frames), d_model] into `out` for host features mel
  // [num_mel_bins, frames] (the layout of log-mel features). frames may be fewer than the 3000 of
  // a 30 s chunk, as long as the output fits max_source_positions.
  Status encode(Context& ctx, std::span<const float> mel, size_t frames, Buffer& out);

  // A fresh decoding over `encoder_out` [encoder_length, d_model]; the decoder cache holds up to
  // max_target_positions tokens in `cache_dtype`.
  Expected<WhisperDecoderState<B>> start_decoding(Context& ctx, const Buffer& encoder_out, size_t encoder_length,
                                                  DType cache_dtype = B::kActivationDType);

  // Runs `tokens` after the state's cached ones. Writes the logits of the last token to `logits`
  // [vocab], or of every token to [tokens, vocab] when all_logits is set.
  Status decode(Context& ctx, std::span<const uint32_t> tokens, WhisperDecoderState<B>& state, Buffer& logits,
                bool all_logits);

 private:
  struct DecoderLayer {
    AttentionWeights<B> self_attention, cross_attention;
    LayerNormWeights<B> self_norm, cross_norm, mlp_norm;
    MlpWeights<B> mlp;
  };

  Status decoder_layer(Context& ctx, size_t index, Buffer& hidden, size_t tokens, WhisperDecoderState<B>& state);

  WhisperHParams hparams_;
  AttentionShape encoder_shape_, decoder_shape_;
  // Encoder
  std::optional<Linear<B>> conv1_, conv2_;
  std::shared_ptr<const Buffer> encoder_positions_;
  std::vector<EncoderLayerWeights<B>> encoder_layers_;
  LayerNormWeights<B> encoder_norm_;
  BlockScratch<B> encoder_scratch_;
  // Decoder
  std::shared_ptr<const Buffer> embed_tokens_, decoder_positions_;
  std::vector<DecoderLayer> decoder_layers_;
  LayerNormWeights<B> decoder_norm_;
  std::optional<Linear<B>> proj_out_;
  BlockScratch<B> decoder_scratch_;
  Tracer tracer_;
};

}  // namespace ferrum
