// The tensors of a preset's model in the order a checkpoint stores them, under Hugging Face names
// and under llama.cpp's GGUF names, with how each is initialised. Shapes are outermost-first
// ([out_features, in_features] for a linear layer), as everywhere in ferrum.
#pragma once

#include <string>
#include <vector>

#include "core/tensor_view.h"
#include "synth/model_presets.h"

namespace ferrum::synth {

enum class WeightLayout {
  kHuggingFace,  // one tensor per expert (transformers 4 layout, which every loader reads)
  kGguf,         // experts stacked into ffn_*_exps tensors
};

enum class WeightInit {
  kNormal,       // N(0, std^2): projections and embeddings
  kOnes,         // RMSNorm weights
  kZeros,        // Gemma's RMSNorm weights in HF files, which store w - 1
  kRopeFactors,  // llama.cpp's rope_freqs.weight for Llama 3 long-context scaling
};

struct PlannedTensor {
  std::string name;  // in the layout's naming
  Shape shape;
  WeightInit init = WeightInit::kNormal;
  // A projection inside a decoder layer: what GPTQ / AWQ checkpoints quantize (never the
  // embeddings, the lm_head or the MoE router).
  bool is_layer_linear = false;
};

// Real checkpoints initialise weights with std 0.02 (initializer_range); random weights of that
// scale keep activations finite through every layer.
inline constexpr float kInitStd = 0.02f;

std::vector<PlannedTensor> plan_weights(const ModelPreset& preset, WeightLayout layout);

// llama.cpp's rope_freqs values for Llama 3 scaling: one divisor per rotary frequency.
std::vector<float> llama3_rope_factors(const ModelPreset& preset);

}  // namespace ferrum::synth
