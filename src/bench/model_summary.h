// What a benchmarked model is, for report headers: its weight type as people name it ("bf16",
// "Q4_K_M", "gptq-int4"), its size on disk, and whether it is a random-weight model from
// `ferrum gen-model` (and from which preset), so no report passes random weights off as real ones.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/error.h"
#include "models/model_files.h"

namespace ferrum::bench {

struct ModelSummary {
  std::string name;                             // the file or directory name
  std::string weights;                          // "bf16", "Q4_K_M", "gptq-int4", ...
  bool integer_weights = false;                 // GGUF quantized types, GPTQ, AWQ: the CPU multiplies them in int8
  uint64_t file_bytes = 0;                      // weight files on disk
  std::optional<std::string> synthetic_preset;  // gen-model's preset, when the weights are random
};

Expected<ModelSummary> summarise_model(const ModelFiles& files);

}  // namespace ferrum::bench
