// Finds the files of a model: a Hugging Face style directory (config.json, tokenizer files,
// safetensors weights, single or sharded), a directory holding one GGUF, or a file given directly.
// resolve_model_path turns what a user typed (a path, or "org/name" of a pulled model) into a path.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ferrum {

enum class WeightFormat {
  kSafetensors,         // one .safetensors file
  kSafetensorsSharded,  // shards listed by an index.json
  kGguf,
};

struct ModelDir {
  std::filesystem::path root;
  std::optional<std::filesystem::path> config;             // config.json
  std::optional<std::filesystem::path> generation_config;  // generation_config.json
  std::optional<std::filesystem::path> tokenizer;          // tokenizer.json
  std::optional<std::filesystem::path> tokenizer_config;   // tokenizer_config.json
  std::optional<std::filesystem::path>
      quantize_config;  // quantize_config.json (AutoGPTQ) or quant_config.json (AutoAWQ)
  WeightFormat weight_format = WeightFormat::kSafetensors;
  // The file to open: the .safetensors file, the index.json of a sharded checkpoint, or the .gguf.
  std::filesystem::path weights;

  // `path` is a model directory, or a .gguf / .safetensors / index.json file (its directory is then
  // searched for the other files).
  static Expected<ModelDir> open(const std::filesystem::path& path);
};

// An existing path is returned as is; "org/name" is looked up in the Hugging Face cache at
// `revision`. kNotFound names both places looked at.
Expected<std::filesystem::path> resolve_model_path(std::string_view spec, std::string_view revision = "main");

}  // namespace ferrum
