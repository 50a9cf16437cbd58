// Finds and loads a model's tokenizer: a .gguf file (its tokenizer.ggml.* metadata), a
// tokenizer.json file, or a model directory holding either.
#pragma once

#include <filesystem>
#include <memory>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace ferrum::tokenizer {

Expected<std::unique_ptr<Tokenizer>> load_tokenizer(const std::filesystem::path& path);
// tokenizer.json, with tokenizer_config.json from the same directory when present.
Expected<std::unique_ptr<Tokenizer>> load_hf_tokenizer(const std::filesystem::path& tokenizer_json_path);
Expected<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const std::filesystem::path& gguf_path);

}  // namespace ferrum::tokenizer
