// config.json fields of the decoder-only families (Llama, Mistral, Qwen2/3, Qwen3-MoE, Gemma 3,
// DeepSeek V3): sizes with transformers' defaults, rope in both spellings, layer types, MoE, MLA.
#include <algorithm>

#include "formats/hf_config_readers.h"

namespace ferrum {
namespace {

// Defaults of the families' transformers config classes, for the fields real checkpoints omit.
struct DecoderDefaults {
  bool sizes_required;  // false only for Gemma 3, whose text_config often lists only overrides
  double rope_theta;
  std::string_view hidden_act;
  bool tie_word_embeddings;
  int64_t max_position_embeddings;
};

DecoderDefaults defaults_for(ModelArch arch) {
  switch (arch) {
    case ModelArch::kGemma3: return {false, 1'000'000.0, "gelu_pytorch_tanh", true, 131072};
    case ModelArch::kMistral: return {true, 10000.0, "silu", false, 131072};
    case ModelArch::kQwen2:
    case ModelArch::kQwen3:
    case ModelArch::kQwen3Moe: return {true, 10000.0, "silu", false, 32768};
    case ModelArch::kDeepseekV3: return {true, 10000.0, "silu", false, 4096};
    default: return {true, 10000.0, "silu", false, 2048};
  }
}

RopeScaling read_rope_scaling(JsonFields& fields, int64_t max_position_embeddings) {
  RopeScaling scaling;
  std::string type = fields.string_or("rope_type", "");
  if (type.empty()) type = fields.string_or("type", "default");
  if (type == "default") return scaling;
  if (type == "linear") {
    scaling.type = RopeType::kLinear;
    scaling.factor = fields.required_number("factor");
  } else if (type == "dynamic") {
    scaling.type = RopeType::kDynamic;
    scaling.factor = fields.required_number("factor");
    scaling.original_max_position_embeddings = fields.optional_int("original_max_position_embeddings");
  } else if (type == "llama3") {
    scaling.type = RopeType::kLlama3;
    scaling.factor = fields.required_number("factor");
    scaling.low_freq_factor = fields.required_number("low_freq_factor");
    scaling.high_freq_factor = fields.required_number("high_freq_factor");
    scaling.original_max_position_embeddings = fields.required_int("original_max_position_embeddings");
  } else if (type == "yarn") {
    scaling.type = RopeType::kYarn;
    scaling.factor = fields.required_number("factor");
    scaling.original_max_position_embeddings =
        fields.int_or("original_max_position_embeddings", max_position_embeddings);
    scaling.beta_fast = fields.number_or("beta_fast", 32.0);
    scaling.beta_slow = fields.number_or("beta_slow", 1.0);
    scaling.mscale = fields.optional_number("mscale");
    scaling.mscale_all_dim = fields.optional_number("mscale_all_dim");
    scaling.attention_factor = fields.optional_number("attention_factor");
    scaling.truncate = fields.bool_or("truncate", true);
  } else if (type == "longrope" || type == "su") {
    scaling.type = RopeType::kLongrope;
    scaling.factor = fields.number_or("factor", 1.0);
    scaling.short_factor = fields.required_number_list("short_factor");
    scaling.long_factor = fields.required_number_list("long_factor");
    scaling.original_max_position_embeddings = fields.optional_int("original_max_position_embeddings");
    scaling.attention_factor = fields.optional_number("attention_factor");
  } else {
    fields.fail("rope_type", cat("is \"", type, "\", which ferrum does not support (default, linear, dynamic, ",
                                 "llama3, yarn, longrope)"));
  }
  if (scaling.factor <= 0) fields.fail("factor", cat("is ", scaling.factor, ", expected a positive number"));
  return scaling;
}

// One rope_parameters object: theta and scaling together.
RopeParams read_rope_parameters(JsonFields& fields, double default_theta, int64_t max_position_embeddings) {
  RopeParams params;
  params.theta = fields.number_or("rope_theta", default_theta);
  params.scaling = read_rope_scaling(fields, max_position_embeddings);
  return params;
}

void read_rope(JsonFields& f, ModelArch arch, const DecoderDefaults& defaults, DecoderConfig& c) {
  double partial_rotary_factor = f.number_or("partial_rotary_factor", 1.0);
  if (f.has("rope_parameters")) {
    JsonFields params = f.object("rope_parameters");
    if (params.has("full_attention") || params.has("sliding_attention")) {
      JsonFields full = params.object("full_attention");
      JsonFields sliding = params.object("sliding_attention");
      c.rope = read_rope_parameters(full, defaults.rope_theta, c.max_position_embeddings);
      if (params.has("sliding_attention")) {
        c.rope_local = read_rope_parameters(sliding, 10000.0, c.max_position_embeddings);
      }
      f.absorb(full);
      f.absorb(sliding);
    } else {
      c.rope = read_rope_parameters(params, defaults.rope_theta, c.max_position_embeddings);
      partial_rotary_factor = params.number_or("partial_rotary_factor", partial_rotary_factor);
    }
    f.absorb(params);
  } else {
    c.rope.theta = f.number_or("rope_theta", defaults.rope_theta);
    if (f.has("rope_scaling")) {
      JsonFields scaling = f.object("rope_scaling");
      c.rope.scaling = read_rope_scaling(scaling, c.max_position_embeddings);
      f.absorb(scaling);
    }
    // Gemma 3's sliding layers use plain RoPE at their own base; scaling applies to global layers.
    if (arch == ModelArch::kGemma3) c.rope_local = RopeParams{f.number_or("rope_local_base_freq", 10000.0), {}};
  }
  if (partial_rotary_factor <= 0 || partial_rotary_factor > 1) {
    f.fail("partial_rotary_factor", cat("is ", partial_rotary_factor, ", expected a value in (0, 1]"));
  }
  c.rotary_dim = static_cast<int64_t>(static_cast<double>(c.head_dim) * partial_rotary_factor);
}

void read_layer_types(JsonFields& f, ModelArch arch, DecoderConfig& c) {
  const std::optional<int64_t> window = f.optional_int("sliding_window");
  c.layer_types.assign(static_cast<size_t>(std::max<int64_t>(c.num_layers, 0)), LayerAttention::kFull);
  if (f.has("layer_types")) {
    const std::vector<std::string> names = f.string_list("layer_types");
    if (static_cast<int64_t>(names.size()) != c.num_layers) {
      f.fail("layer_types", cat("has ", names.size(), " entries for ", c.num_layers, " layers"));
      return;
    }
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "sliding_attention") {
        c.layer_types[i] = LayerAttention::kSliding;
      } else if (names[i] != "full_attention") {
        f.fail("layer_types",
               cat("entry ", i, " is \"", names[i], "\" (expected full_attention or sliding_attention)"));
      }
    }
  } else if (arch == ModelArch::kGemma3) {
    // Every pattern-th layer is global, the others slide.
    const int64_t pattern = f.int_or("sliding_window_pattern", 6);
    if (pattern <= 0) f.fail("sliding_window_pattern", cat("is ", pattern, ", expected a positive integer"));
    for (int64_t i = 0; i < c.num_layers && pattern > 0; ++i) {
      if ((i + 1) % pattern != 0) c.layer_types[static_cast<size_t>(i)] = LayerAttention::kSliding;
    }
  } else if (arch == ModelArch::kMistral && window) {
    std::fill(c.layer_types.begin(), c.layer_types.end(), LayerAttention::kSliding);
  } else if ((arch == ModelArch::kQwen2 || arch == ModelArch::kQwen3 || arch == ModelArch::kQwen3Moe) &&
             f.bool_or("use_sliding_window", false) && window) {
    // Qwen: layers from max_window_layers on use the window.
    const int64_t first_sliding = f.int_or("max_window_layers", c.num_layers);
    for (int64_t i = std::max<int64_t>(first_sliding, 0); i < c.num_layers; ++i) {
      c.layer_types[static_cast<size_t>(i)] = LayerAttention::kSliding;
    }
  }
  const bool any_sliding =
      std::find(c.layer_types.begin(), c.layer_types.end(), LayerAttention::kSliding) != c.layer_types.end();
  if (any_sliding) {
    c.sliding_window =
        window.has_value() ? window : (arch == ModelArch::kGemma3 ? std::optional<int64_t>(4096) : std::nullopt);
    if (!c.sliding_window || *c.sliding_window <= 0) {
      f.fail("sliding_window", "must be a positive integer when layers use sliding-window attention");
    }
  }
}

