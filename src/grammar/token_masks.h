// Which tokens a grammar allows next, computed fast enough to run before every sampled token.
//
// Two caches, both shared by every request that uses the same grammar and vocabulary:
//  - per automaton state, a "local" mask from one walk of the token trie that starts at that state
//    with an unknown caller. A token is accepted when all its bytes are consumed without leaving the
//    state's rule; a token that leaves the rule (the rule ends part-way through it: `",` after a
//    string) is recorded as uncertain, with the byte offset where it left. Rules are JSON values
//    (strings, numbers, objects), so only tokens that close a value are ever uncertain.
//  - per whole configuration (every thread's state and full stack), the final mask: the union of the
//    threads' local masks plus the uncertain tokens that the real callers on the stack accept.
// Decoding mostly revisits configurations (inside a string every character leads back to the same
// one), so the steady-state cost is one hash lookup and one pass over the logits.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "grammar/automaton.h"
#include "grammar/matcher.h"
#include "grammar/token_trie.h"

namespace ferrum::grammar {

class TokenBitset {
 public:
  explicit TokenBitset(size_t size = 0) : words_((size + 63) / 64, 0), size_(size) {}
  void set(size_t i) { words_[i >> 6] |= uint64_t{1} << (i & 63); }
  bool test(size_t i) const { return (words_[i >> 6] >> (i & 63)) & 1; }
  void clear() { std::fill(words_.begin(), words_.end(), 0); }
  void merge(const TokenBitset& other) {
    for (size_t i = 0; i < words_.size(); ++i) words_[i] |= other.words_[i];
  }
  size_t size() const { return size_; }
  std::span<const uint64_t> words() const { return words_; }

 private:
  std::vector<uint64_t> words_;
  size_t size_ = 0;
};

class GrammarTokenMasks {
 public:
  GrammarTokenMasks(std::shared_ptr<const Automaton> automaton, std::shared_ptr<const TokenTrie> trie);

  const std::shared_ptr<const Automaton>& automaton() const { return automaton_; }
  const TokenTrie& trie() const { return *trie_; }

  // The tokens (by id, end-of-generation aside) that `matcher` accepts next, into `out`.
  void allowed(GrammarMatcher& matcher, TokenBitset& out);

  struct Stats {
    size_t local_masks = 0;  // trie walks done
    size_t memo_hits = 0;    // configurations answered from the memo
    size_t memo_misses = 0;
  };
  Stats stats() const;

  // Configurations remembered before the memo is emptied (bounds memory: one bitset each).
  static constexpr size_t kMaxMemoEntries = 512;

 private:
  struct LocalMask {
    TokenBitset accepted;
    std::vector<std::pair<int32_t, uint16_t>> uncertain;  // token, byte offset where it leaves the rule
  };

  std::shared_ptr<const LocalMask> local_mask(StateId state);
  LocalMask walk(StateId state) const;
  static std::string configuration_key(GrammarMatcher& matcher);

  std::shared_ptr<const Automaton> automaton_;
  std::shared_ptr<const TokenTrie> trie_;

  mutable std::mutex mutex_;
  std::unordered_map<StateId, std::shared_ptr<const LocalMask>> local_;
  std::unordered_map<std::string, std::shared_ptr<const TokenBitset>> memo_;
  Stats stats_;
};

}  // namespace ferrum::grammar
