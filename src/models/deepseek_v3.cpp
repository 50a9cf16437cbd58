#include "models/deepseek_v3.h"

#include <cmath>

#include "models/llama.h"

namespace ferrum {

float deepseek_attention_scale(size_t qk_head_dim, const RopeScaling& scaling) {
  double scale = 1.0 / std::sqrt(static_cast<double>(qk_head_dim));
  if (scaling.type != RopeType::kDefault && scaling.mscale_all_dim && *scaling.mscale_all_dim != 0.0) {
    const double mscale = yarn_mscale(scaling.factor, *scaling.mscale_all_dim);
    scale *= mscale * mscale;
  }
  return static_cast<float>(scale);
}

Expected<DeepseekV3HParams> deepseek_v3_hparams(const ModelConfig& config) {
  const DecoderConfig* decoder = config.decoder();
  FERRUM_CHECK(decoder != nullptr && config.arch == ModelArch::kDeepseekV3 && decoder->mla && decoder->moe,
               ErrorCode::kUnsupported, "architecture ", config.architecture,
               " is not a DeepSeek V3 decoder (latent attention and experts)");
  const DecoderConfig& d = *decoder;
  const MlaConfig& mla = *d.mla;
  const MoeConfig& moe = *d.moe;
  FERRUM_CHECK(!d.attention_qkv_bias && !d.attention_out_bias && !d.mlp_bias, ErrorCode::kUnsupported,
               config.architecture, ": attention or MLP biases are not supported");
  // transformers' DeepseekV3 scores experts with a sigmoid whatever scoring_func says; a softmax
  // config is another model (DeepSeek V2) and is refused rather than silently changed.
  FERRUM_CHECK(moe.scoring == MoeScoring::kSigmoid, ErrorCode::kUnsupported, config.architecture,
               ": only sigmoid expert scoring is supported (scoring_func softmax is DeepSeek V2's)");

  DeepseekV3HParams hp;
  hp.vocab_size = static_cast<size_t>(d.vocab_size);
  hp.hidden_size = static_cast<size_t>(d.hidden_size);
  hp.num_layers = static_cast<size_t>(d.num_layers);
  hp.max_positions = static_cast<size_t>(d.max_position_embeddings);
  hp.dense_intermediate_size = static_cast<size_t>(d.intermediate_size);
  hp.rms_norm_eps = static_cast<float>(d.norm_eps);
  hp.rope = d.rope;

  MlaParams& attention = hp.attention;
  attention.hidden_size = hp.hidden_size;
  attention.num_heads = static_cast<size_t>(d.num_heads);
  attention.q_lora_rank = static_cast<size_t>(std::max<int64_t>(mla.q_lora_rank, 0));
  attention.kv_lora_rank = static_cast<size_t>(mla.kv_lora_rank);
  attention.qk_nope_head_dim = static_cast<size_t>(mla.qk_nope_head_dim);
  attention.qk_rope_head_dim = static_cast<size_t>(mla.qk_rope_head_dim);
  attention.v_head_dim = static_cast<size_t>(mla.v_head_dim);
  attention.rope_interleaved = d.rope_interleaved;
  attention.rms_norm_eps = hp.rms_norm_eps;
  attention.scale = deepseek_attention_scale(attention.q_head_dim(), d.rope.scaling);

  hp.moe.hidden_size = hp.hidden_size;
  hp.moe.expert_intermediate_size = static_cast<size_t>(moe.expert_intermediate_size);
  hp.moe.shared_intermediate_size = static_cast<size_t>(std::max<int64_t>(moe.shared_expert_intermediate_size, 0));
  FERRUM_ASSIGN_OR_RETURN(hp.moe.activation, activation_from_name(d.hidden_act));
  hp.moe.has_selection_bias = moe.has_score_correction_bias;
  hp.moe.routing = moe_routing_from_config(moe);
  hp.layer_is_moe = moe.layer_is_moe;
  hp.tie_word_embeddings = d.tie_word_embeddings;
  FERRUM_TRY(hp.validate());
  return hp;
}

Status DeepseekV3HParams::validate() const {
  const auto positive = [](size_t value, const char* name) -> Status {
    FERRUM_CHECK(value > 0, ErrorCode::kInvalidArgument, "deepseek_v3: ", name, " must be positive");
    return ok();
  };
  FERRUM_TRY(positive(vocab_size, "vocab_size"));
  FERRUM_TRY(positive(hidden_size, "hidden_size"));
  FERRUM_TRY(positive(num_layers, "num_hidden_layers"));
  FERRUM_TRY(positive(max_positions, "max_position_embeddings"));
  FERRUM_TRY(positive(attention.num_heads, "num_attention_heads"));
  FERRUM_TRY(positive(attention.kv_lora_rank, "kv_lora_rank"));
  FERRUM_TRY(positive(attention.qk_nope_head_dim, "qk_nope_head_dim"));
  FERRUM_TRY(positive(attention.qk_rope_head_dim, "qk_rope_head_dim"));
  FERRUM_TRY(positive(attention.v_head_dim, "v_head_dim"));
  FERRUM_TRY(positive(moe.expert_intermediate_size, "moe_intermediate_size"));
  FERRUM_CHECK(attention.qk_rope_head_dim % 2 == 0, ErrorCode::kInvalidArgument, "deepseek_v3: qk_rope_head_dim ",
               attention.qk_rope_head_dim, " must be even for RoPE");
  FERRUM_CHECK(layer_is_moe.size() == num_layers, ErrorCode::kInvalidArgument, "deepseek_v3: ", layer_is_moe.size(),
               " MoE-layer flags for ", num_layers, " layers");
  for (size_t layer = 0; layer < num_layers; ++layer) {
    FERRUM_CHECK(layer_is_moe[layer] || dense_intermediate_size > 0, ErrorCode::kInvalidArgument, "deepseek_v3: layer ",
                 layer, " is dense but intermediate_size is 0");
  }
  return moe.routing.validate();
}

}  // namespace ferrum
