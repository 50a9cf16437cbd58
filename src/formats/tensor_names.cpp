#include "formats/tensor_names.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace ferrum {
namespace {

using R = TensorNameRelation;

// Shared by Llama, Mistral, Qwen2, Qwen3 and Qwen3-MoE (and the non-MLA parts of DeepSeek).
constexpr std::array<TensorNamePair, 24> kLlamaNames = {{
    {"token_embd.weight", "model.embed_tokens.weight", R::kSame},
    {"output_norm.weight", "model.norm.weight", R::kSame},
    {"output.weight", "lm_head.weight", R::kSame},
    {"blk.{N}.attn_norm.weight", "model.layers.{N}.input_layernorm.weight", R::kSame},
    {"blk.{N}.attn_q.weight", "model.layers.{N}.self_attn.q_proj.weight", R::kSame},
    {"blk.{N}.attn_k.weight", "model.layers.{N}.self_attn.k_proj.weight", R::kSame},
    {"blk.{N}.attn_v.weight", "model.layers.{N}.self_attn.v_proj.weight", R::kSame},
    {"blk.{N}.attn_output.weight", "model.layers.{N}.self_attn.o_proj.weight", R::kSame},
    {"blk.{N}.attn_q.bias", "model.layers.{N}.self_attn.q_proj.bias", R::kSame},
    {"blk.{N}.attn_k.bias", "model.layers.{N}.self_attn.k_proj.bias", R::kSame},
    {"blk.{N}.attn_v.bias", "model.layers.{N}.self_attn.v_proj.bias", R::kSame},
    {"blk.{N}.attn_output.bias", "model.layers.{N}.self_attn.o_proj.bias", R::kSame},
    {"blk.{N}.attn_q_norm.weight", "model.layers.{N}.self_attn.q_norm.weight", R::kSame},
    {"blk.{N}.attn_k_norm.weight", "model.layers.{N}.self_attn.k_norm.weight", R::kSame},
    {"blk.{N}.ffn_norm.weight", "model.layers.{N}.post_attention_layernorm.weight", R::kSame},
    {"blk.{N}.ffn_gate.weight", "model.layers.{N}.mlp.gate_proj.weight", R::kSame},
    {"blk.{N}.ffn_up.weight", "model.layers.{N}.mlp.up_proj.weight", R::kSame},
    {"blk.{N}.ffn_down.weight", "model.layers.{N}.mlp.down_proj.weight", R::kSame},
    {"blk.{N}.ffn_gate.bias", "model.layers.{N}.mlp.gate_proj.bias", R::kSame},
    {"blk.{N}.ffn_up.bias", "model.layers.{N}.mlp.up_proj.bias", R::kSame},
    {"blk.{N}.ffn_down.bias", "model.layers.{N}.mlp.down_proj.bias", R::kSame},
    // Routed experts (Qwen3-MoE, DeepSeek): transformers 4 saves one tensor per expert,
    // transformers 5 saves gate and up fused.
    {"blk.{N}.ffn_gate_inp.weight", "model.layers.{N}.mlp.gate.weight", R::kSame},
    {"blk.{N}.ffn_down_exps.weight", "model.layers.{N}.mlp.experts.down_proj", R::kSame},
    {"blk.{N}.ffn_down_exps.weight", "model.layers.{N}.mlp.experts.{E}.down_proj.weight", R::kExpertSlice},
}};

constexpr std::array<TensorNamePair, 4> kExpertGateUpNames = {{
    {"blk.{N}.ffn_gate_exps.weight", "model.layers.{N}.mlp.experts.{E}.gate_proj.weight", R::kExpertSlice},
    {"blk.{N}.ffn_up_exps.weight", "model.layers.{N}.mlp.experts.{E}.up_proj.weight", R::kExpertSlice},
    {"blk.{N}.ffn_gate_exps.weight", "model.layers.{N}.mlp.experts.gate_up_proj", R::kGateHalf},
    {"blk.{N}.ffn_up_exps.weight", "model.layers.{N}.mlp.experts.gate_up_proj", R::kUpHalf},
}};

// DeepSeek adds these to the Llama names (a model with q_lora_rank 0 uses attn_q / q_proj).
constexpr std::array<TensorNamePair, 10> kDeepseekNames = {{
    {"blk.{N}.attn_q_a.weight", "model.layers.{N}.self_attn.q_a_proj.weight", R::kSame},
    {"blk.{N}.attn_q_a_norm.weight", "model.layers.{N}.self_attn.q_a_layernorm.weight", R::kSame},
    {"blk.{N}.attn_q_b.weight", "model.layers.{N}.self_attn.q_b_proj.weight", R::kSame},
    {"blk.{N}.attn_kv_a_mqa.weight", "model.layers.{N}.self_attn.kv_a_proj_with_mqa.weight", R::kSame},
    {"blk.{N}.attn_kv_a_norm.weight", "model.layers.{N}.self_attn.kv_a_layernorm.weight", R::kSame},
    {"blk.{N}.attn_kv_b.weight", "model.layers.{N}.self_attn.kv_b_proj.weight", R::kSame},
    {"blk.{N}.exp_probs_b.bias", "model.layers.{N}.mlp.gate.e_score_correction_bias", R::kSame},
    {"blk.{N}.ffn_gate_shexp.weight", "model.layers.{N}.mlp.shared_experts.gate_proj.weight", R::kSame},
    {"blk.{N}.ffn_up_shexp.weight", "model.layers.{N}.mlp.shared_experts.up_proj.weight", R::kSame},
    {"blk.{N}.ffn_down_shexp.weight", "model.layers.{N}.mlp.shared_experts.down_proj.weight", R::kSame},
}};

// Gemma 3 has sandwich norms: GGUF's ffn_norm is HF's pre_feedforward_layernorm here, not
// post_attention_layernorm as in Llama.
constexpr std::array<TensorNamePair, 16> kGemma3Names = {{
    {"token_embd.weight", "model.embed_tokens.weight", R::kSame},
    {"output_norm.weight", "model.norm.weight", R::kSame},
    {"output.weight", "lm_head.weight", R::kSame},
    {"blk.{N}.attn_norm.weight", "model.layers.{N}.input_layernorm.weight", R::kSame},
    {"blk.{N}.attn_q.weight", "model.layers.{N}.self_attn.q_proj.weight", R::kSame},
    {"blk.{N}.attn_k.weight", "model.layers.{N}.self_attn.k_proj.weight", R::kSame},
    {"blk.{N}.attn_v.weight", "model.layers.{N}.self_attn.v_proj.weight", R::kSame},
    {"blk.{N}.attn_output.weight", "model.layers.{N}.self_attn.o_proj.weight", R::kSame},
    {"blk.{N}.attn_q_norm.weight", "model.layers.{N}.self_attn.q_norm.weight", R::kSame},
    {"blk.{N}.attn_k_norm.weight", "model.layers.{N}.self_attn.k_norm.weight", R::kSame},
    {"blk.{N}.post_attention_norm.weight", "model.layers.{N}.post_attention_layernorm.weight", R::kSame},
    {"blk.{N}.ffn_norm.weight", "model.layers.{N}.pre_feedforward_layernorm.weight", R::kSame},
    {"blk.{N}.post_ffw_norm.weight", "model.layers.{N}.post_feedforward_layernorm.weight", R::kSame},
    {"blk.{N}.ffn_gate.weight", "model.layers.{N}.mlp.gate_proj.weight", R::kSame},
    {"blk.{N}.ffn_up.weight", "model.layers.{N}.mlp.up_proj.weight", R::kSame},
    {"blk.{N}.ffn_down.weight", "model.layers.{N}.mlp.down_proj.weight", R::kSame},
}};

constexpr std::array<TensorNamePair, 24> kBertNames = {{
    {"token_embd.weight", "embeddings.word_embeddings.weight", R::kSame},
    {"token_types.weight", "embeddings.token_type_embeddings.weight", R::kSame},
    {"position_embd.weight", "embeddings.position_embeddings.weight", R::kSame},
    {"token_embd_norm.weight", "embeddings.LayerNorm.weight", R::kSame},
    {"token_embd_norm.bias", "embeddings.LayerNorm.bias", R::kSame},
    {"blk.{N}.attn_q.weight", "encoder.layer.{N}.attention.self.query.weight", R::kSame},
    {"blk.{N}.attn_q.bias", "encoder.layer.{N}.attention.self.query.bias", R::kSame},
    {"blk.{N}.attn_k.weight", "encoder.layer.{N}.attention.self.key.weight", R::kSame},
    {"blk.{N}.attn_k.bias", "encoder.layer.{N}.attention.self.key.bias", R::kSame},
    {"blk.{N}.attn_v.weight", "encoder.layer.{N}.attention.self.value.weight", R::kSame},
    {"blk.{N}.attn_v.bias", "encoder.layer.{N}.attention.self.value.bias", R::kSame},
    {"blk.{N}.attn_output.weight", "encoder.layer.{N}.attention.output.dense.weight", R::kSame},
    {"blk.{N}.attn_output.bias", "encoder.layer.{N}.attention.output.dense.bias", R::kSame},
    {"blk.{N}.attn_output_norm.weight", "encoder.layer.{N}.attention.output.LayerNorm.weight", R::kSame},
    {"blk.{N}.attn_output_norm.bias", "encoder.layer.{N}.attention.output.LayerNorm.bias", R::kSame},
    {"blk.{N}.ffn_up.weight", "encoder.layer.{N}.intermediate.dense.weight", R::kSame},
    {"blk.{N}.ffn_up.bias", "encoder.layer.{N}.intermediate.dense.bias", R::kSame},
    {"blk.{N}.ffn_down.weight", "encoder.layer.{N}.output.dense.weight", R::kSame},
    {"blk.{N}.ffn_down.bias", "encoder.layer.{N}.output.dense.bias", R::kSame},
    {"blk.{N}.layer_output_norm.weight", "encoder.layer.{N}.output.LayerNorm.weight", R::kSame},
    {"blk.{N}.layer_output_norm.bias", "encoder.layer.{N}.output.LayerNorm.bias", R::kSame},
    // Pooler of BertModel; GGUF embedding models usually drop it.
    {"cls.pooler.weight", "pooler.dense.weight", R::kSame},
    {"cls.pooler.bias", "pooler.dense.bias", R::kSame},
    {"output_norm.weight", "encoder.final_layernorm.weight", R::kSame},
}};

template <size_t... Sizes>
std::vector<TensorNamePair> concat(const std::array<TensorNamePair, Sizes>&... tables) {
  std::vector<TensorNamePair> out;
  out.reserve((Sizes + ...));
  const auto append = [&out](const auto& table) {
    for (const TensorNamePair& pair : table) out.push_back(pair);
  };
  (append(tables), ...);
  return out;
}

// A concrete name with its numeric components replaced: the first by {N}, the second by {E}.
struct NamePattern {
  std::string pattern;
  std::string layer;
  std::string expert;
};

NamePattern to_pattern(std::string_view name) {
  NamePattern out;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
    if (numeric && out.layer.empty()) {
      out.layer = part;
      out.pattern += "{N}";
    } else if (numeric && out.expert.empty()) {
      out.expert = part;
      out.pattern += "{E}";
    } else {
      out.pattern += part;
    }
    if (end < name.size()) out.pattern += '.';
    start = end + 1;
  }
  return out;
}

