#include "tokenizer/wordpiece_model.h"

#include <algorithm>

#include "tokenizer/unicode_props.h"
#include "tokenizer/utf8.h"

namespace ferrum::tokenizer {
namespace {

constexpr std::string_view kWordStart = "\xE2\x96\x81";  // "▁"

}  // namespace

WordPieceModel::WordPieceModel(const Vocab& vocab) : vocab_(vocab) {
  for (size_t id = 0; id < vocab.size(); ++id) {
    max_token_bytes_ = std::max(max_token_bytes_, vocab.text(static_cast<TokenId>(id)).size());
  }
}

std::vector<std::string> WordPieceModel::basic_tokenize(std::string_view text) {
  std::vector<std::string> words(1);
  const auto finish_word = [&] {
    if (!words.back().empty()) words.emplace_back();
  };
  for (size_t pos = 0; pos < text.size();) {
    const Utf8Step step = decode_utf8_step(text, pos);
    pos += step.length;
    const uint32_t cp = step.kind == Utf8Step::Kind::kValid ? step.code_point : kReplacementCharacter;
    if (is_whitespace(cp)) {
      finish_word();
      continue;
    }
    if (cp == 0 || cp == kReplacementCharacter || is_control(cp)) continue;
    // Accent stripping the way the GGUF reference does it: each precomposed character becomes
    // the first code point of its canonical decomposition.
    const uint32_t folded = simple_lowercase(canonical_base(cp));
    if (is_punctuation(cp) || (cp < 0x7F && is_symbol(cp)) || is_cjk_ideograph(cp)) {
      finish_word();
      append_utf8(words.back(), folded);
      words.emplace_back();
    } else {
      append_utf8(words.back(), folded);
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

void WordPieceModel::encode(std::string_view text, std::vector<TokenId>& out) const {
  for (const std::string& word : basic_tokenize(text)) encode_word(word, out);
}

void WordPieceModel::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  const std::string spelled = std::string(kWordStart) + std::string(word);
  const size_t start = out.size();
  size_t pos = 0;
  while (pos < spelled.size()) {
    // Longest token first; candidate ends stay on character boundaries.
    size_t end = std::min(spelled.size(), pos + max_token_bytes_);
    TokenId match = kNoToken;
    for (; end > pos; --end) {
      if (end < spelled.size() && (static_cast<uint8_t>(spelled[end]) & 0xC0) == 0x80) continue;
      match = vocab_.find(std::string_view(spelled).substr(pos, end - pos));
      if (match != kNoToken) break;
    }
    if (match == kNoToken) {
      out.resize(start);
      if (vocab_.special().unk != kNoToken) out.push_back(vocab_.special().unk);
      return;
    }
    out.push_back(match);
    pos = end;
  }
}

}  // namespace ferrum::tokenizer
