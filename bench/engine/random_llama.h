// A Llama checkpoint with random weights, written in the Hugging Face layout (config.json +
// model.safetensors, bf16) so benchmarks load it through the same path as a real model. Weights are
// uniform in +-1/sqrt(fan_in) and norms are 1, so activations stay O(1) through every layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/error.h"

namespace ferrum::bench {

struct RandomLlamaShape {
  size_t vocab = 4096;
  size_t hidden = 256;
  size_t intermediate = 768;
  size_t layers = 4;
  size_t heads = 8;
  size_t kv_heads = 4;
  size_t head_dim = 32;
  size_t max_positions = 8192;

  size_t parameters() const;
};

// Named shapes: "tiny" (5M parameters, the CPU default), "small" (~110M), "1b" (Llama 3.2 1B's
// shapes, 1.2B), "8b" (Llama 3.1 8B's shapes).
Expected<RandomLlamaShape> random_llama_shape(const std::string& name);

Status write_random_llama(const std::filesystem::path& dir, const RandomLlamaShape& shape, uint64_t seed);

}  // namespace ferrum::bench
