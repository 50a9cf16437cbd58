// WordPiece (BERT): basic tokenization splits text into words (whitespace, punctuation, ASCII
// symbols and CJK ideographs each end a word; lowercasing and accent stripping as the vocabulary was
// trained), then each word is cut greedily into the longest tokens from the left. A word that
// cannot be cut completely becomes a single [UNK].
//
// GGUF vocabularies spell word-initial tokens with a "▁" prefix and continuations bare (the
// converter's rewrite of BERT's "##" continuations), which is what this model expects.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace ferrum::tokenizer {

class WordPieceModel {
 public:
  explicit WordPieceModel(const Vocab& vocab);

  void encode(std::string_view text, std::vector<TokenId>& out) const;
  // The words of `text` after basic tokenization (lowercased, accents removed).
  static std::vector<std::string> basic_tokenize(std::string_view text);

 private:
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;

  const Vocab& vocab_;
  size_t max_token_bytes_ = 0;
};

}  // namespace ferrum::tokenizer
