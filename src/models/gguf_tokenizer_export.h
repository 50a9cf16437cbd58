// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) as GGUF tokenizer.ggml.* keys,
// the way llama.cpp-compatible readers expect them: model "gpt2" for byte-level BPE, the tokens
// padded to the model's vocabulary with [PAD<id>] tokens of type unused, token types (control for
// special added tokens, user-defined for the other added ones), merges as "left right" strings,
// the pre-tokenizer named after the regex chain it uses, special-token ids, add_bos / add_eos and
// the chat template(s).
#pragma once

#include <cstddef>
#include <filesystem>

#include "core/error.h"
#include "formats/gguf_writer.h"

namespace ferrum {

// `config_path` may be empty. `vocab_size` 0 means the tokenizer's own size.
Status write_tokenizer_metadata(GgufWriter& writer, const std::filesystem::path& tokenizer_json,
                                const std::filesystem::path& config_path, size_t vocab_size);

}  // namespace ferrum
