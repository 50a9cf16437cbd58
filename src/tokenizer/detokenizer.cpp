#include "tokenizer/detokenizer.h"

#include <array>

#include "tokenizer/byte_level.h"

namespace ferrum::tokenizer {
namespace {

constexpr std::string_view kVisibleSpace = "\xE2\x96\x81";            // "▁"
constexpr std::string_view kSentencePieceUnknown = " \xE2\x81\x87 ";  // " ⁇ "

// transformers' clean-up replacements, in its order.
struct CleanupRule {
  std::string_view pattern;
  std::string_view replacement;
};
constexpr std::array<CleanupRule, 10> kCleanupRules = {{{" .", "."},
                                                        {" ?", "?"},
                                                        {" !", "!"},
                                                        {" ,", ","},
                                                        {" ' ", "'"},
                                                        {" n't", "n't"},
                                                        {" 'm", "'m"},
                                                        {" 's", "'s"},
                                                        {" 've", "'ve"},
                                                        {" 're", "'re"}}};

std::string unescape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, kVisibleSpace.size(), kVisibleSpace) == 0) {
      out += ' ';
      pos += kVisibleSpace.size();
    } else {
      out += text[pos++];
    }
  }
  return out;
}

Utf8Replacement replacement_for(const Vocab& vocab, const DecodeOptions& options) {
  return options.sentencepiece_rules && vocab.model() == VocabModel::kSentencePiece
             ? Utf8Replacement::kPerByte
             : Utf8Replacement::kPerMaximalSubpart;
}

// The dummy-prefix rule: the first piece loses one leading space. llama.cpp applies it to the
// first token whatever it is; SentencePiece to the first token that is not a control token.
class LeadingSpaceRule {
 public:
  LeadingSpaceRule(const Vocab& vocab, const DecodeOptions& options)
      : sentencepiece_(options.sentencepiece_rules),
        pending_((vocab.model() == VocabModel::kSentencePiece && vocab.flags().add_space_prefix) ||
                 vocab.model() == VocabModel::kWordPiece) {}

  void apply(const Vocab& vocab, TokenId id, std::string& piece) {
    if (!pending_) return;
    if (sentencepiece_ && vocab.type(id) == TokenType::kControl) return;
    pending_ = false;
    if (!piece.empty() && piece.front() == ' ') piece.erase(0, 1);
  }
  void disable() { pending_ = false; }

 private:
  bool sentencepiece_;
  bool pending_;
};

// Converts the complete characters at the front of `bytes` and removes them; with `final`, the
// trailing partial character too.
std::string take_complete_text(std::string& bytes, Utf8Replacement replacement, bool final) {
  std::string text;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Utf8Step step = decode_utf8_step(bytes, pos);
    if (step.kind == Utf8Step::Kind::kValid) {
      text.append(bytes, pos, step.length);
    } else if (step.kind == Utf8Step::Kind::kIncomplete && !final) {
      break;  // the next token may complete it
    } else {
      append_replacement(text, step.length, replacement);
    }
    pos += step.length;
  }
  bytes.erase(0, pos);
  return text;
}

// One left-to-right pass of the clean-up over `text`. The patterns are prefix-free, so at each
// space the outcome is decided as soon as a pattern matches or none can. Without `final`, the pass
// stops at a space whose outcome the next text could still change and reports how far it got.
std::string clean_up_pass(std::string_view text, bool final, size_t* consumed) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] != ' ') {
      out += text[pos++];
      continue;
    }
    const std::string_view rest = text.substr(pos);
    bool replaced = false;
    bool undecided = false;
    for (const auto& [pattern, replacement] : kCleanupRules) {
      if (rest.starts_with(pattern)) {
        out.append(replacement);
        pos += pattern.size();
        replaced = true;
        break;
      }
      if (rest.size() < pattern.size() && pattern.starts_with(rest)) undecided = true;
    }
    if (replaced) continue;
    if (undecided && !final) break;
    out += text[pos++];
  }
  *consumed = pos;
  return out;
}

}  // namespace

std::string clean_up_tokenization_spaces(std::string_view text) {
  size_t consumed = 0;
  return clean_up_pass(text, /*final=*/true, &consumed);
}

