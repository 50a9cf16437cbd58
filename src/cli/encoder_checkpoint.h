// Opening a Hugging Face checkpoint of an encoder-style family for the embed / transcribe commands:
// its directory, parsed config.json and safetensors weights. GGUF files are refused by name (these
// families run from safetensors only).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "formats/model_config.h"
#include "formats/model_dir.h"
#include "models/safetensors_source.h"

namespace ferrum::cli {

struct EncoderCheckpoint {
  ModelDir dir;
  ModelConfig config;
  std::unique_ptr<SafetensorsSource> source;
};

// `model` is a directory, a file inside one, or "org/name" of a pulled model.
Expected<EncoderCheckpoint> open_encoder_checkpoint(std::string_view model);

// "1,2, 3" or "[1, 2, 3]" -> ids.
Expected<std::vector<uint32_t>> parse_id_list(std::string_view text);

}  // namespace ferrum::cli
