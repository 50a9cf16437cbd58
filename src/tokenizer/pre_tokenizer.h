// Byte-level BPE pre-tokenization: a chain of regex splits, each applied to every piece the
// previous one produced, turning text into the "words" that BPE merges never cross.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "tokenizer/regex_splitter.h"

namespace ferrum::tokenizer {

class PreTokenizer {
 public:
  static Expected<PreTokenizer> from_patterns(const std::vector<std::string>& patterns);
  // The chain llama.cpp uses for a GGUF tokenizer.ggml.pre value ("gpt-2", "llama-bpe", "qwen2",
  // ...); kUnsupported for names we do not know, so a wrong split never goes unnoticed.
  static Expected<PreTokenizer> for_gguf_pre_type(std::string_view pre_type);
  // The regex chain for `pre_type`, or an empty list for unknown names.
  static std::vector<std::string> gguf_pre_type_patterns(std::string_view pre_type);

  // Every pre-type name for_gguf_pre_type accepts.
  static std::vector<std::string_view> known_gguf_pre_types();

  // Appends the words of `text` (valid UTF-8), views into `text`, to `words`.
  void split(std::string_view text, std::vector<std::string_view>& words) const;
  size_t stage_count() const { return splitters_.size(); }

 private:
  std::vector<RegexSplitter> splitters_;
};

// GPT-2's pattern, the one HF's ByteLevel pre-tokenizer applies when use_regex is true.
extern const char* const kGpt2SplitPattern;

}  // namespace ferrum::tokenizer
