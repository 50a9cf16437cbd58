#include "tokenizer/sentencepiece_model.h"

#include <algorithm>
#include <string>

#include "tokenizer/utf8.h"

namespace ferrum::tokenizer {
namespace {

constexpr std::string_view kVisibleSpace = "\xE2\x96\x81";  // "▁"

struct Symbol {
  uint32_t offset;
  uint32_t length;  // 0 once merged into its left neighbour
  int32_t prev;
  int32_t next;
};

struct Candidate {
  float score;
  int32_t left;
  int32_t right;
  uint32_t length;  // combined length when queued; a mismatch on pop means a side has changed
};

// Highest score first; among equal scores the leftmost pair (SentencePiece's rule).
struct LaterCandidate {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score != b.score ? a.score < b.score : a.left > b.left;
  }
};

}  // namespace

std::string escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (char c : text) {
    if (c == ' ') {
      out += "\xE2\x96\x81";
    } else {
      out += c;
    }
  }
  return out;
}

SentencePieceModel::SentencePieceModel(const Vocab& vocab) : vocab_(vocab) {
  words_are_independent_ = true;
  for (size_t id = 0; id < vocab.size() && words_are_independent_; ++id) {
    const std::string_view text = vocab.text(static_cast<TokenId>(id));
    for (size_t pos = text.find(kVisibleSpace, 1); pos != std::string_view::npos;
         pos = text.find(kVisibleSpace, pos + 1)) {
      if (text.substr(0, pos).ends_with(kVisibleSpace)) continue;  // "▁▁" runs are fine
      words_are_independent_ = false;
      break;
    }
  }
}

void SentencePieceModel::encode(std::string_view text, std::vector<TokenId>& out) const {
  if (!words_are_independent_) {
    encode_segment(text, out);
    return;
  }
  size_t start = 0;
  while (start < text.size()) {
    // The next cut: a "▁" that follows something other than "▁".
    size_t cut = text.find(kVisibleSpace, start + 1);
    while (cut != std::string_view::npos && text.substr(0, cut).ends_with(kVisibleSpace)) {
      cut = text.find(kVisibleSpace, cut + 1);
    }
    if (cut == std::string_view::npos) cut = text.size();
    const std::string_view word = text.substr(start, cut - start);
    if (!cache_.lookup(word, out)) {
      const size_t first = out.size();
      encode_segment(word, out);
      cache_.insert(word, std::span(out).subspan(first));
    }
    start = cut;
  }
}

void SentencePieceModel::encode_segment(std::string_view text, std::vector<TokenId>& out) const {
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> queue;
  symbols.clear();
  queue.clear();
  for (size_t offset = 0; offset < text.size();) {
    const size_t length = std::min(utf8_length_from_lead(static_cast<uint8_t>(text[offset])), text.size() - offset);
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(offset), static_cast<uint32_t>(length), index - 1, -1});
    if (index > 0) symbols[index - 1].next = index;
    offset += length;
  }

  const auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t length = symbols[left].length + symbols[right].length;
    const TokenId id = vocab_.find(text.substr(symbols[left].offset, length));
    if (id == kNoToken) return;
    queue.push_back({vocab_.score(id), left, right, length});
    std::push_heap(queue.begin(), queue.end(), LaterCandidate{});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i, i + 1);

  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), LaterCandidate{});
    const Candidate top = queue.back();
    queue.pop_back();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    if (left.length == 0 || right.length == 0 || left.next != top.right || left.length + right.length != top.length) {
      continue;
    }
    left.length += right.length;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.length = 0;
    consider(left.prev, top.left);
    consider(top.left, left.next);
  }

  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    append_unmerged(text.substr(symbols[i].offset, symbols[i].length), out);
  }
}

void SentencePieceModel::append_unmerged(std::string_view piece, std::vector<TokenId>& out) const {
  if (const TokenId id = vocab_.find(piece); id != kNoToken) {
    out.push_back(id);
    return;
  }
  // Only single characters reach here: every merged symbol is a token by construction.
  for (char byte : piece) {
    const TokenId byte_id = vocab_.byte_token(static_cast<uint8_t>(byte));
    if (byte_id != kNoToken) {
      out.push_back(byte_id);
    } else if (vocab_.special().unk != kNoToken) {
      out.push_back(vocab_.special().unk);
      break;  // a vocabulary without byte pieces spells the whole character as one <unk>
    }
  }
}

}  // namespace ferrum::tokenizer
