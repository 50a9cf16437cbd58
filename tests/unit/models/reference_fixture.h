// Reads an hf-tiny fixture: its config, weights and the reference outputs HF transformers computed.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ferrum::testing {

std::filesystem::path hf_tiny_dir(const std::string& model);

// The float32 tensor `name` of `model`/reference.safetensors, flattened.
Expected<std::vector<float>> reference_tensor(const std::string& model, const std::string& name);
// The int32 tensor `name` of reference.safetensors as unsigned token ids.
Expected<std::vector<uint32_t>> reference_ids(const std::string& model, const std::string& name);
Expected<nlohmann::json> reference_json(const std::string& model);

struct Difference {
  double max_abs = 0;
  size_t worst_index = 0;
};
Difference max_abs_difference(const std::vector<float>& actual, const std::vector<float>& expected);

}  // namespace ferrum::testing