Expected<std::string> token_piece(const Vocab& vocab, TokenId id, const DecodeOptions& options) {
  FERRUM_CHECK(vocab.contains(id), ErrorCode::kOutOfRange, "token id ", id, " is outside the vocabulary of ",
               vocab.size(), " tokens");
  const std::string_view text = vocab.text(id);
  const bool sentencepiece = vocab.model() == VocabModel::kSentencePiece;
  switch (vocab.type(id)) {
    case TokenType::kControl:
      if (sentencepiece && options.sentencepiece_rules) return std::string();
      return options.render_special ? std::string(text) : std::string();
    case TokenType::kUnknown:
      if (sentencepiece && options.sentencepiece_rules) return std::string(kSentencePieceUnknown);
      return options.render_special ? std::string(text) : std::string();
    case TokenType::kUserDefined: return std::string(text);
    case TokenType::kUnused:
    case TokenType::kUndefined: return std::string();
    case TokenType::kByte:
      if (auto byte = vocab.byte_of_token(id)) return std::string(1, static_cast<char>(*byte));
      return std::string(text);
    case TokenType::kNormal: break;
  }
  if (vocab.model() == VocabModel::kBytePairEncoding) {
    std::string bytes;
    if (decode_byte_level(text, bytes)) return bytes;
    return std::string(text);  // a token outside the byte-level alphabet stands for itself
  }
  return unescape_spaces(text);
}

Expected<std::string> decode_bytes(const Vocab& vocab, std::span<const TokenId> ids, const DecodeOptions& options) {
  LeadingSpaceRule leading_space(vocab, options);
  const SpecialTokenIds& special = vocab.special();
  if (options.remove_bos_eos) {
    if (vocab.flags().add_bos && !ids.empty() && ids.front() == special.bos) {
      ids = ids.subspan(1);
      leading_space.disable();  // llama.cpp keeps the space that followed a removed BOS
    }
    if (vocab.flags().add_eos && !ids.empty() && ids.back() == special.eos) ids = ids.first(ids.size() - 1);
  }
  std::string bytes;
  for (TokenId id : ids) {
    FERRUM_ASSIGN_OR_RETURN(std::string piece, token_piece(vocab, id, options));
    leading_space.apply(vocab, id, piece);
    bytes += piece;
  }
  return bytes;
}

Expected<std::string> decode(const Vocab& vocab, std::span<const TokenId> ids, const DecodeOptions& options) {
  FERRUM_ASSIGN_OR_RETURN(std::string bytes, decode_bytes(vocab, ids, options));
  std::string text = to_valid_utf8(bytes, replacement_for(vocab, options));
  if (options.clean_up_spaces) text = clean_up_tokenization_spaces(text);
  return text;
}

StreamingDetokenizer::StreamingDetokenizer(const Vocab& vocab, DecodeOptions options)
    : vocab_(vocab), options_(options), replacement_(replacement_for(vocab, options)) {}

void StreamingDetokenizer::reset() {
  at_start_ = true;
  pending_bytes_.clear();
  cleanup_tail_.clear();
}

Expected<std::string> StreamingDetokenizer::push(TokenId id) {
  FERRUM_ASSIGN_OR_RETURN(std::string piece, token_piece(vocab_, id, options_));
  if (at_start_) {
    // The rule object is cheap; re-creating it keeps the first-token logic in one place.
    LeadingSpaceRule rule(vocab_, options_);
    rule.apply(vocab_, id, piece);
    const bool still_waiting = options_.sentencepiece_rules && vocab_.type(id) == TokenType::kControl;
    at_start_ = still_waiting;
  }
  pending_bytes_ += piece;
  return drain(/*final=*/false);
}

std::string StreamingDetokenizer::finish() {
  std::string text = drain(/*final=*/true);
  at_start_ = true;
  return text;
}

std::string StreamingDetokenizer::drain(bool final) {
  std::string text = take_complete_text(pending_bytes_, replacement_, final);
  if (!options_.clean_up_spaces) return text;
  cleanup_tail_ += text;
  size_t consumed = 0;
  std::string ready = clean_up_pass(cleanup_tail_, final, &consumed);
  cleanup_tail_.erase(0, consumed);
  return ready;
}

}  // namespace ferrum::tokenizer
