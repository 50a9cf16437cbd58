// JSON parsing for the formats module with nlohmann::json's exceptions caught at this boundary:
// malformed text becomes an Error naming the source and nlohmann's description of where it broke.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ferrum {

// Parses `text`; `source` (a file name) prefixes error messages.
Expected<nlohmann::json> parse_json(std::string_view text, std::string_view source);
Expected<nlohmann::json> read_json_file(const std::filesystem::path& path);
Expected<std::string> read_text_file(const std::filesystem::path& path);

// A JSON value as compact text for error messages, cut to `max_chars`; never throws (invalid UTF-8
// is replaced).
std::string json_snippet(const nlohmann::json& value, size_t max_chars = 80);

// The name of a JSON value's type for messages: "string", "number", "object", ...
std::string_view json_type_name(const nlohmann::json& value);

}  // namespace ferrum
