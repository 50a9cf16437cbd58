// GPTQ / AWQ settings from config.json's quantization_config, AutoGPTQ's quantize_config.json or
// AutoAWQ's quant_config.json.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/model_config.h"

namespace ferrum {

// `default_method` applies when the object has no quant_method (AutoGPTQ's file has none).
// Methods other than gptq and awq are refused by name.
Expected<QuantizationConfig> parse_quantization_config(const nlohmann::json& object, std::string_view source,
                                                       std::string_view default_method);

}  // namespace ferrum
