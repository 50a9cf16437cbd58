// A bounded, thread-safe map from a pre-tokenized word to its tokens. Prose repeats a few thousand
// words, so most words skip the merge loop entirely.
#pragma once

#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace ferrum::tokenizer {

class WordCache {
 public:
  // Words longer than this are not cached: they are rare and would make entries unbounded.
  static constexpr size_t kMaxWordBytes = 64;
  explicit WordCache(size_t max_entries = 1 << 16) : max_entries_(max_entries) {}

  // Appends the cached tokens of `word` to `out` and returns true, or returns false.
  bool lookup(std::string_view word, std::vector<TokenId>& out) const;
  void insert(std::string_view word, std::span<const TokenId> tokens);

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  size_t max_entries_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::vector<TokenId>, Hash, std::equal_to<>> entries_;
};

}  // namespace ferrum::tokenizer
