// Byte-level BPE: a word's bytes start as single-byte tokens and the adjacent pair with the lowest
// merge rank is joined until no pair has a merge. A priority queue of candidate pairs keeps this
// O(n log n) in the word length, so a 1 MB "word" costs no more than 1 MB of short words.
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"
#include "tokenizer/word_cache.h"

namespace ferrum::tokenizer {

class BpeModel {
 public:
  explicit BpeModel(const Vocab& vocab) : vocab_(vocab) {}

  // Appends the tokens of one pre-tokenized word (raw bytes, not the byte-level spelling).
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;

 private:
  void merge_word(std::string_view word, std::vector<TokenId>& out) const;

  const Vocab& vocab_;
  mutable WordCache cache_;
};

}  // namespace ferrum::tokenizer