void read_moe(JsonFields& f, ModelArch arch, DecoderConfig& c) {
  MoeConfig moe;
  moe.num_experts_per_tok = f.required_int("num_experts_per_tok");
  moe.expert_intermediate_size = f.required_int("moe_intermediate_size");
  moe.layer_is_moe.assign(static_cast<size_t>(std::max<int64_t>(c.num_layers, 0)), false);
  if (arch == ModelArch::kQwen3Moe) {
    moe.num_experts = f.required_int("num_experts");
    moe.norm_topk_prob = f.bool_or("norm_topk_prob", false);
    const int64_t step = f.int_or("decoder_sparse_step", 1);
    const std::vector<int64_t> dense_layers = f.int_list("mlp_only_layers");
    if (step <= 0) f.fail("decoder_sparse_step", cat("is ", step, ", expected a positive integer"));
    for (int64_t i = 0; i < c.num_layers && step > 0; ++i) {
      const bool dense = std::find(dense_layers.begin(), dense_layers.end(), i) != dense_layers.end();
      moe.layer_is_moe[static_cast<size_t>(i)] = !dense && moe.num_experts > 0 && (i + 1) % step == 0;
    }
  } else {  // DeepSeek V3
    moe.num_experts = f.required_int("n_routed_experts");
    moe.num_shared_experts = f.int_or("n_shared_experts", 1);
    moe.shared_expert_intermediate_size = moe.expert_intermediate_size * moe.num_shared_experts;
    moe.norm_topk_prob = f.bool_or("norm_topk_prob", true);
    const std::string scoring = f.string_or("scoring_func", "sigmoid");
    if (scoring == "softmax") {
      moe.scoring = MoeScoring::kSoftmax;
    } else if (scoring == "sigmoid") {
      moe.scoring = MoeScoring::kSigmoid;
    } else {
      f.fail("scoring_func", cat("is \"", scoring, "\" (expected softmax or sigmoid)"));
    }
    moe.topk_method = f.string_or("topk_method", "noaux_tc");
    moe.has_score_correction_bias = moe.topk_method == "noaux_tc";
    moe.num_groups = f.int_or("n_group", 8);
    moe.topk_groups = f.int_or("topk_group", 4);
    moe.routed_scaling_factor = f.number_or("routed_scaling_factor", 2.5);
    const int64_t first_dense = f.int_or("first_k_dense_replace", 3);
    const int64_t frequency = f.int_or("moe_layer_freq", 1);
    if (frequency <= 0) f.fail("moe_layer_freq", cat("is ", frequency, ", expected a positive integer"));
    for (int64_t i = first_dense; i < c.num_layers && frequency > 0; ++i) {
      if (i >= 0 && i % frequency == 0) moe.layer_is_moe[static_cast<size_t>(i)] = true;
    }
    if (moe.num_groups <= 0 || moe.num_experts % moe.num_groups != 0 || moe.topk_groups > moe.num_groups) {
      f.fail("n_group", cat("is ", moe.num_groups, " with topk_group ", moe.topk_groups, " for ", moe.num_experts,
                            " experts; groups must divide the experts"));
    }
  }
  if (moe.num_experts <= 0 || moe.num_experts_per_tok <= 0 || moe.num_experts_per_tok > moe.num_experts) {
    f.fail("num_experts_per_tok", cat("is ", moe.num_experts_per_tok, " with ", moe.num_experts,
                                      " experts; expected 1 to the number of experts"));
  }
  c.moe = std::move(moe);
}

