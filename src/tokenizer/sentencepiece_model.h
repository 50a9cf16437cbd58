// SentencePiece-style BPE (GGUF "llama" vocabularies): the text's characters start as symbols and
// the adjacent pair whose concatenation is the highest-scoring token is joined until no pair forms
// a token. Characters that never became a token are spelled with byte-fallback pieces <0xNN>.
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"
#include "tokenizer/word_cache.h"

namespace ferrum::tokenizer {

class SentencePieceModel {
 public:
  explicit SentencePieceModel(const Vocab& vocab);

  // Appends the tokens of `text`, which must already have its spaces replaced by "▁" (and the
  // dummy prefix added when the vocabulary asks for one).
  void encode(std::string_view text, std::vector<TokenId>& out) const;

 private:
  void encode_segment(std::string_view text, std::vector<TokenId>& out) const;
  void append_unmerged(std::string_view piece, std::vector<TokenId>& out) const;

  const Vocab& vocab_;
  // True when no token has a "▁" right after another character, so no token can span the start
  // of a "▁word": the text is then cut there and each word merged (and cached) on its own, which
  // gives the same tokens as merging the whole text at once because merges never cross a cut.
  bool words_are_independent_ = false;
  mutable WordCache cache_;
};

// `text` with every ' ' replaced by U+2581 "▁", SentencePiece's visible space.
std::string escape_spaces(std::string_view text);

}  // namespace ferrum::tokenizer
