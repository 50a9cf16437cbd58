#include "models/whisper.h"

#include "backend/cpu/cpu_backend.h"
#include "models/llama.h"
#include "models/whisper_impl.h"

namespace ferrum {

Expected<WhisperHParams> whisper_hparams(const ModelConfig& config) {
  const WhisperConfig* w = config.whisper();
  FERRUM_CHECK(w != nullptr, ErrorCode::kUnsupported, "architecture ", config.architecture, " is not Whisper");
  FERRUM_CHECK(!w->scale_embedding, ErrorCode::kUnsupported, config.architecture,
               ": scale_embedding is not supported (no Whisper checkpoint sets it)");
  WhisperHParams hp;
  hp.vocab_size = static_cast<size_t>(w->vocab_size);
  hp.d_model = static_cast<size_t>(w->d_model);
  hp.encoder_layers = static_cast<size_t>(w->encoder_layers);
  hp.decoder_layers = static_cast<size_t>(w->decoder_layers);
  hp.encoder_heads = static_cast<size_t>(w->encoder_attention_heads);
  hp.decoder_heads = static_cast<size_t>(w->decoder_attention_heads);
  hp.encoder_ffn = static_cast<size_t>(w->encoder_ffn_dim);
  hp.decoder_ffn = static_cast<size_t>(w->decoder_ffn_dim);
  hp.num_mel_bins = static_cast<size_t>(w->num_mel_bins);
  hp.max_source_positions = static_cast<size_t>(w->max_source_positions);
  hp.max_target_positions = static_cast<size_t>(w->max_target_positions);
  FERRUM_ASSIGN_OR_RETURN(hp.activation, activation_from_name(w->activation_function));
  for (auto [value, name] : {std::pair{w->vocab_size, "vocab_size"},
                             {w->d_model, "d_model"},
                             {w->encoder_layers, "encoder_layers"},
                             {w->decoder_layers, "decoder_layers"},
                             {w->encoder_attention_heads, "encoder_attention_heads"},
                             {w->decoder_attention_heads, "decoder_attention_heads"},
                             {w->encoder_ffn_dim, "encoder_ffn_dim"},
                             {w->decoder_ffn_dim, "decoder_ffn_dim"},
                             {w->num_mel_bins, "num_mel_bins"},
                             {w->max_source_positions, "max_source_positions"},
                             {w->max_target_positions, "max_target_positions"}}) {
    FERRUM_CHECK(value > 0, ErrorCode::kInvalidArgument, config.architecture, ": ", name, " must be positive, not ",
                 value);
  }
  for (size_t heads : {hp.encoder_heads, hp.decoder_heads}) {
    FERRUM_CHECK(hp.d_model % heads == 0, ErrorCode::kInvalidArgument, config.architecture, ": ", heads,
                 " heads do not divide d_model ", hp.d_model);
  }
  return hp;
}

template class WhisperModel<CpuBackend>;

}  // namespace ferrum
