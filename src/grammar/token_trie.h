// The vocabulary as constrained decoding sees it: each token's raw bytes (as the detokenizer would
// append them mid-text), arranged in a trie stored in depth-first order. A mask computation walks it
// once, advancing the grammar by one byte per trie edge, so tokens that share a prefix share the
// work, and a subtree the grammar rejects at its root is skipped in one jump.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace ferrum::grammar {

class TokenTrie {
 public:
  struct Node {
    uint8_t byte = 0;
    uint16_t depth = 0;                         // 1 for children of the (implicit) root
    uint32_t subtree_end = 0;                   // index one past this node's last descendant
    uint32_t tokens_begin = 0, tokens_end = 0;  // into token_ids(): tokens spelled by the path to here
  };

  // `token_bytes[id]` is the bytes token `id` adds; tokens with no bytes (control tokens, unused
  // slots) are left out of the trie and can never be allowed by a grammar.
  static TokenTrie build(std::vector<std::string> token_bytes);
  // Byte strings of every token of `vocab` via tokenizer::token_piece (special tokens rendered empty).
  static TokenTrie from_vocab(const tokenizer::Vocab& vocab);

  size_t vocab_size() const { return token_bytes_.size(); }
  std::span<const Node> nodes() const { return nodes_; }
  std::span<const int32_t> token_ids() const { return token_ids_; }
  std::string_view token_bytes(int32_t id) const { return token_bytes_[static_cast<size_t>(id)]; }
  size_t max_token_bytes() const { return max_token_bytes_; }

 private:
  std::vector<std::string> token_bytes_;
  std::vector<Node> nodes_;
  std::vector<int32_t> token_ids_;
  size_t max_token_bytes_ = 0;
};

}  // namespace ferrum::grammar
