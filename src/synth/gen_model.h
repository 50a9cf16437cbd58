// `ferrum gen-model`: a random-weight model with the exact shapes of a real architecture, written
// as a Hugging Face directory (config.json, generation_config.json, tokenizer files, safetensors
// sharded like transformers does above 5 GB) or as one GGUF file llama.cpp would accept.
// Tensors are produced and written one slice at a time (see tensor_content.h), so generating a
// 140 GB model needs no more memory than a small one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "core/error.h"

namespace ferrum::synth {

struct GenModelOptions {
  std::string preset;
  // bf16, f16, f32; Q8_0, Q4_K_M, Q5_K_M, Q6_K, Q4_0 (GGUF only; quant/quant_recipe.h's types per
  // tensor); gptq-int4, awq-int4 (HF only).
  std::string dtype = "bf16";
  std::filesystem::path out;                       // a directory (HF), or a file ending in .gguf
  std::optional<std::filesystem::path> tokenizer;  // a tokenizer.json (or a directory holding one)
  uint64_t seed = 0;
  size_t threads = 0;                    // 0 = all cores
  bool force = false;                    // replace what is at `out`
  uint64_t shard_bytes = 5'000'000'000;  // HF: largest safetensors shard (transformers' default)
  // Write every layer tensor as a byte copy of the first layer's tensor of that name with its dtype
  // and shape, skipping its generation and quantization (speed does not depend on the values). For
  // speed benchmarks only: the layers are identical. Holds about a layer's bytes in memory.
  bool repeat_first_layer = false;
};

struct GenModelResult {
  std::filesystem::path path;
  std::string format;  // "gguf" or "safetensors"
  size_t tensors = 0;
  size_t shards = 1;
  uint64_t parameters = 0;
  uint64_t bytes = 0;         // tensor data written
  size_t copied_tensors = 0;  // repeat_first_layer: tensors written as copies of an earlier layer's
  double seconds = 0;
};

// Called after each tensor with the bytes written so far and the total to write.
using GenProgress = std::function<void(uint64_t done, uint64_t total)>;

Expected<GenModelResult> generate_model(const GenModelOptions& options, const GenProgress& progress = {});

}  // namespace ferrum::synth
