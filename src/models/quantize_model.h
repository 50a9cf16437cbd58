// `ferrum quantize`: writes a GGUF file from a GGUF file or a Hugging Face safetensors directory,
// every tensor stored as a quantization recipe says (quant/quant_recipe.h).
//
// From a Hugging Face directory it writes what llama.cpp's own converter would for the llama
// family (llama, mistral -> "llama"; qwen2; qwen3; qwen3moe; gemma3): GGUF tensor names, the
// <arch>.* hyper-parameter keys, Llama's Q / K rows permuted for interleaved-pair RoPE, Llama 3's
// rope scaling as rope_freqs.weight, Gemma's RMSNorm weights with the +1 folded in, stacked MoE
// experts, and the tokenizer (tokenizer.ggml.* from tokenizer.json, the chat template from
// tokenizer_config.json). From a GGUF file it keeps every metadata key and re-encodes the tensors.
//
// Tensors are produced one at a time, in pieces of rows, while the file is written: memory holds
// one piece of one tensor, never the model. Rows are quantized on a pool of `threads` threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "core/dtype.h"
#include "core/error.h"
#include "quant/quant_recipe.h"

namespace ferrum {

struct QuantizeProgress {
  size_t tensor = 0;  // 0-based index of the tensor being written
  size_t tensors = 0;
  std::string name;  // its GGUF name
  DType type = DType::kF32;
  uint64_t values_done = 0;  // over the whole model
  uint64_t values_total = 0;
};

struct QuantizeOptions {
  std::filesystem::path input;  // a .gguf file, or a directory (or file) with safetensors + config.json
  std::filesystem::path output;
  quant::QuantRecipe recipe = quant::QuantRecipe::kQ8_0;
  size_t threads = 0;  // 0: every core
  std::function<void(const QuantizeProgress&)> progress;
};

struct QuantizeReport {
  std::string architecture;  // GGUF general.architecture
  size_t tensors = 0;
  uint64_t input_bytes = 0;
  uint64_t output_bytes = 0;  // tensor data only
  std::map<DType, size_t> tensors_per_type;
  bool wrote_tokenizer = false;
};

Expected<QuantizeReport> quantize_model(const QuantizeOptions& options);

}  // namespace ferrum
