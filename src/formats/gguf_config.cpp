#include "formats/gguf_config.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace ferrum {
namespace {

struct GgufArchName {
  std::string_view name;  // general.architecture
  ModelArch arch;
};

constexpr std::array<GgufArchName, 7> kGgufArchitectures = {{
    {"llama", ModelArch::kLlama},
    {"qwen2", ModelArch::kQwen2},
    {"qwen3", ModelArch::kQwen3},
    {"qwen3moe", ModelArch::kQwen3Moe},
    {"gemma3", ModelArch::kGemma3},
    {"deepseek2", ModelArch::kDeepseekV3},
    {"bert", ModelArch::kBert},
}};

// Reads "<arch>.<suffix>" keys, remembering the first error (as JsonFields does for config.json).
class ArchKeys {
 public:
  ArchKeys(const GgufFile& file, std::string_view arch) : file_(file), prefix_(std::string(arch) + ".") {}

  bool has(std::string_view suffix) const { return file_.find(key(suffix)) != nullptr; }

  int64_t required_int(std::string_view suffix) { return keep_int(file_.get_uint(key(suffix)), 0); }
  int64_t int_or(std::string_view suffix, int64_t fallback) {
    return keep_int(file_.get_uint_or(key(suffix), static_cast<uint64_t>(fallback)), fallback);
  }
  double float_or(std::string_view suffix, double fallback) {
    return keep(file_.get_float_or(key(suffix), fallback), fallback);
  }
  std::optional<double> optional_float(std::string_view suffix) {
    if (!has(suffix)) return std::nullopt;
    return keep(file_.get_float(key(suffix)), 0.0);
  }
  bool bool_or(std::string_view suffix, bool fallback) {
    return keep(file_.get_bool_or(key(suffix), fallback), fallback);
  }
  std::string string_or(std::string_view suffix, std::string_view fallback) {
    return std::string(keep<std::string_view>(file_.get_string_or(key(suffix), fallback), fallback));
  }
  void fail(std::string_view suffix, std::string_view problem) {
    if (!error_) error_ = make_error(ErrorCode::kParse, file_.path(), ": metadata key '", key(suffix), "' ", problem);
  }
  Status status() const { return error_ ? Status(*error_) : ok(); }

 private:
  std::string key(std::string_view suffix) const { return prefix_ + std::string(suffix); }