std::string fill(std::string_view pattern, const NamePattern& values) {
  std::string out(pattern);
  if (size_t at = out.find("{N}"); at != std::string::npos) out.replace(at, 3, values.layer);
  if (size_t at = out.find("{E}"); at != std::string::npos && !values.expert.empty()) {
    out.replace(at, 3, values.expert);
  }
  return out;
}

}  // namespace

std::span<const TensorNamePair> tensor_name_table(ModelArch arch) {
  static const std::vector<TensorNamePair> kLlama = concat(kLlamaNames, kExpertGateUpNames);
  static const std::vector<TensorNamePair> kDeepseek = concat(kDeepseekNames, kLlamaNames, kExpertGateUpNames);
  static const std::vector<TensorNamePair> kGemma3 = concat(kGemma3Names);
  static const std::vector<TensorNamePair> kBert = concat(kBertNames);
  switch (arch) {
    case ModelArch::kLlama:
    case ModelArch::kMistral:
    case ModelArch::kQwen2:
    case ModelArch::kQwen3:
    case ModelArch::kQwen3Moe: return kLlama;
    case ModelArch::kDeepseekV3: return kDeepseek;
    case ModelArch::kGemma3: return kGemma3;
    case ModelArch::kBert: return kBert;
    case ModelArch::kWhisper:
    case ModelArch::kClip: break;
  }
  return {};
}

std::vector<TensorNameMapping> gguf_to_hf_tensor_names(ModelArch arch, std::string_view gguf_name) {
  const NamePattern name = to_pattern(gguf_name);
  std::vector<TensorNameMapping> out;
  for (const TensorNamePair& pair : tensor_name_table(arch)) {
    if (pair.gguf != name.pattern) continue;
    const bool seen = std::any_of(out.begin(), out.end(), [&](auto& m) { return m.name == fill(pair.hf, name); });
    if (!seen) out.push_back({fill(pair.hf, name), pair.relation});
  }
  return out;
}

std::vector<TensorNameMapping> hf_to_gguf_tensor_names(ModelArch arch, std::string_view hf_name) {
  const NamePattern name = to_pattern(hf_name);
  std::vector<TensorNameMapping> out;
  for (const TensorNamePair& pair : tensor_name_table(arch)) {
    if (pair.hf != name.pattern) continue;
    const bool seen = std::any_of(out.begin(), out.end(), [&](auto& m) { return m.name == fill(pair.gguf, name); });
    if (!seen) out.push_back({fill(pair.gguf, name), pair.relation});
  }
  return out;
}

}  // namespace ferrum
