// SentencePiece-style BPE (GGUF "llama" vocabularies): the text's characters start as symbols and
// the adjacent pair whose concatenation is the highest-scoring token is joined until no pair forms
// a token. Characters that never became a token are spelled with byte-fallback pieces <0xNN>.
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace ferrum::tokenizer {

class SentencePieceModel {
 public:
  explicit SentencePieceModel(const Vocab& vocab) : vocab_(vocab) {}

  // Appends the tokens of `text`, which must already have its spaces replaced by "▁" (and the
  // dummy prefix added when the vocabulary asks for one).
  void encode(std::string_view text, std::vector<TokenId>& out) const;

 private:
  void append_unmerged(std::string_view piece, std::vector<TokenId>& out) const;

  const Vocab& vocab_;
};

// `text` with every ' ' replaced by U+2581 "▁", SentencePiece's visible space.
std::string escape_spaces(std::string_view text);

}  // namespace ferrum::tokenizer