  template <class T>
  T keep(Expected<T> value, T fallback) {
    if (value) return *value;
    if (!error_) error_ = std::move(value).error();
    return fallback;
  }
  int64_t keep_int(Expected<uint64_t> value, int64_t fallback) {
    const uint64_t number = keep(std::move(value), static_cast<uint64_t>(fallback));
    if (number <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(number);
    if (!error_) error_ = make_error(ErrorCode::kParse, file_.path(), ": metadata value ", number, " is too large");
    return fallback;
  }

  const GgufFile& file_;
  std::string prefix_;
  std::optional<Error> error_;
};

bool has_tensor(const GgufFile& file, const std::string& name) {
  return file.find_tensor(name) != nullptr;
}

std::string layer_tensor(int64_t layer, std::string_view suffix) {
  return "blk." + std::to_string(layer) + "." + std::string(suffix);
}

int64_t vocab_size_of(const GgufFile& file, ArchKeys& keys) {
  if (keys.has("vocab_size")) return keys.required_int("vocab_size");
  if (const GgufValue* tokens = file.find("tokenizer.ggml.tokens"); tokens && tokens->as_array()) {
    return static_cast<int64_t>(tokens->as_array()->size());
  }
  if (const GgufTensorInfo* embed = file.find_tensor("token_embd.weight"); embed && embed->shape.rank() == 2) {
    return embed->shape[0];
  }
  keys.fail("vocab_size", "is missing, and neither tokenizer.ggml.tokens nor token_embd.weight gives it");
  return 0;
}

void read_rope(ArchKeys& keys, DecoderConfig& c) {
  c.rope.theta = keys.float_or("rope.freq_base", 10000.0);
  std::string type = keys.string_or("rope.scaling.type", "none");
  // Older files state linear scaling as rope.scale_linear only.
  if (type == "none" && keys.has("rope.scale_linear")) {
    type = "linear";
    c.rope.scaling.factor = keys.float_or("rope.scale_linear", 1.0);
  } else {
    c.rope.scaling.factor = keys.float_or("rope.scaling.factor", 1.0);
  }
  if (keys.has("rope.scaling.original_context_length")) {
    c.rope.scaling.original_max_position_embeddings = keys.int_or("rope.scaling.original_context_length", 0);
  }
  if (type == "none") {
    c.rope.scaling.factor = 1.0;
  } else if (type == "linear") {
    c.rope.scaling.type = RopeType::kLinear;
  } else if (type == "yarn") {
    c.rope.scaling.type = RopeType::kYarn;
    if (!c.rope.scaling.original_max_position_embeddings) {
      c.rope.scaling.original_max_position_embeddings = c.max_position_embeddings;
    }
    c.rope.scaling.beta_fast = keys.float_or("rope.scaling.yarn_beta_fast", 32.0);
    c.rope.scaling.beta_slow = keys.float_or("rope.scaling.yarn_beta_slow", 1.0);
    // The converter stores DeepSeek's mscale_all_dim as yarn_log_multiplier = 0.1 * mscale_all_dim,
    // and DeepSeek checkpoints set mscale equal to it.
    if (auto multiplier = keys.optional_float("rope.scaling.yarn_log_multiplier")) {
      c.rope.scaling.mscale = *multiplier / 0.1;
      c.rope.scaling.mscale_all_dim = *multiplier / 0.1;
    }
  } else {
    keys.fail("rope.scaling.type", cat("is \"", type, "\" (ferrum reads none, linear and yarn from GGUF)"));
  }
}

void read_moe(const GgufFile& file, ArchKeys& keys, ModelArch arch, DecoderConfig& c) {
  if (!keys.has("expert_count")) return;
  MoeConfig moe;
  moe.num_experts = keys.required_int("expert_count");
  moe.num_experts_per_tok = keys.required_int("expert_used_count");
  moe.expert_intermediate_size = keys.required_int("expert_feed_forward_length");
  moe.num_shared_experts = keys.int_or("expert_shared_count", 0);
  moe.shared_expert_intermediate_size = moe.num_shared_experts * moe.expert_intermediate_size;
  moe.norm_topk_prob = keys.bool_or("expert_weights_norm", arch == ModelArch::kQwen3Moe);
  moe.routed_scaling_factor = keys.float_or("expert_weights_scale", 1.0);
  const int64_t gating = keys.int_or("expert_gating_func", 1);  // 1: softmax, 2: sigmoid
  if (gating != 1 && gating != 2) keys.fail("expert_gating_func", cat("is ", gating, " (expected 1 or 2)"));
  moe.scoring = gating == 2 ? MoeScoring::kSigmoid : MoeScoring::kSoftmax;
  moe.num_groups = keys.int_or("expert_group_count", 1);
  moe.topk_groups = keys.int_or("expert_group_used_count", 1);
  const int64_t leading_dense = keys.int_or("leading_dense_block_count", 0);
  moe.layer_is_moe.assign(static_cast<size_t>(c.num_layers), false);
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    // The router tensor marks a MoE layer; files without tensors (vocab-only) fall back to the key.
    const bool router = has_tensor(file, layer_tensor(layer, "ffn_gate_inp.weight"));
    moe.layer_is_moe[static_cast<size_t>(layer)] = file.tensors().empty() ? layer >= leading_dense : router;
    if (router && has_tensor(file, layer_tensor(layer, "exp_probs_b.bias"))) moe.has_score_correction_bias = true;
  }
  if (moe.has_score_correction_bias) moe.topk_method = "noaux_tc";
  if (moe.num_experts_per_tok <= 0 || moe.num_experts_per_tok > moe.num_experts) {
    keys.fail("expert_used_count", cat("is ", moe.num_experts_per_tok, " with ", moe.num_experts, " experts"));
  }
  c.moe = std::move(moe);
}

void read_mla(ArchKeys& keys, DecoderConfig& c) {
  MlaConfig mla;
  mla.q_lora_rank = keys.int_or("attention.q_lora_rank", 0);
  mla.kv_lora_rank = keys.required_int("attention.kv_lora_rank");
  mla.qk_rope_head_dim = keys.required_int("rope.dimension_count");
  // Files converted for absorbed MLA keep the per-head sizes in the *_mla keys.
  const int64_t key_length = keys.has("attention.key_length_mla") ? keys.required_int("attention.key_length_mla")
                                                                  : keys.required_int("attention.key_length");
  mla.v_head_dim = keys.has("attention.value_length_mla") ? keys.required_int("attention.value_length_mla")
                                                          : keys.required_int("attention.value_length");
  mla.qk_nope_head_dim = key_length - mla.qk_rope_head_dim;
  if (mla.qk_nope_head_dim <= 0) {
    keys.fail("attention.key_length", cat("is ", key_length, ", not more than the rope dims ", mla.qk_rope_head_dim));
  }
  c.head_dim = key_length;
  c.rotary_dim = mla.qk_rope_head_dim;
  c.mla = mla;
}

// Converted Llama 3 files state their rope scaling as per-frequency divisors in rope_freqs.weight.
void read_frequency_divisors(const GgufFile& file, ArchKeys& keys, DecoderConfig& c) {
  const GgufTensorInfo* info = file.find_tensor("rope_freqs.weight");
  if (info == nullptr) return;
  const auto expected = static_cast<int64_t>(c.rotary_dim / 2);
  if (info->dtype != DType::kF32 || info->shape.rank() != 1 || info->shape[0] != expected) {
    keys.fail("rope.dimension_count", cat("gives ", expected, " frequencies, but rope_freqs.weight is ",
                                          dtype_name(info->dtype), " ", info->shape.to_string()));
    return;
  }
  const std::span<const uint8_t> bytes = file.tensor_bytes(*info);
  c.rope.scaling.frequency_divisors.resize(static_cast<size_t>(expected));
  std::memcpy(c.rope.scaling.frequency_divisors.data(), bytes.data(), bytes.size());
}

DecoderConfig read_decoder(const GgufFile& file, ArchKeys& keys, ModelArch arch) {
  DecoderConfig c;
  c.vocab_size = vocab_size_of(file, keys);
  c.hidden_size = keys.required_int("embedding_length");
  c.intermediate_size = keys.required_int("feed_forward_length");
  c.num_layers = keys.required_int("block_count");
  c.num_heads = keys.required_int("attention.head_count");
  c.num_kv_heads = keys.int_or("attention.head_count_kv", c.num_heads);
  c.max_position_embeddings = keys.int_or("context_length", 2048);
  c.norm_eps = keys.float_or("attention.layer_norm_rms_epsilon", 1e-6);
  if (c.num_heads <= 0 || c.hidden_size <= 0 || c.num_layers <= 0 || c.num_layers > kMaxModelLayers) {
    keys.fail("block_count", cat("is ", c.num_layers, " with embedding_length ", c.hidden_size, " and head_count ",
                                 c.num_heads, "; all must be positive and layers at most ", kMaxModelLayers));
    c.num_layers = 0;
    return c;
  }
  c.head_dim = keys.int_or("attention.key_length", c.hidden_size / c.num_heads);
  c.rotary_dim = keys.int_or("rope.dimension_count", c.head_dim);
  c.hidden_act = arch == ModelArch::kGemma3 ? "gelu_pytorch_tanh" : "silu";
  read_rope(keys, c);
  // llama.cpp's converter permutes Llama's Q/K rows for interleaved-pair RoPE; DeepSeek's HF
  // weights are interleaved already. The other families rotate halves.
  c.rope_interleaved = arch == ModelArch::kLlama || arch == ModelArch::kDeepseekV3;
  c.tie_word_embeddings = !file.tensors().empty() && !has_tensor(file, "output.weight");
  c.attention_qkv_bias = has_tensor(file, "blk.0.attn_q.bias") || arch == ModelArch::kQwen2;
  c.attention_out_bias = has_tensor(file, "blk.0.attn_output.bias");
  c.mlp_bias = has_tensor(file, "blk.0.ffn_up.bias");
  c.qk_norm = arch == ModelArch::kQwen3 || arch == ModelArch::kQwen3Moe || arch == ModelArch::kGemma3;
  if (arch == ModelArch::kDeepseekV3) read_mla(keys, c);

  c.layer_types.assign(static_cast<size_t>(c.num_layers), LayerAttention::kFull);
  if (keys.has("attention.sliding_window")) c.sliding_window = keys.int_or("attention.sliding_window", 0);
  if (arch == ModelArch::kGemma3) {
    // llama.cpp fixes Gemma 3's pattern at 6 (five sliding layers, then a global one) and its local
    // rope base at 10000; newer files may state both.
    const int64_t pattern = keys.int_or("attention.sliding_window_pattern", 6);
    if (pattern <= 0) keys.fail("attention.sliding_window_pattern", "must be positive");
    for (int64_t i = 0; i < c.num_layers && pattern > 0; ++i) {
      if ((i + 1) % pattern != 0) c.layer_types[static_cast<size_t>(i)] = LayerAttention::kSliding;
    }
    if (!c.sliding_window) c.sliding_window = 4096;
    c.rope_local = RopeParams{keys.float_or("rope.freq_base_swa", 10000.0), {}};
    // Gemma 3 27B (62 layers) scales queries by hidden_size / heads; the other sizes by head_dim.
    c.query_pre_attn_scalar = static_cast<double>(c.num_layers == 62 ? c.hidden_size / c.num_heads : c.head_dim);
    c.final_logit_softcapping = keys.optional_float("final_logit_softcapping");
    c.attn_logit_softcapping = keys.optional_float("attn_logit_softcapping");
  } else if (c.sliding_window && *c.sliding_window > 0) {
    std::fill(c.layer_types.begin(), c.layer_types.end(), LayerAttention::kSliding);
  }
  read_moe(file, keys, arch, c);
  read_frequency_divisors(file, keys, c);
  return c;
}

BertConfig read_bert(const GgufFile& file, ArchKeys& keys) {
  BertConfig c;
  c.vocab_size = vocab_size_of(file, keys);
  c.hidden_size = keys.required_int("embedding_length");
  c.num_layers = keys.required_int("block_count");
  c.num_heads = keys.required_int("attention.head_count");
  c.intermediate_size = keys.required_int("feed_forward_length");
  c.max_position_embeddings = keys.int_or("context_length", 512);
  c.layer_norm_eps = keys.float_or("attention.layer_norm_epsilon", 1e-12);
  c.hidden_act = "gelu";
  const GgufValue* types = file.find("tokenizer.ggml.token_type_count");
  c.type_vocab_size = types && types->as_uint() ? static_cast<int64_t>(*types->as_uint()) : 2;
  return c;
}

}  // namespace

