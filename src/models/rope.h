// Rotary position embedding tables: the inverse frequencies of every scaling scheme in use
// (linear, dynamic NTK, Llama 3, YaRN; the parameters come from formats' RopeParams) and the
// cos / sin tables qk_norm_rope reads.
// Frequencies are rounded to f32 as Hugging Face transformers computes them, so tables match its
// float32 references; angles and their cos / sin are evaluated in double.
#pragma once

#include <cstddef>
#include <vector>

#include "core/error.h"
#include "formats/model_config.h"

namespace ferrum {

struct RopeTable {
  size_t positions = 0;
  size_t half_dim = 0;
  std::vector<float> cos;  // [positions, half_dim]
  std::vector<float> sin;  // [positions, half_dim]
};

// Inverse frequencies (rotary_dim / 2 of them) and the factor cos / sin are multiplied by.
struct RopeFrequencies {
  std::vector<float> inv_freq;
  double attention_factor = 1.0;
};

// `rotary_dim`: dimensions rotated per head; `max_positions`: the model's context
// (max_position_embeddings), which dynamic NTK and YaRN compare with the pre-training length.
Expected<RopeFrequencies> rope_frequencies(const RopeParams& params, size_t rotary_dim, size_t max_positions);

// cos / sin of position * inv_freq for positions [0, max_positions), scaled by the attention factor.
Expected<RopeTable> rope_table(const RopeParams& params, size_t rotary_dim, size_t max_positions);

// YaRN's magnitude correction 0.1 * mscale * ln(factor) + 1 (1 when factor <= 1); DeepSeek also
// applies its square to the softmax scale.
double yarn_mscale(double factor, double mscale);

}  // namespace ferrum
