#include "synth/weight_plan.h"

#include <cmath>
#include <numbers>

namespace ferrum::synth {
namespace {

Shape matrix(size_t rows, size_t cols) {
  return Shape{static_cast<int64_t>(rows), static_cast<int64_t>(cols)};
}

Shape vector(size_t size) {
  return Shape{static_cast<int64_t>(size)};
}

bool has_qk_norm(const ModelPreset& p) {
  return p.family == PresetFamily::kQwen3 || p.family == PresetFamily::kQwen3Moe || p.family == PresetFamily::kGemma3;
}

class Planner {
 public:
  Planner(const ModelPreset& preset, WeightLayout layout) : p_(preset), layout_(layout) {}

  std::vector<PlannedTensor> plan() {
    const bool gguf = layout_ == WeightLayout::kGguf;
    add(gguf ? "token_embd.weight" : "model.embed_tokens.weight", matrix(p_.vocab_size, p_.hidden_size));
    if (gguf && p_.llama3_rope_factor > 0) {
      tensors_.push_back({"rope_freqs.weight", vector(p_.head_dim / 2), WeightInit::kRopeFactors, false});
    }
    for (size_t layer = 0; layer < p_.num_layers; ++layer) add_layer(layer);
    add_norm(gguf ? "output_norm.weight" : "model.norm.weight");
    if (!p_.tie_word_embeddings) add(gguf ? "output.weight" : "lm_head.weight", matrix(p_.vocab_size, p_.hidden_size));
    return std::move(tensors_);
  }

 private:
  void add(std::string name, Shape shape, bool is_layer_linear = false) {
    tensors_.push_back({std::move(name), shape, WeightInit::kNormal, is_layer_linear});
  }
  // Gemma's HF checkpoints store RMSNorm weights as w - 1; its GGUFs store w.
  void add_norm(std::string name, size_t size = 0) {
    const bool minus_one = p_.family == PresetFamily::kGemma3 && layout_ == WeightLayout::kHuggingFace;
    tensors_.push_back(
        {std::move(name), vector(size ? size : p_.hidden_size), minus_one ? WeightInit::kZeros : WeightInit::kOnes});
  }
  std::string hf(size_t layer, const char* suffix) const {
    return "model.layers." + std::to_string(layer) + "." + suffix;
  }
  std::string gguf(size_t layer, const char* suffix) const { return "blk." + std::to_string(layer) + "." + suffix; }
  std::string name(size_t layer, const char* hf_suffix, const char* gguf_suffix) const {
    return layout_ == WeightLayout::kGguf ? gguf(layer, gguf_suffix) : hf(layer, hf_suffix);
  }

  void add_layer(size_t i) {
    const size_t q_dim = p_.num_heads * p_.head_dim;
    const size_t kv_dim = p_.num_kv_heads * p_.head_dim;
    const size_t h = p_.hidden_size;
    add_norm(name(i, "input_layernorm.weight", "attn_norm.weight"));
    add(name(i, "self_attn.q_proj.weight", "attn_q.weight"), matrix(q_dim, h), true);
    add(name(i, "self_attn.k_proj.weight", "attn_k.weight"), matrix(kv_dim, h), true);
    add(name(i, "self_attn.v_proj.weight", "attn_v.weight"), matrix(kv_dim, h), true);
    add(name(i, "self_attn.o_proj.weight", "attn_output.weight"), matrix(h, q_dim), true);
    if (has_qk_norm(p_)) {
      add_norm(name(i, "self_attn.q_norm.weight", "attn_q_norm.weight"), p_.head_dim);
      add_norm(name(i, "self_attn.k_norm.weight", "attn_k_norm.weight"), p_.head_dim);
    }
    if (p_.family == PresetFamily::kGemma3) {
      add_norm(name(i, "post_attention_layernorm.weight", "post_attention_norm.weight"));
      add_norm(name(i, "pre_feedforward_layernorm.weight", "ffn_norm.weight"));
    } else {
      add_norm(name(i, "post_attention_layernorm.weight", "ffn_norm.weight"));
    }
    if (p_.num_experts > 0) {
      add_experts(i);
    } else {
      add(name(i, "mlp.gate_proj.weight", "ffn_gate.weight"), matrix(p_.intermediate_size, h), true);
      add(name(i, "mlp.up_proj.weight", "ffn_up.weight"), matrix(p_.intermediate_size, h), true);
      add(name(i, "mlp.down_proj.weight", "ffn_down.weight"), matrix(h, p_.intermediate_size), true);
    }
    if (p_.family == PresetFamily::kGemma3) {
      add_norm(name(i, "post_feedforward_layernorm.weight", "post_ffw_norm.weight"));
    }
  }

  void add_experts(size_t i) {
    const size_t h = p_.hidden_size;
    const size_t e = p_.num_experts;
    const size_t inter = p_.expert_intermediate_size;
    add(name(i, "mlp.gate.weight", "ffn_gate_inp.weight"), matrix(e, h));
    if (layout_ == WeightLayout::kGguf) {
      const auto stacked = [&](size_t rows, size_t cols) {
        return Shape{static_cast<int64_t>(e), static_cast<int64_t>(rows), static_cast<int64_t>(cols)};
      };
      add(gguf(i, "ffn_gate_exps.weight"), stacked(inter, h), true);
      add(gguf(i, "ffn_up_exps.weight"), stacked(inter, h), true);
      add(gguf(i, "ffn_down_exps.weight"), stacked(h, inter), true);
      return;
    }
    for (size_t expert = 0; expert < e; ++expert) {
      const std::string prefix = hf(i, "mlp.experts.") + std::to_string(expert) + ".";
      add(prefix + "gate_proj.weight", matrix(inter, h), true);
      add(prefix + "up_proj.weight", matrix(inter, h), true);
      add(prefix + "down_proj.weight", matrix(h, inter), true);
    }
  }

  const ModelPreset& p_;
  WeightLayout layout_;
  std::vector<PlannedTensor> tensors_;
};

}  // namespace

std::vector<PlannedTensor> plan_weights(const ModelPreset& preset, WeightLayout layout) {
  return Planner(preset, layout).plan();
}

// Llama 3's scaling leaves high frequencies alone, divides low ones by `factor`, and blends the
// band between (wavelengths between original_context / high_freq_factor and / low_freq_factor).
std::vector<float> llama3_rope_factors(const ModelPreset& p) {
  constexpr double kLowFreqFactor = 1.0;
  constexpr double kHighFreqFactor = 4.0;
  const double original = static_cast<double>(p.llama3_original_context);
  const double low_freq_wavelength = original / kLowFreqFactor;
  const double high_freq_wavelength = original / kHighFreqFactor;
  std::vector<float> factors;
  for (size_t i = 0; i < p.head_dim / 2; ++i) {
    const double frequency = 1.0 / std::pow(p.rope_theta, 2.0 * static_cast<double>(i) / p.head_dim);
    const double wavelength = 2.0 * std::numbers::pi / frequency;
    double factor = 1.0;
    if (wavelength > low_freq_wavelength) {
      factor = p.llama3_rope_factor;
    } else if (wavelength >= high_freq_wavelength) {
      const double smooth = (original / wavelength - kLowFreqFactor) / (kHighFreqFactor - kLowFreqFactor);
      factor = 1.0 / ((1.0 - smooth) / p.llama3_rope_factor + smooth);
    }
    factors.push_back(static_cast<float>(factor));
  }
  return factors;
}

}  // namespace ferrum::synth