Expected<ModelConfig> config_from_gguf(const GgufFile& file) {
  const std::string_view arch_name = file.architecture();
  const GgufArchName* found = nullptr;
  for (const GgufArchName& entry : kGgufArchitectures) {
    if (entry.name == arch_name) found = &entry;
  }
  if (found == nullptr) {
    std::string supported;
    for (const GgufArchName& entry : kGgufArchitectures)
      supported += (supported.empty() ? "" : ", ") + std::string(entry.name);
    return make_error(ErrorCode::kUnsupported, file.path(), ": GGUF architecture '", arch_name,
                      "' is not supported; ferrum reads ", supported);
  }
  ModelConfig model;
  model.arch = found->arch;
  model.architecture = std::string(arch_name);
  model.model_type = std::string(model_arch_name(found->arch));
  ArchKeys keys(file, arch_name);
  if (found->arch == ModelArch::kBert) {
    model.params = read_bert(file, keys);
  } else {
    model.params = read_decoder(file, keys, found->arch);
  }
  FERRUM_TRY(keys.status());
  const auto token = [&file](std::string_view key) -> std::optional<int64_t> {
    const GgufValue* value = file.find(key);
    return value ? value->as_int() : std::nullopt;
  };
  model.tokens.bos = token("tokenizer.ggml.bos_token_id");
  if (auto eos = token("tokenizer.ggml.eos_token_id")) model.tokens.eos.push_back(*eos);
  if (auto eot = token("tokenizer.ggml.eot_token_id");
      eot && !model.tokens.eos.empty() && *eot != model.tokens.eos[0]) {
    model.tokens.eos.push_back(*eot);
  }
  model.tokens.pad = token("tokenizer.ggml.padding_token_id");
  return model;
}

}  // namespace ferrum
