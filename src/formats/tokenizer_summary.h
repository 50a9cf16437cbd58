// What `ferrum inspect` says about a model's tokenizer: its kind, vocabulary size and special
// tokens, read from GGUF tokenizer.ggml.* metadata or from tokenizer.json / tokenizer_config.json.
// A summary only: the tokenizer module owns real tokenization.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/gguf_file.h"

namespace ferrum {

struct SpecialToken {
  std::string role;  // "bos", "eos", "unk", "pad", "eot", or "special" for other added tokens
  int64_t id = -1;
  std::string text;
};

struct TokenizerSummary {
  std::string model;  // GGUF tokenizer.ggml.model ("gpt2", "llama", "bert") or tokenizer.json model.type
  std::string pre;    // GGUF tokenizer.ggml.pre, when present
  size_t vocab_size = 0;
  size_t merges = 0;
  std::vector<SpecialToken> special_tokens;
  bool has_chat_template = false;
  std::optional<bool> add_bos;
};

// nullopt when the file has no tokenizer.ggml.tokens.
Expected<std::optional<TokenizerSummary>> summarize_gguf_tokenizer(const GgufFile& file);
// `tokenizer_config` may be empty.
Expected<TokenizerSummary> summarize_tokenizer_json(const std::filesystem::path& tokenizer_json,
                                                    const std::optional<std::filesystem::path>& tokenizer_config);

}  // namespace ferrum
