// Parsing of Hugging Face config.json (and quantize_config.json) into ModelConfig.
//
// Architectures are recognised by config.json's "architectures"[0] (or model_type when that is
// absent); anything else is refused by name. Fields every real checkpoint of a family carries are
// required and a missing one is named with the file; fields transformers gives defaults to get the
// same defaults here. Both rope spellings are read: the classic rope_theta + rope_scaling (with
// "rope_type" or the legacy "type") and transformers 5's rope_parameters (flat, or per layer type
// as {"full_attention": {...}, "sliding_attention": {...}}).
#pragma once

#include <filesystem>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/model_config.h"
#include "formats/quantization_config.h"

namespace ferrum {

// `source` names the file in error messages.
Expected<ModelConfig> parse_hf_config(std::string_view json_text, std::string_view source = "config.json");
Expected<ModelConfig> parse_hf_config(const nlohmann::json& config, std::string_view source);

// Reads config.json; when it has no quantization_config, a quantize_config.json (AutoGPTQ) or
// quant_config.json (AutoAWQ) in the same directory supplies it.
Expected<ModelConfig> load_hf_config(const std::filesystem::path& config_json);

}  // namespace ferrum
