// Opens what a model is made of, whatever form it comes in (an HF directory, a .safetensors file,
// a .gguf, "org/name" in the HF cache): its parsed config and a WeightSource speaking HF names.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "formats/model_config.h"
#include "formats/model_dir.h"
#include "models/weight_loader.h"
#include "models/weight_source.h"

namespace ferrum {

struct ModelFiles {
  ModelDir dir;
  ModelConfig config;
  std::unique_ptr<WeightSource> weights;

  bool is_gguf() const { return dir.weight_format == WeightFormat::kGguf; }
  // Loader settings the checkpoint implies (GPTQ / AWQ quantization).
  WeightLoaderOptions loader_options() const;
};

// `spec`: a path, or "org/name" of a model in the Hugging Face cache.
Expected<ModelFiles> open_model_files(std::string_view spec);

}  // namespace ferrum
