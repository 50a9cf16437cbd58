#include "tokenizer/added_token_matcher.h"

#include <algorithm>
#include <cctype>

#include "tokenizer/unicode_props.h"
#include "tokenizer/utf8.h"

namespace ferrum::tokenizer {
namespace {

// The code point ending just before `pos` (pos > 0).
uint32_t code_point_before(std::string_view text, size_t pos) {
  size_t start = pos - 1;
  while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
  const Utf8Step step = decode_utf8_step(text, start);
  return step.kind == Utf8Step::Kind::kValid ? step.code_point : kReplacementCharacter;
}

uint32_t code_point_at(std::string_view text, size_t pos, size_t* length) {
  const Utf8Step step = decode_utf8_step(text, pos);
  *length = step.length;
  return step.kind == Utf8Step::Kind::kValid ? step.code_point : kReplacementCharacter;
}

bool is_word_character(uint32_t cp) {
  return cp == '_' || (cp < 0x80 ? std::isalnum(static_cast<int>(cp)) != 0
                                 : !is_whitespace(cp) && !is_punctuation(cp) && !is_symbol(cp) && !is_control(cp));
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::span<const AddedToken> tokens, AddedTokenMatching matching)
    : matching_(matching) {
  for (const AddedToken& token : tokens) {
    tokens_.push_back(&token);
    may_start_with_[static_cast<uint8_t>(token.content[0])] = true;
  }
  std::stable_sort(tokens_.begin(), tokens_.end(),
                   [](const AddedToken* a, const AddedToken* b) { return a->content.size() > b->content.size(); });
}

bool AddedTokenMatcher::has_normalized_tokens() const {
  return std::any_of(tokens_.begin(), tokens_.end(), [](const AddedToken* t) { return t->normalized; });
}

AddedTokenMatcher::Match AddedTokenMatcher::widen(const AddedToken& token, std::string_view text, size_t begin,
                                                  size_t end, size_t floor, size_t ceiling) const {
  if (token.lstrip) {
    while (begin > floor && is_whitespace(code_point_before(text, begin))) {
      --begin;
      while (begin > floor && (static_cast<uint8_t>(text[begin]) & 0xC0) == 0x80) --begin;
    }
  }
  if (token.rstrip) {
    size_t length = 0;
    while (end < ceiling && is_whitespace(code_point_at(text, end, &length))) end += length;
  }
  return {begin, end, token.id};
}

bool AddedTokenMatcher::is_single_word_match(std::string_view text, size_t begin, size_t end) const {
  size_t length = 0;
  if (begin > 0 && is_word_character(code_point_before(text, begin))) return false;
  if (end < text.size() && is_word_character(code_point_at(text, end, &length))) return false;
  return true;
}

void AddedTokenMatcher::partition(std::string_view text, bool parse_special, bool normalized_pass,
                                  std::vector<Fragment>& out) const {
  if (tokens_.empty()) {
    if (!text.empty()) out.push_back({text, kNoToken});
    return;
  }
  if (matching_ == AddedTokenMatching::kLeftmostLongest) {
    partition_leftmost_longest(text, parse_special, normalized_pass, out);
  } else {
    partition_longest_first(text, parse_special, normalized_pass, out);
  }
}

void AddedTokenMatcher::partition_leftmost_longest(std::string_view text, bool parse_special, bool normalized_pass,
                                                   std::vector<Fragment>& out) const {
  size_t raw_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    if (!may_start_with_[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    const AddedToken* found = nullptr;
    for (const AddedToken* token : tokens_) {  // longest first, so the first hit is the longest
      if (!eligible(*token, parse_special, normalized_pass)) continue;
      if (text.compare(pos, token->content.size(), token->content) != 0) continue;
      if (token->single_word && !is_single_word_match(text, pos, pos + token->content.size())) continue;
      found = token;
      break;
    }
    if (!found) {
      ++pos;
      continue;
    }
    const Match match = widen(*found, text, pos, pos + found->content.size(), raw_start, text.size());
    if (match.begin > raw_start) out.push_back({text.substr(raw_start, match.begin - raw_start), kNoToken});
    out.push_back({{}, match.token});
    pos = raw_start = match.end;
  }
  if (raw_start < text.size()) out.push_back({text.substr(raw_start), kNoToken});
}

void AddedTokenMatcher::partition_longest_first(std::string_view text, bool parse_special, bool normalized_pass,
                                                std::vector<Fragment>& out) const {
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({text, kNoToken});
  std::vector<Fragment> next;
  for (const AddedToken* token : tokens_) {
    if (!eligible(*token, parse_special, normalized_pass)) continue;
    next.clear();
    for (const Fragment& fragment : fragments) {
      if (fragment.token != kNoToken) {
        next.push_back(fragment);
        continue;
      }
      // Matches are searched and stripped within this raw fragment only, like llama.cpp.
      const std::string_view raw = fragment.text;
      size_t raw_start = 0;
      for (size_t pos = raw.find(token->content); pos != std::string_view::npos; pos = raw.find(token->content, pos)) {
        const size_t end = pos + token->content.size();
        if (token->single_word && !is_single_word_match(raw, pos, end)) {
          ++pos;
          continue;
        }
        const Match match = widen(*token, raw, pos, end, raw_start, raw.size());
        if (match.begin > raw_start) next.push_back({raw.substr(raw_start, match.begin - raw_start), kNoToken});
        next.push_back({{}, match.token});
        pos = raw_start = match.end;
      }
      if (raw_start < raw.size()) next.push_back({raw.substr(raw_start), kNoToken});
    }
    std::swap(fragments, next);
  }
  out.insert(out.end(), fragments.begin(), fragments.end());
}

}  // namespace ferrum::tokenizer
