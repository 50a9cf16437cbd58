#include "grammar/token_trie.h"

#include <algorithm>
#include <numeric>

#include "tokenizer/detokenizer.h"

namespace ferrum::grammar {

TokenTrie TokenTrie::build(std::vector<std::string> token_bytes) {
  TokenTrie trie;
  trie.token_bytes_ = std::move(token_bytes);
  const std::vector<std::string>& bytes = trie.token_bytes_;
  std::vector<int32_t> order;
  for (size_t id = 0; id < bytes.size(); ++id) {
    if (!bytes[id].empty()) order.push_back(static_cast<int32_t>(id));
    trie.max_token_bytes_ = std::max(trie.max_token_bytes_, bytes[id].size());
  }
  // Sorted byte strings list every trie path in depth-first order: each token adds the nodes of
  // its suffix past the prefix it shares with the token before it.
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return bytes[a] < bytes[b] || (bytes[a] == bytes[b] && a < b); });
  std::vector<uint32_t> path;  // node index at each depth of the current path
  std::string_view previous;
  for (int32_t id : order) {
    const std::string_view current = bytes[static_cast<size_t>(id)];
    size_t shared = 0;
    while (shared < previous.size() && shared < current.size() && previous[shared] == current[shared]) ++shared;
    for (size_t depth = path.size(); depth > shared; --depth) {
      trie.nodes_[path[depth - 1]].subtree_end = static_cast<uint32_t>(trie.nodes_.size());
    }
    path.resize(shared);
    for (size_t depth = shared; depth < current.size(); ++depth) {
      Node node;
      node.byte = static_cast<uint8_t>(current[depth]);
      node.depth = static_cast<uint16_t>(depth + 1);
      path.push_back(static_cast<uint32_t>(trie.nodes_.size()));
      trie.nodes_.push_back(node);
    }
    Node& leaf = trie.nodes_[path.back()];
    if (leaf.tokens_begin == leaf.tokens_end) {  // the first token ending here
      leaf.tokens_begin = leaf.tokens_end = static_cast<uint32_t>(trie.token_ids_.size());
    }
    trie.token_ids_.push_back(id);
    leaf.tokens_end = static_cast<uint32_t>(trie.token_ids_.size());
    previous = current;
  }
  for (uint32_t index : path) trie.nodes_[index].subtree_end = static_cast<uint32_t>(trie.nodes_.size());
  return trie;
}

TokenTrie TokenTrie::from_vocab(const tokenizer::Vocab& vocab) {
  std::vector<std::string> bytes(vocab.size());
  for (size_t id = 0; id < vocab.size(); ++id) {
    auto piece = tokenizer::token_piece(vocab, static_cast<tokenizer::TokenId>(id), {.render_special = false});
    if (piece) bytes[id] = std::move(*piece);
  }
  return build(std::move(bytes));
}

}  // namespace ferrum::grammar
