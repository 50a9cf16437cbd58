// Reads a Hugging Face tokenizer.json (and tokenizer_config.json beside it) into a TokenizerSpec.
// Supported: byte-level BPE models with NFC/NFKC normalizers, Split/ByteLevel/Digits
// pre-tokenizers, added tokens with their lstrip/rstrip/normalized/single_word flags, BOS/EOS from
// tokenizer_config.json or a TemplateProcessing post-processor. Anything else is kUnsupported with
// the component named, never silently approximated.
#pragma once

#include <filesystem>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace ferrum::tokenizer {

// `config_path` may be empty or name a missing file: the config is optional.
Expected<TokenizerSpec> read_hf_tokenizer_spec(const std::filesystem::path& tokenizer_json_path,
                                               const std::filesystem::path& config_path);

}  // namespace ferrum::tokenizer
