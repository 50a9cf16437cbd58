#include "synth/model_presets.h"

#include <array>

namespace ferrum::synth {
namespace {

using F = PresetFamily;

// Field order: name, description, family, vocab, hidden, intermediate, layers, heads, kv heads,
// head_dim, max positions, rope theta, norm eps, tied embeddings, then the family extras.
constexpr std::array kPresets = {
    ModelPreset{"llama3.1-8b", "Llama 3.1 8B", F::kLlama, 128256, 4096, 14336, 32, 32, 8, 128, 131072, 500000.0, 1e-5,
                false, 8.0},
    ModelPreset{"llama3.2-1b", "Llama 3.2 1B", F::kLlama, 128256, 2048, 8192, 16, 32, 8, 64, 131072, 500000.0, 1e-5,
                true, 32.0},
    ModelPreset{"llama3.2-3b", "Llama 3.2 3B", F::kLlama, 128256, 3072, 8192, 28, 24, 8, 128, 131072, 500000.0, 1e-5,
                true, 32.0},
    ModelPreset{"llama3.1-70b", "Llama 3.1 70B (for tensor parallelism)", F::kLlama, 128256, 8192, 28672, 80, 64, 8,
                128, 131072, 500000.0, 1e-5, false, 8.0},
    // One rank's part of llama3.1-8b at --tensor-parallel-size 2 (half the heads, the MLP's
    // intermediate features and the vocabulary): run alone, it times a rank's compute without
    // the collectives (docs/tensor-parallel.md).
    ModelPreset{"llama3.1-8b-tp2-rank", "Llama 3.1 8B, one rank's shapes at tensor-parallel size 2", F::kLlama, 64128,
                4096, 7168, 32, 16, 4, 128, 131072, 500000.0, 1e-5, false, 8.0},
    ModelPreset{"mistral-7b", "Mistral 7B v0.3", F::kMistral, 32768, 4096, 14336, 32, 32, 8, 128, 32768, 1000000.0,
                1e-5, false},
    ModelPreset{"qwen3-0.6b", "Qwen3 0.6B", F::kQwen3, 151936, 1024, 3072, 28, 16, 8, 128, 40960, 1000000.0, 1e-6,
                true},
    ModelPreset{"qwen3-8b", "Qwen3 8B", F::kQwen3, 151936, 4096, 12288, 36, 32, 8, 128, 40960, 1000000.0, 1e-6, false},
    ModelPreset{"qwen3-30b-a3b", "Qwen3 30B-A3B (128 experts, 8 active)", F::kQwen3Moe, 151936, 2048, 6144, 48, 32, 4,
                128, 40960, 1000000.0, 1e-6, false, 0, 8192, 128, 8, 768},
    ModelPreset{"gemma3-4b", "Gemma 3 4B (text model)",
                F::kGemma3,  262208,
                2560,        10240,
                34,          8,
                4,           256,
                131072,      1000000.0,
                1e-6,        true,
                0,           8192,
                0,           0,
                0,           1024,
                10000.0,     8.0},
    // Tiny variants: the same families at test size.
    ModelPreset{"tiny-llama", "Llama family, test size", F::kLlama, 512, 256, 512, 2, 4, 2, 64, 2048, 500000.0, 1e-5,
                false, 8.0, 256},
    ModelPreset{"tiny-llama-tied", "Llama family with tied embeddings, test size", F::kLlama, 512, 256, 512, 2, 4, 2,
                64, 2048, 500000.0, 1e-5, true},
    ModelPreset{"tiny-mistral", "Mistral family, test size", F::kMistral, 512, 256, 512, 2, 4, 2, 64, 2048, 1000000.0,
                1e-5, false},
    ModelPreset{"tiny-qwen3", "Qwen3 family, test size", F::kQwen3, 512, 256, 512, 2, 4, 2, 64, 2048, 1000000.0, 1e-6,
                true},
    ModelPreset{"tiny-qwen3-moe", "Qwen3-MoE family, test size", F::kQwen3Moe, 512, 256, 512, 2, 4, 2, 64, 2048,
                1000000.0, 1e-6, false, 0, 8192, 8, 2, 256},
    ModelPreset{"tiny-gemma3",
                "Gemma 3 family, test size",
                F::kGemma3,
                512,
                256,
                512,
                2,
                4,
                2,
                64,
                2048,
                1000000.0,
                1e-6,
                true,
                0,
                8192,
                0,
                0,
                0,
                64,
                10000.0,
                8.0},
};

}  // namespace

std::span<const ModelPreset> model_presets() {
  return kPresets;
}

Expected<const ModelPreset*> find_preset(std::string_view name) {
  for (const ModelPreset& preset : kPresets) {
    if (preset.name == name) return &preset;
  }
  return make_error(ErrorCode::kNotFound, "no model preset '", name, "' (presets: ", preset_names(), ")");
}

std::string preset_names() {
  std::string names;
  for (const ModelPreset& preset : kPresets) names += (names.empty() ? "" : ", ") + std::string(preset.name);
  return names;
}

size_t preset_parameter_count(const ModelPreset& p) {
  const size_t q_dim = p.num_heads * p.head_dim;
  const size_t kv_dim = p.num_kv_heads * p.head_dim;
  size_t attention = p.hidden_size * (q_dim + 2 * kv_dim) + q_dim * p.hidden_size;
  if (p.family == PresetFamily::kQwen3 || p.family == PresetFamily::kQwen3Moe || p.family == PresetFamily::kGemma3) {
    attention += 2 * p.head_dim;  // q_norm, k_norm
  }
  const size_t mlp =
      p.num_experts > 0 ? p.num_experts * 3 * p.hidden_size * p.expert_intermediate_size + p.num_experts * p.hidden_size
                        : 3 * p.hidden_size * p.intermediate_size;
  const size_t norms = (p.family == PresetFamily::kGemma3 ? 4 : 2) * p.hidden_size;
  const size_t embeddings = p.vocab_size * p.hidden_size * (p.tie_word_embeddings ? 1 : 2);
  return p.num_layers * (attention + mlp + norms) + embeddings + p.hidden_size;
}

}  // namespace ferrum::synth
