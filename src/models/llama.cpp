#include "models/llama.h"

#include <cmath>

namespace ferrum {

Expected<Activation> activation_from_name(std::string_view name) {
  if (name == "silu" || name == "swish") return Activation::kSilu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_tanh" || name == "gelu_new") return Activation::kGeluTanh;
  if (name == "gelu") return Activation::kGeluErf;
  if (name == "quick_gelu") return Activation::kGeluQuick;
  return make_error(ErrorCode::kUnsupported, "activation function '", name, "' is not supported");
}

Expected<LlamaHParams> llama_hparams(const ModelConfig& config) {
  const DecoderConfig* decoder = config.decoder();
  const ModelArch arch = config.arch;
  FERRUM_CHECK(
      decoder != nullptr && (arch == ModelArch::kLlama || arch == ModelArch::kMistral || arch == ModelArch::kQwen2 ||
                             arch == ModelArch::kQwen3 || arch == ModelArch::kGemma3),
      ErrorCode::kUnsupported, "architecture ", config.architecture, " is not a Llama-family decoder");
  const DecoderConfig& d = *decoder;
  FERRUM_CHECK(!d.moe && !d.mla, ErrorCode::kUnsupported, config.architecture,
               ": mixture-of-experts and latent attention belong to other model files");
  FERRUM_CHECK(!d.attention_out_bias && !d.mlp_bias, ErrorCode::kUnsupported, config.architecture,
               ": biases on the output projection or the MLP are not supported");
  FERRUM_CHECK(!d.attn_logit_softcapping, ErrorCode::kUnsupported, config.architecture,
               ": attention logit soft-capping (Gemma 2) is not supported");
  FERRUM_CHECK(d.rotary_dim == d.head_dim && !d.rope_interleaved, ErrorCode::kUnsupported, config.architecture,
               ": only full-width rotate-half RoPE is supported for this family");

  LlamaHParams hp;
  hp.architecture = std::string(model_arch_name(arch));
  hp.vocab_size = static_cast<size_t>(d.vocab_size);
  hp.hidden_size = static_cast<size_t>(d.hidden_size);
  hp.intermediate_size = static_cast<size_t>(d.intermediate_size);
  hp.num_layers = static_cast<size_t>(d.num_layers);
  hp.num_heads = static_cast<size_t>(d.num_heads);
  hp.num_kv_heads = static_cast<size_t>(d.num_kv_heads);
  hp.head_dim = static_cast<size_t>(d.head_dim);
  hp.max_positions = static_cast<size_t>(d.max_position_embeddings);
  hp.rms_norm_eps = static_cast<float>(d.norm_eps);
  hp.rope = d.rope;
  hp.rope_local = d.rope_local.value_or(d.rope);
  hp.sliding_window.assign(hp.num_layers, 0);
  for (size_t layer = 0; layer < hp.num_layers && layer < d.layer_types.size(); ++layer) {
    if (d.layer_types[layer] == LayerAttention::kSliding) {
      FERRUM_CHECK(d.sliding_window && *d.sliding_window > 0, ErrorCode::kInvalidArgument, config.architecture,
                   ": layer ", layer, " is a sliding-window layer but sliding_window is not set");
      hp.sliding_window[layer] = static_cast<size_t>(*d.sliding_window);
    }
  }
  hp.qkv_bias = d.attention_qkv_bias;
  hp.qk_norm = d.qk_norm;
  FERRUM_ASSIGN_OR_RETURN(hp.mlp_activation, activation_from_name(d.hidden_act));
  hp.attention_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
  if (arch == ModelArch::kGemma3) {
    hp.gemma_norms = true;
    hp.embedding_scale = std::sqrt(static_cast<float>(hp.hidden_size));
    if (d.query_pre_attn_scalar) hp.attention_scale = static_cast<float>(1.0 / std::sqrt(*d.query_pre_attn_scalar));
    if (config.architecture == "Gemma3ForConditionalGeneration") hp.weight_prefix = "language_model.model.";
  }
  hp.final_logit_softcap = static_cast<float>(d.final_logit_softcapping.value_or(0.0));
  hp.tie_word_embeddings = d.tie_word_embeddings;
  FERRUM_TRY(hp.validate());
  return hp;
}

Status LlamaHParams::validate() const {
  const auto positive = [&](size_t value, const char* name) -> Status {
    FERRUM_CHECK(value > 0, ErrorCode::kInvalidArgument, architecture, ": ", name, " must be positive");
    return ok();
  };
  FERRUM_TRY(positive(vocab_size, "vocab_size"));
  FERRUM_TRY(positive(hidden_size, "hidden_size"));
  FERRUM_TRY(positive(intermediate_size, "intermediate_size"));
  FERRUM_TRY(positive(num_layers, "num_hidden_layers"));
  FERRUM_TRY(positive(num_heads, "num_attention_heads"));
  FERRUM_TRY(positive(num_kv_heads, "num_key_value_heads"));
  FERRUM_TRY(positive(head_dim, "head_dim"));
  FERRUM_TRY(positive(max_positions, "max_position_embeddings"));
  FERRUM_CHECK(num_heads % num_kv_heads == 0, ErrorCode::kInvalidArgument, architecture, ": ", num_heads,
               " attention heads are not a multiple of ", num_kv_heads, " KV heads");
  FERRUM_CHECK(head_dim % 2 == 0, ErrorCode::kInvalidArgument, architecture, ": head_dim ", head_dim,
               " must be even for RoPE");
  FERRUM_CHECK(sliding_window.size() == num_layers, ErrorCode::kInvalidArgument, architecture, ": ",
               sliding_window.size(), " sliding-window entries for ", num_layers, " layers");
  return ok();
}

}  // namespace ferrum
