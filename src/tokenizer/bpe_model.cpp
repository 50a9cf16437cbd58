#include "tokenizer/bpe_model.h"

#include <algorithm>

#include "tokenizer/byte_level.h"

namespace ferrum::tokenizer {
namespace {

struct Symbol {
  TokenId id;
  int32_t prev;
  int32_t next;
};

// A pair that may be merged. It goes stale when either side changes; `left_id`/`right_id` and the
// link check on pop detect that, which is cheaper than removing entries from the heap.
struct Candidate {
  uint32_t rank;
  int32_t left;
  int32_t right;
  TokenId left_id;
  TokenId right_id;
  TokenId result;
};

// Lowest rank first; among equal ranks the leftmost pair, as both reference implementations do.
struct LaterCandidate {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  }
};

}  // namespace

void BpeModel::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  if (cache_.lookup(word, out)) return;
  const size_t start = out.size();
  if (vocab_.flags().ignore_merges) {
    thread_local std::string spelling;
    spelling.clear();
    append_byte_level(spelling, word);
    if (const TokenId whole = vocab_.find(spelling); whole != kNoToken) {
      out.push_back(whole);
      cache_.insert(word, std::span(out).subspan(start));
      return;
    }
  }
  merge_word(word, out);
  cache_.insert(word, std::span(out).subspan(start));
}

void BpeModel::merge_word(std::string_view word, std::vector<TokenId>& out) const {
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> queue;  // a binary heap; reused so short words allocate nothing
  symbols.clear();
  const int32_t n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back({vocab_.byte_token(static_cast<uint8_t>(word[i])), i - 1, i + 1 < n ? i + 1 : -1});
  }

  queue.clear();
  const auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const TokenId left_id = symbols[left].id;
    const TokenId right_id = symbols[right].id;
    if (left_id == kNoToken || right_id == kNoToken) return;
    if (const Vocab::Merge* merge = vocab_.find_merge(left_id, right_id)) {
      queue.push_back({merge->rank, left, right, left_id, right_id, merge->result});
      std::push_heap(queue.begin(), queue.end(), LaterCandidate{});
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i, i + 1);

  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), LaterCandidate{});
    const Candidate top = queue.back();
    queue.pop_back();
    Symbol& left = symbols[top.left];
    if (left.id != top.left_id || left.next != top.right || symbols[top.right].id != top.right_id) continue;
    Symbol& right = symbols[top.right];
    left.id = top.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.id = kNoToken;
    right.prev = right.next = -1;
    consider(left.prev, top.left);
    consider(top.left, left.next);
  }

  for (int32_t i = 0; i >= 0 && i < n; i = symbols[i].next) {
    if (symbols[i].id != kNoToken) {
      out.push_back(symbols[i].id);
    } else if (vocab_.special().unk != kNoToken) {
      out.push_back(vocab_.special().unk);  // a byte the vocabulary cannot spell
    }
  }
}

}  // namespace ferrum::tokenizer
