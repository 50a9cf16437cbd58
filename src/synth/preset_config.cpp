#include "synth/preset_config.h"

#include <nlohmann/json.hpp>

namespace ferrum::synth {
namespace {

using nlohmann::ordered_json;

struct FamilyNames {
  const char* architecture;
  const char* model_type;
};

FamilyNames family_names(PresetFamily family) {
  switch (family) {
    case PresetFamily::kLlama: return {"LlamaForCausalLM", "llama"};
    case PresetFamily::kMistral: return {"MistralForCausalLM", "mistral"};
    case PresetFamily::kQwen3: return {"Qwen3ForCausalLM", "qwen3"};
    case PresetFamily::kQwen3Moe: return {"Qwen3MoeForCausalLM", "qwen3_moe"};
    case PresetFamily::kGemma3: return {"Gemma3ForCausalLM", "gemma3_text"};
  }
  return {"", ""};
}

ordered_json quantization_config(PackedQuant quant) {
  if (quant == PackedQuant::kGptqInt4) {
    return {{"quant_method", "gptq"},
            {"bits", 4},
            {"group_size", kPackedGroupSize},
            {"desc_act", false},
            {"sym", true},
            {"checkpoint_format", "gptq"},
            {"damp_percent", 0.01},
            {"true_sequential", true}};
  }
  return {{"quant_method", "awq"},
          {"bits", 4},
          {"group_size", kPackedGroupSize},
          {"version", "gemm"},
          {"zero_point", true}};
}

}  // namespace

std::string hf_config_text(const ModelPreset& p, const std::string& torch_dtype, PackedQuant quant,
                           const BpeVocab& vocab, uint64_t seed) {
  const FamilyNames names = family_names(p.family);
  ordered_json c;
  c["architectures"] = {names.architecture};
  c["model_type"] = names.model_type;
  c["vocab_size"] = p.vocab_size;
  c["hidden_size"] = p.hidden_size;
  c["intermediate_size"] = p.intermediate_size;
  c["num_hidden_layers"] = p.num_layers;
  c["num_attention_heads"] = p.num_heads;
  c["num_key_value_heads"] = p.num_kv_heads;
  c["head_dim"] = p.head_dim;
  c["max_position_embeddings"] = p.max_position_embeddings;
  c["rope_theta"] = p.rope_theta;
  c["rms_norm_eps"] = p.norm_eps;
  c["tie_word_embeddings"] = p.tie_word_embeddings;
  c["attention_bias"] = false;
  c["initializer_range"] = 0.02;
  if (p.family == PresetFamily::kGemma3) {
    c["hidden_activation"] = "gelu_pytorch_tanh";
    c["query_pre_attn_scalar"] = p.head_dim;
    c["sliding_window"] = p.sliding_window;
    c["sliding_window_pattern"] = 6;
    c["rope_local_base_freq"] = p.rope_local_theta;
    c["final_logit_softcapping"] = nullptr;
    c["attn_logit_softcapping"] = nullptr;
    if (p.linear_rope_factor > 0) c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", p.linear_rope_factor}};
  } else {
    c["hidden_act"] = "silu";
    c["mlp_bias"] = false;
  }
  if (p.llama3_rope_factor > 0) {
    c["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", p.llama3_rope_factor},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", p.llama3_original_context}};
  }
  if (p.family == PresetFamily::kMistral) c["sliding_window"] = nullptr;
  if (p.family == PresetFamily::kQwen3 || p.family == PresetFamily::kQwen3Moe) c["use_sliding_window"] = false;
  if (p.family == PresetFamily::kQwen3Moe) {
    c["num_experts"] = p.num_experts;
    c["num_experts_per_tok"] = p.experts_per_token;
    c["moe_intermediate_size"] = p.expert_intermediate_size;
    c["norm_topk_prob"] = true;
    c["decoder_sparse_step"] = 1;
    c["mlp_only_layers"] = ordered_json::array();
  }
  c["bos_token_id"] = vocab.bos >= 0 ? ordered_json(vocab.bos) : ordered_json(nullptr);
  c["eos_token_id"] = vocab.eos >= 0 ? ordered_json(vocab.eos) : ordered_json(nullptr);
  c["torch_dtype"] = torch_dtype;
  if (quant != PackedQuant::kNone) c["quantization_config"] = quantization_config(quant);
  // Marks the model as random so reports never mistake it for the real one.
  c["ferrum_synthetic"] = {{"preset", p.name}, {"seed", seed}};
  return c.dump(2);
}

std::string generation_config_text(const BpeVocab& vocab) {
  ordered_json c;
  ordered_json eos = ordered_json::array();
  if (vocab.eos >= 0) eos.push_back(vocab.eos);
  if (vocab.end_of_turn >= 0) eos.push_back(vocab.end_of_turn);
  if (vocab.bos >= 0) c["bos_token_id"] = vocab.bos;
  if (!eos.empty()) c["eos_token_id"] = eos;
  c["do_sample"] = true;
  c["temperature"] = 0.6;
  c["top_p"] = 0.9;
  return c.dump(2);
}

std::string gguf_architecture(const ModelPreset& preset) {
  switch (preset.family) {
    case PresetFamily::kLlama:
    case PresetFamily::kMistral: return "llama";  // llama.cpp converts Mistral to its llama architecture
    case PresetFamily::kQwen3: return "qwen3";
    case PresetFamily::kQwen3Moe: return "qwen3moe";
    case PresetFamily::kGemma3: return "gemma3";
  }
  return "";
}

std::string gguf_pre_tokenizer_for(const ModelPreset& preset) {
  switch (preset.family) {
    case PresetFamily::kLlama: return "llama-bpe";
    case PresetFamily::kQwen3:
    case PresetFamily::kQwen3Moe: return "qwen2";
    case PresetFamily::kMistral:  // SentencePiece in the real models: only a byte-level stand-in fits here
    case PresetFamily::kGemma3: return "default";
  }
  return "default";
}

void add_gguf_model_metadata(GgufWriter& w, const ModelPreset& p, uint32_t file_type, uint64_t seed) {
  const std::string arch = gguf_architecture(p);
  const auto key = [&arch](const char* suffix) { return arch + "." + suffix; };
  w.set_string("general.architecture", arch);
  w.set_string("general.type", "model");
  w.set_string("general.name", std::string(p.description) + " (random weights, ferrum gen-model preset " +
                                   std::string(p.name) + " seed " + std::to_string(seed) + ")");
  w.set_u32("general.file_type", file_type);
  w.set_u32("general.quantization_version", 2);
  w.set_u32(key("vocab_size"), static_cast<uint32_t>(p.vocab_size));
  w.set_u32(key("context_length"), static_cast<uint32_t>(p.max_position_embeddings));
  w.set_u32(key("embedding_length"), static_cast<uint32_t>(p.hidden_size));
  w.set_u32(key("block_count"), static_cast<uint32_t>(p.num_layers));
  w.set_u32(key("feed_forward_length"), static_cast<uint32_t>(p.intermediate_size));
  w.set_u32(key("attention.head_count"), static_cast<uint32_t>(p.num_heads));
  w.set_u32(key("attention.head_count_kv"), static_cast<uint32_t>(p.num_kv_heads));
  w.set_u32(key("attention.key_length"), static_cast<uint32_t>(p.head_dim));
  w.set_u32(key("attention.value_length"), static_cast<uint32_t>(p.head_dim));
  w.set_u32(key("rope.dimension_count"), static_cast<uint32_t>(p.head_dim));
  w.set_f32(key("rope.freq_base"), static_cast<float>(p.rope_theta));
  w.set_f32(key("attention.layer_norm_rms_epsilon"), static_cast<float>(p.norm_eps));
  if (p.family == PresetFamily::kQwen3Moe) {
    w.set_u32(key("expert_count"), static_cast<uint32_t>(p.num_experts));
    w.set_u32(key("expert_used_count"), static_cast<uint32_t>(p.experts_per_token));
    w.set_u32(key("expert_feed_forward_length"), static_cast<uint32_t>(p.expert_intermediate_size));
  }
  if (p.family == PresetFamily::kGemma3) {
    w.set_u32(key("attention.sliding_window"), static_cast<uint32_t>(p.sliding_window));
    if (p.linear_rope_factor > 0) {
      w.set_string(key("rope.scaling.type"), "linear");
      w.set_f32(key("rope.scaling.factor"), static_cast<float>(p.linear_rope_factor));
    }
  }
}

}  // namespace ferrum::synth
