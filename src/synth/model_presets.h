// The shapes of real model architectures, for generating random-weight models to benchmark
// without downloads (`ferrum gen-model --preset NAME`). Every number is copied from the model's
// published config.json, so a generated model costs exactly what the real one does to run.
// Tiny presets keep the same families at a few MB for tests; their sizes are multiples of 256 so
// every quantized type (K-quants, GPTQ / AWQ groups of 128) applies to every matrix.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ferrum::synth {

enum class PresetFamily { kLlama, kMistral, kQwen3, kQwen3Moe, kGemma3 };

struct ModelPreset {
  std::string_view name;
  std::string_view description;
  PresetFamily family;
  size_t vocab_size;
  size_t hidden_size;
  size_t intermediate_size;  // dense MLP
  size_t num_layers;
  size_t num_heads;
  size_t num_kv_heads;
  size_t head_dim;
  size_t max_position_embeddings;
  double rope_theta;
  double norm_eps;
  bool tie_word_embeddings;
  // Llama 3.1 / 3.2 long-context RoPE ("llama3" scaling); 0 = none.
  double llama3_rope_factor = 0;
  size_t llama3_original_context = 8192;
  // Qwen3-MoE.
  size_t num_experts = 0;
  size_t experts_per_token = 0;
  size_t expert_intermediate_size = 0;
  // Gemma 3: sliding-window layers (five of every six) and linear RoPE scaling on global layers.
  size_t sliding_window = 0;
  double rope_local_theta = 10000.0;
  double linear_rope_factor = 0;
};

// Every preset, real shapes first.
std::span<const ModelPreset> model_presets();
Expected<const ModelPreset*> find_preset(std::string_view name);
// "llama3.1-8b, llama3.2-1b, ..." for help and error messages.
std::string preset_names();

// Parameter count (embeddings, every expert and the untied lm_head included).
size_t preset_parameter_count(const ModelPreset& preset);

}  // namespace ferrum::synth
