// Finds added tokens (<|im_start|>, <think>, user-defined pieces) in text before any other
// processing, splitting it into fragments that are either raw text or one token id.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace ferrum::tokenizer {

// The two peers choose overlapping matches differently; the difference only shows when one added
// token contains the start of another.
enum class AddedTokenMatching {
  kLeftmostLongest,    // HF tokenizers: scan left to right, take the longest token at each spot
  kLongestTokenFirst,  // llama.cpp: longest token over the whole text first, then the next longest
};

struct Fragment {
  std::string_view text;     // raw text, when token == kNoToken
  TokenId token = kNoToken;  // a matched added token
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher(std::span<const AddedToken> tokens, AddedTokenMatching matching);

  // Splits `text` into fragments. Special tokens are matched only when `parse_special`; the
  // `normalized` pass matches the tokens flagged normalized, the raw pass the others.
  void partition(std::string_view text, bool parse_special, bool normalized_pass, std::vector<Fragment>& out) const;
  bool empty() const { return tokens_.empty(); }
  bool has_normalized_tokens() const;

 private:
  struct Match {
    size_t begin;  // including any stripped whitespace
    size_t end;
    TokenId token;
  };
  bool eligible(const AddedToken& token, bool parse_special, bool normalized_pass) const {
    return (parse_special || !token.special) && token.normalized == normalized_pass;
  }
  // The span a match of `token` at [begin, end) covers once lstrip/rstrip swallow whitespace.
  Match widen(const AddedToken& token, std::string_view text, size_t begin, size_t end, size_t floor,
              size_t ceiling) const;
  bool is_single_word_match(std::string_view text, size_t begin, size_t end) const;
  void partition_leftmost_longest(std::string_view text, bool parse_special, bool normalized_pass,
                                  std::vector<Fragment>& out) const;
  void partition_longest_first(std::string_view text, bool parse_special, bool normalized_pass,
                               std::vector<Fragment>& out) const;

  std::vector<const AddedToken*> tokens_;  // longest content first
  AddedTokenMatching matching_;
  bool may_start_with_[256] = {};
};

}  // namespace ferrum::tokenizer
