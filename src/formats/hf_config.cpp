#include "formats/hf_config.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "formats/json_fields.h"
#include "formats/json_file.h"

namespace ferrum {
namespace {

struct ArchName {
  std::string_view architecture;  // config.json "architectures"[0]
  std::string_view model_type;    // config.json "model_type"
  ModelArch arch;
};

constexpr std::array<ArchName, 11> kArchitectures = {{
    {"LlamaForCausalLM", "llama", ModelArch::kLlama},
    {"MistralForCausalLM", "mistral", ModelArch::kMistral},
    {"Qwen2ForCausalLM", "qwen2", ModelArch::kQwen2},
    {"Qwen3ForCausalLM", "qwen3", ModelArch::kQwen3},
    {"Qwen3MoeForCausalLM", "qwen3_moe", ModelArch::kQwen3Moe},
    {"Gemma3ForCausalLM", "gemma3_text", ModelArch::kGemma3},
    {"Gemma3ForConditionalGeneration", "gemma3", ModelArch::kGemma3},
    {"DeepseekV3ForCausalLM", "deepseek_v3", ModelArch::kDeepseekV3},
    {"BertModel", "bert", ModelArch::kBert},
    {"WhisperForConditionalGeneration", "whisper", ModelArch::kWhisper},
    {"CLIPModel", "clip", ModelArch::kClip},
}};

std::string supported_list() {
  std::string names;
  for (const ArchName& entry : kArchitectures) names += (names.empty() ? "" : ", ") + std::string(entry.architecture);
  return names;
}

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

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

DecoderConfig read_decoder(JsonFields& f, ModelArch arch) {
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

BertConfig read_bert(JsonFields& f) {
  BertConfig c;
  c.vocab_size = f.required_int("vocab_size");
  c.hidden_size = f.required_int("hidden_size");
  c.num_layers = f.required_int("num_hidden_layers");
  c.num_heads = f.required_int("num_attention_heads");
  c.intermediate_size = f.required_int("intermediate_size");
  c.hidden_act = f.string_or("hidden_act", "gelu");
  c.max_position_embeddings = f.int_or("max_position_embeddings", 512);
  c.type_vocab_size = f.int_or("type_vocab_size", 2);
  c.layer_norm_eps = f.number_or("layer_norm_eps", 1e-12);
  c.position_embedding_type = f.string_or("position_embedding_type", "absolute");
  if (c.num_heads > 0 && c.hidden_size % c.num_heads != 0) {
    f.fail("num_attention_heads", cat("is ", c.num_heads, ", which does not divide hidden_size ", c.hidden_size));
  }
  return c;
}

WhisperConfig read_whisper(JsonFields& f) {
  WhisperConfig c;
  c.vocab_size = f.required_int("vocab_size");
  c.d_model = f.required_int("d_model");
  c.encoder_layers = f.required_int("encoder_layers");
  c.decoder_layers = f.required_int("decoder_layers");
  c.encoder_attention_heads = f.required_int("encoder_attention_heads");
  c.decoder_attention_heads = f.required_int("decoder_attention_heads");
  c.encoder_ffn_dim = f.required_int("encoder_ffn_dim");
  c.decoder_ffn_dim = f.required_int("decoder_ffn_dim");
  c.num_mel_bins = f.int_or("num_mel_bins", 80);
  c.max_source_positions = f.int_or("max_source_positions", 1500);
  c.max_target_positions = f.int_or("max_target_positions", 448);
  c.activation_function = f.string_or("activation_function", "gelu");
  c.scale_embedding = f.bool_or("scale_embedding", false);
  c.suppress_tokens = f.int_list("suppress_tokens");
  c.begin_suppress_tokens = f.int_list("begin_suppress_tokens");
  return c;
}

ClipConfig read_clip(JsonFields& f) {
  ClipConfig c;
  JsonFields text = f.object("text_config");
  c.text.vocab_size = text.int_or("vocab_size", c.text.vocab_size);
  c.text.hidden_size = text.int_or("hidden_size", c.text.hidden_size);
  c.text.intermediate_size = text.int_or("intermediate_size", c.text.intermediate_size);
  c.text.num_layers = text.int_or("num_hidden_layers", c.text.num_layers);
  c.text.num_heads = text.int_or("num_attention_heads", c.text.num_heads);
  c.text.max_position_embeddings = text.int_or("max_position_embeddings", c.text.max_position_embeddings);
  c.text.hidden_act = text.string_or("hidden_act", c.text.hidden_act);
  c.text.layer_norm_eps = text.number_or("layer_norm_eps", c.text.layer_norm_eps);
  c.text.eos_token_id = text.int_or("eos_token_id", c.text.eos_token_id);
  JsonFields vision = f.object("vision_config");
  c.vision.hidden_size = vision.int_or("hidden_size", c.vision.hidden_size);
  c.vision.intermediate_size = vision.int_or("intermediate_size", c.vision.intermediate_size);
  c.vision.num_layers = vision.int_or("num_hidden_layers", c.vision.num_layers);
  c.vision.num_heads = vision.int_or("num_attention_heads", c.vision.num_heads);
  c.vision.image_size = vision.int_or("image_size", c.vision.image_size);
  c.vision.patch_size = vision.int_or("patch_size", c.vision.patch_size);
  c.vision.num_channels = vision.int_or("num_channels", c.vision.num_channels);
  c.vision.hidden_act = vision.string_or("hidden_act", c.vision.hidden_act);
  c.vision.layer_norm_eps = vision.number_or("layer_norm_eps", c.vision.layer_norm_eps);
  if (c.vision.patch_size <= 0 || c.vision.image_size % c.vision.patch_size != 0) {
    vision.fail("patch_size",
                cat("is ", c.vision.patch_size, ", which does not divide image_size ", c.vision.image_size));
  }
  c.projection_dim = f.int_or("projection_dim", c.projection_dim);
  c.logit_scale_init_value = f.number_or("logit_scale_init_value", c.logit_scale_init_value);
  f.absorb(text);
  f.absorb(vision);
  return c;
}

SpecialTokenIds read_token_ids(JsonFields& f) {
  SpecialTokenIds ids;
  ids.bos = f.optional_int("bos_token_id");
  ids.eos = f.int_or_int_list("eos_token_id");
  ids.pad = f.optional_int("pad_token_id");
  ids.decoder_start = f.optional_int("decoder_start_token_id");
  return ids;
}

Expected<const ArchName*> identify(JsonFields& f) {
  const std::vector<std::string> architectures = f.string_list("architectures");
  const std::string model_type = f.string_or("model_type", "");
  FERRUM_TRY(f.status());
  for (const ArchName& entry : kArchitectures) {
    if (!architectures.empty() ? architectures.front() == entry.architecture : model_type == entry.model_type) {
      return &entry;
    }
  }
  FERRUM_CHECK(!architectures.empty() || !model_type.empty(), ErrorCode::kParse, f.source(),
               ": neither \"architectures\" nor \"model_type\" says what model this is");
  return make_error(ErrorCode::kUnsupported, f.source(), ": architecture ",
                    architectures.empty() ? "(none)" : architectures.front(), " (model_type \"", model_type,
                    "\") is not supported; ferrum supports ", supported_list());
}

}  // namespace

Expected<QuantizationConfig> parse_quantization_config(const nlohmann::json& object, std::string_view source,
                                                       std::string_view default_method) {
  JsonFields f(object, std::string(source));
  QuantizationConfig q;
  q.source = std::string(source);
  q.method = lowercase(f.string_or("quant_method", default_method));
  if (q.method == "gptq") {
    q.bits = f.int_or("bits", 4);
    q.group_size = f.int_or("group_size", 128);
    q.desc_act = f.bool_or("desc_act", false);
    q.sym = f.bool_or("sym", true);
    q.checkpoint_format = lowercase(f.string_or("checkpoint_format", "gptq"));
    if (q.checkpoint_format != "gptq" && q.checkpoint_format != "gptq_v2") {
      f.fail("checkpoint_format", cat("is \"", q.checkpoint_format, "\" (expected gptq or gptq_v2)"));
    }
  } else if (q.method == "awq") {
    // AutoAWQ's own quant_config.json spells bits and group size w_bit and q_group_size.
    q.bits = f.int_or("bits", f.int_or("w_bit", 4));
    q.group_size = f.int_or("group_size", f.int_or("q_group_size", 128));
    q.zero_point = f.bool_or("zero_point", true);
    q.sym = !q.zero_point;
    q.awq_version = lowercase(f.string_or("version", "gemm"));
    q.modules_to_not_convert = f.string_list("modules_to_not_convert");
  } else {
    return make_error(ErrorCode::kUnsupported, source, ": quantization method \"", q.method,
                      "\" is not supported (ferrum reads gptq and awq)");
  }
  if (q.bits != 2 && q.bits != 3 && q.bits != 4 && q.bits != 8) {
    f.fail("bits", cat("is ", q.bits, " (expected 2, 3, 4 or 8)"));
  }
  if (q.group_size != -1 && q.group_size <= 0) {
    f.fail("group_size", cat("is ", q.group_size, " (expected -1 or a positive integer)"));
  }
  FERRUM_TRY(f.status());
  return q;
}

Expected<ModelConfig> parse_hf_config(const nlohmann::json& config, std::string_view source) {
  JsonFields f(config, std::string(source));
  FERRUM_ASSIGN_OR_RETURN(const ArchName* name, identify(f));
  ModelConfig model;
  model.arch = name->arch;
  model.architecture = std::string(name->architecture);
  model.model_type = f.string_or("model_type", name->model_type);
  model.torch_dtype = f.string_or("torch_dtype", f.string_or("dtype", ""));
  model.tokens = read_token_ids(f);

  switch (model.arch) {
    case ModelArch::kBert: model.params = read_bert(f); break;
    case ModelArch::kWhisper: model.params = read_whisper(f); break;
    case ModelArch::kClip: model.params = read_clip(f); break;
    default:
      if (name->architecture == "Gemma3ForConditionalGeneration") {
        // The language model's fields live in text_config; token ids may sit at either level.
        JsonFields text = f.object("text_config");
        model.params = read_decoder(text, model.arch);
        SpecialTokenIds inner = read_token_ids(text);
        if (inner.bos) model.tokens.bos = inner.bos;
        if (!inner.eos.empty()) model.tokens.eos = inner.eos;
        if (inner.pad) model.tokens.pad = inner.pad;
        f.absorb(text);
      } else {
        model.params = read_decoder(f, model.arch);
      }
  }
  if (f.has("quantization_config")) {
    auto quantization = parse_quantization_config(*f.get("quantization_config"), source, "");
    if (!quantization) return std::move(quantization).error();
    model.quantization = std::move(quantization).value();
  }
  FERRUM_TRY(f.status());
  return model;
}

Expected<ModelConfig> parse_hf_config(std::string_view json_text, std::string_view source) {
  FERRUM_ASSIGN_OR_RETURN(const nlohmann::json config, parse_json(json_text, source));
  return parse_hf_config(config, source);
}

Expected<ModelConfig> load_hf_config(const std::filesystem::path& config_json) {
  FERRUM_ASSIGN_OR_RETURN(const nlohmann::json config, read_json_file(config_json));
  FERRUM_ASSIGN_OR_RETURN(ModelConfig model, parse_hf_config(config, config_json.string()));
  if (model.quantization) return model;
  const std::pair<const char*, const char*> sidecars[] = {{"quantize_config.json", "gptq"},
                                                          {"quant_config.json", "awq"}};
  for (const auto& [file_name, method] : sidecars) {
    const std::filesystem::path path = config_json.parent_path() / file_name;
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) continue;
    FERRUM_ASSIGN_OR_RETURN(const nlohmann::json sidecar, read_json_file(path));
    FERRUM_ASSIGN_OR_RETURN(model.quantization, parse_quantization_config(sidecar, path.string(), method));
    break;
  }
  return model;
}

std::string_view model_arch_name(ModelArch arch) {
  switch (arch) {
    case ModelArch::kLlama: return "llama";
    case ModelArch::kMistral: return "mistral";
    case ModelArch::kQwen2: return "qwen2";
    case ModelArch::kQwen3: return "qwen3";
    case ModelArch::kQwen3Moe: return "qwen3_moe";
    case ModelArch::kGemma3: return "gemma3";
    case ModelArch::kDeepseekV3: return "deepseek_v3";
    case ModelArch::kBert: return "bert";
    case ModelArch::kWhisper: return "whisper";
    case ModelArch::kClip: return "clip";
  }
  return "unknown";
}

std::string_view rope_type_name(RopeType type) {
  switch (type) {
    case RopeType::kDefault: return "default";
    case RopeType::kLinear: return "linear";
    case RopeType::kDynamic: return "dynamic";
    case RopeType::kLlama3: return "llama3";
    case RopeType::kYarn: return "yarn";
    case RopeType::kLongrope: return "longrope";
  }
  return "unknown";
}

}  // namespace ferrum
