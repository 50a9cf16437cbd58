#include "models/qwen3_moe.h"

#include <cmath>

#include "models/llama.h"

namespace ferrum {

Expected<Qwen3MoeHParams> qwen3_moe_hparams(const ModelConfig& config) {
  const DecoderConfig* decoder = config.decoder();
  FERRUM_CHECK(decoder != nullptr && config.arch == ModelArch::kQwen3Moe && decoder->moe, ErrorCode::kUnsupported,
               "architecture ", config.architecture, " is not a Qwen3-MoE decoder");
  const DecoderConfig& d = *decoder;
  const MoeConfig& moe = *d.moe;
  FERRUM_CHECK(!d.mla, ErrorCode::kUnsupported, config.architecture, ": latent attention belongs to DeepSeek");
  FERRUM_CHECK(!d.attention_out_bias && !d.mlp_bias, ErrorCode::kUnsupported, config.architecture,
               ": biases on the output projection or the MLP are not supported");
  FERRUM_CHECK(d.rotary_dim == d.head_dim && !d.rope_interleaved, ErrorCode::kUnsupported, config.architecture,
               ": only full-width rotate-half RoPE is supported for this family");
  FERRUM_CHECK(moe.num_shared_experts == 0, ErrorCode::kUnsupported, config.architecture,
               ": Qwen3-MoE has no shared experts, the config names ", moe.num_shared_experts);

  Qwen3MoeHParams hp;
  hp.vocab_size = static_cast<size_t>(d.vocab_size);
  hp.hidden_size = static_cast<size_t>(d.hidden_size);
  hp.num_layers = static_cast<size_t>(d.num_layers);
  hp.max_positions = static_cast<size_t>(d.max_position_embeddings);
  hp.dense_intermediate_size = static_cast<size_t>(d.intermediate_size);
  hp.rms_norm_eps = static_cast<float>(d.norm_eps);
  hp.rope = d.rope;
  hp.sliding_window.assign(hp.num_layers, 0);
  for (size_t layer = 0; layer < hp.num_layers && layer < d.layer_types.size(); ++layer) {
    if (d.layer_types[layer] == LayerAttention::kSliding) {
      FERRUM_CHECK(d.sliding_window && *d.sliding_window > 0, ErrorCode::kInvalidArgument, config.architecture,
                   ": layer ", layer, " is a sliding-window layer but sliding_window is not set");
      hp.sliding_window[layer] = static_cast<size_t>(*d.sliding_window);
    }
  }

  GqaParams& attention = hp.attention;
  attention.hidden_size = hp.hidden_size;
  attention.num_heads = static_cast<size_t>(d.num_heads);
  attention.num_kv_heads = static_cast<size_t>(d.num_kv_heads);
  attention.head_dim = static_cast<size_t>(d.head_dim);
  attention.qkv_bias = d.attention_qkv_bias;
  attention.qk_norm = d.qk_norm;
  attention.rms_norm_eps = hp.rms_norm_eps;
  attention.scale = 1.0f / std::sqrt(static_cast<float>(attention.head_dim));

  hp.moe.hidden_size = hp.hidden_size;
  hp.moe.expert_intermediate_size = static_cast<size_t>(moe.expert_intermediate_size);
  FERRUM_ASSIGN_OR_RETURN(hp.moe.activation, activation_from_name(d.hidden_act));
  hp.moe.routing = moe_routing_from_config(moe);
  hp.layer_is_moe = moe.layer_is_moe;
  hp.tie_word_embeddings = d.tie_word_embeddings;
  FERRUM_TRY(hp.validate());
  return hp;
}

Status Qwen3MoeHParams::validate() const {
  const auto positive = [](size_t value, const char* name) -> Status {
    FERRUM_CHECK(value > 0, ErrorCode::kInvalidArgument, "qwen3_moe: ", name, " must be positive");
    return ok();
  };
  FERRUM_TRY(positive(vocab_size, "vocab_size"));
  FERRUM_TRY(positive(hidden_size, "hidden_size"));
  FERRUM_TRY(positive(num_layers, "num_hidden_layers"));
  FERRUM_TRY(positive(max_positions, "max_position_embeddings"));
  FERRUM_TRY(positive(attention.num_heads, "num_attention_heads"));
  FERRUM_TRY(positive(attention.num_kv_heads, "num_key_value_heads"));
  FERRUM_TRY(positive(attention.head_dim, "head_dim"));
  FERRUM_TRY(positive(moe.expert_intermediate_size, "moe_intermediate_size"));
  FERRUM_CHECK(attention.num_heads % attention.num_kv_heads == 0, ErrorCode::kInvalidArgument,
               "qwen3_moe: ", attention.num_heads, " attention heads are not a multiple of ", attention.num_kv_heads,
               " KV heads");
  FERRUM_CHECK(attention.head_dim % 2 == 0, ErrorCode::kInvalidArgument, "qwen3_moe: head_dim ", attention.head_dim,
               " must be even for RoPE");
  FERRUM_CHECK(layer_is_moe.size() == num_layers && sliding_window.size() == num_layers, ErrorCode::kInvalidArgument,
               "qwen3_moe: per-layer tables of ", layer_is_moe.size(), " and ", sliding_window.size(), " entries for ",
               num_layers, " layers");
  for (size_t layer = 0; layer < num_layers; ++layer) {
    FERRUM_CHECK(layer_is_moe[layer] || dense_intermediate_size > 0, ErrorCode::kInvalidArgument, "qwen3_moe: layer ",
                 layer, " is dense but intermediate_size is 0");
  }
  return moe.routing.validate();
}

}  // namespace ferrum
