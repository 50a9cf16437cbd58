// Reads a GGUF file's tokenizer.ggml.* metadata into a TokenizerSpec, with llama.cpp's defaults
// for keys a file leaves out (it is the reference these vocabularies are checked against).
#pragma once

#include "core/error.h"
#include "formats/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace ferrum::tokenizer {

Expected<TokenizerSpec> read_gguf_tokenizer_spec(const GgufFile& file);

}  // namespace ferrum::tokenizer