void read_mla(JsonFields& f, DecoderConfig& c) {
  MlaConfig mla;
  mla.q_lora_rank = f.int_or("q_lora_rank", 0);
  mla.kv_lora_rank = f.required_int("kv_lora_rank");
  mla.qk_nope_head_dim = f.required_int("qk_nope_head_dim");
  mla.qk_rope_head_dim = f.required_int("qk_rope_head_dim");
  mla.v_head_dim = f.required_int("v_head_dim");
  c.head_dim = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
  c.mla = mla;
}

void require_positive(JsonFields& f, std::string_view key, int64_t value) {
  if (value <= 0) f.fail(key, cat("is ", value, ", expected a positive integer"));
}

}  // namespace

DecoderConfig read_hf_decoder(JsonFields& f, ModelArch arch) {
  const DecoderDefaults defaults = defaults_for(arch);
  DecoderConfig c;
  if (defaults.sizes_required) {
    c.vocab_size = f.required_int("vocab_size");
    c.hidden_size = f.required_int("hidden_size");
    c.intermediate_size = f.required_int("intermediate_size");
    c.num_layers = f.required_int("num_hidden_layers");
    c.num_heads = f.required_int("num_attention_heads");
  } else {  // Gemma3TextConfig's defaults (the 1B model's shape)
    c.vocab_size = f.int_or("vocab_size", 262208);
    c.hidden_size = f.int_or("hidden_size", 2304);
    c.intermediate_size = f.int_or("intermediate_size", 9216);
    c.num_layers = f.int_or("num_hidden_layers", 26);
    c.num_heads = f.int_or("num_attention_heads", 8);
  }
  require_positive(f, "vocab_size", c.vocab_size);
  require_positive(f, "hidden_size", c.hidden_size);
  require_positive(f, "intermediate_size", c.intermediate_size);
  require_positive(f, "num_hidden_layers", c.num_layers);
  if (c.num_layers > kMaxModelLayers) {
    f.fail("num_hidden_layers", cat("is ", c.num_layers, ", more than the ", kMaxModelLayers, " ferrum accepts"));
    c.num_layers = 0;  // keeps the per-layer tables below empty
  }
  require_positive(f, "num_attention_heads", c.num_heads);
  c.num_kv_heads = f.int_or("num_key_value_heads", arch == ModelArch::kGemma3 ? 4 : c.num_heads);
  require_positive(f, "num_key_value_heads", c.num_kv_heads);
  if (c.num_heads > 0 && c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads != 0) {
    f.fail("num_key_value_heads",
           cat("is ", c.num_kv_heads, ", which does not divide num_attention_heads ", c.num_heads));
  }
  if (arch == ModelArch::kGemma3) {
    c.head_dim = f.int_or("head_dim", 256);
  } else if (f.has("head_dim")) {
    c.head_dim = f.int_or("head_dim", 0);
  } else if (c.num_heads > 0) {
    if (c.hidden_size % c.num_heads != 0) {
      f.fail("head_dim",
             cat("is absent and hidden_size ", c.hidden_size, " is not divisible by ", c.num_heads, " heads"));
    }
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (arch == ModelArch::kDeepseekV3) read_mla(f, c);
  require_positive(f, "head_dim", c.head_dim);
  c.max_position_embeddings = f.int_or("max_position_embeddings", defaults.max_position_embeddings);
  c.norm_eps = f.number_or("rms_norm_eps", 1e-6);
  c.hidden_act = arch == ModelArch::kGemma3
                     ? f.string_or("hidden_activation", f.string_or("hidden_act", defaults.hidden_act))
                     : f.string_or("hidden_act", defaults.hidden_act);
  c.tie_word_embeddings = f.bool_or("tie_word_embeddings", defaults.tie_word_embeddings);

  const bool attention_bias = f.bool_or("attention_bias", false);
  // Qwen2 always has q/k/v biases and no output bias; the others follow attention_bias.
  c.attention_qkv_bias = arch == ModelArch::kQwen2 ? true : attention_bias;
  c.attention_out_bias = arch == ModelArch::kQwen2 ? false : attention_bias;
  c.mlp_bias = f.bool_or("mlp_bias", false);
  c.qk_norm = arch == ModelArch::kQwen3 || arch == ModelArch::kQwen3Moe || arch == ModelArch::kGemma3;

  read_rope(f, arch, defaults, c);
  if (arch == ModelArch::kDeepseekV3) {
    c.rotary_dim = c.mla ? c.mla->qk_rope_head_dim : c.rotary_dim;
    c.rope_interleaved = f.bool_or("rope_interleave", true);
  }
  read_layer_types(f, arch, c);
  if (arch == ModelArch::kGemma3) {
    c.query_pre_attn_scalar = f.number_or("query_pre_attn_scalar", 256);
    c.final_logit_softcapping = f.optional_number("final_logit_softcapping");
    c.attn_logit_softcapping = f.optional_number("attn_logit_softcapping");
  }
  if (arch == ModelArch::kQwen3Moe || arch == ModelArch::kDeepseekV3) read_moe(f, arch, c);
  return c;
}

}  // namespace ferrum
