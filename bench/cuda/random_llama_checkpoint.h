// A Llama-architecture checkpoint with random bf16 weights (config.json + one model.safetensors),
// written in-process so the GPU benchmark needs nothing but this binary: decode and prefill speed
// do not depend on the weights' values, only on the shapes and the bytes read.
#pragma once

#include <cstddef>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ferrum::bench {

// Llama-3.1-8B by default.
struct RandomLlamaShape {
  size_t vocab = 128256;
  size_t hidden = 4096;
  size_t intermediate = 14336;
  size_t layers = 32;
  size_t heads = 32;
  size_t kv_heads = 8;
  size_t head_dim = 128;
};

nlohmann::json llama_config_json(const RandomLlamaShape& shape);
// Writes dir/config.json and dir/model.safetensors (deterministic values, every core filling and
// writing 32 MiB pieces); returns the safetensors file's size in bytes.
Expected<size_t> write_random_llama(const std::filesystem::path& dir, const RandomLlamaShape& shape);

}  // namespace ferrum::bench
