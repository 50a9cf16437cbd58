#include "tokenizer/vocab.h"

#include <cstdio>

#include "tokenizer/byte_level.h"

namespace ferrum::tokenizer {

std::string_view token_type_name(TokenType type) {
  switch (type) {
    case TokenType::kUndefined: return "undefined";
    case TokenType::kNormal: return "normal";
    case TokenType::kUnknown: return "unknown";
    case TokenType::kControl: return "control";
    case TokenType::kUserDefined: return "user-defined";
    case TokenType::kUnused: return "unused";
    case TokenType::kByte: return "byte";
  }
  return "invalid";
}

std::string_view vocab_model_name(VocabModel model) {
  switch (model) {
    case VocabModel::kSentencePiece: return "sentencepiece";
    case VocabModel::kBytePairEncoding: return "bpe";
    case VocabModel::kWordPiece: return "wordpiece";
  }
  return "invalid";
}

Expected<Vocab> Vocab::create(VocabSpec spec) {
  const size_t n = spec.tokens.size();
  FERRUM_CHECK(n > 0, ErrorCode::kInvalidArgument, "vocabulary has no tokens");
  FERRUM_CHECK(n < static_cast<size_t>(INT32_MAX), ErrorCode::kLimitExceeded, "vocabulary has ", n, " tokens");
  FERRUM_CHECK(spec.scores.empty() || spec.scores.size() == n, ErrorCode::kShapeMismatch, "vocabulary has ", n,
               " tokens but ", spec.scores.size(), " scores");
  FERRUM_CHECK(spec.types.empty() || spec.types.size() == n, ErrorCode::kShapeMismatch, "vocabulary has ", n,
               " tokens but ", spec.types.size(), " token types");

  Vocab vocab;
  vocab.model_ = spec.model;
  vocab.tokens_ = std::move(spec.tokens);
  vocab.scores_ = spec.scores.empty() ? std::vector<float>(n, 0.0f) : std::move(spec.scores);
  vocab.types_ = spec.types.empty() ? std::vector<TokenType>(n, TokenType::kNormal) : std::move(spec.types);
  vocab.special_ = spec.special;
  vocab.flags_ = spec.flags;

  for (TokenId special : {spec.special.bos, spec.special.eos, spec.special.unk, spec.special.sep, spec.special.pad,
                          spec.special.cls, spec.special.mask}) {
    FERRUM_CHECK(special == kNoToken || vocab.contains(special), ErrorCode::kOutOfRange, "special token id ", special,
                 " is outside the vocabulary of ", n, " tokens");
  }

  vocab.id_of_text_.build(vocab.tokens_);

  for (AddedToken& added : spec.added_tokens) {
    FERRUM_CHECK(vocab.contains(added.id), ErrorCode::kOutOfRange, "added token '", added.content, "' has id ",
                 added.id, " outside the vocabulary of ", n, " tokens");
    if (added.content.empty()) continue;  // an empty string would match everywhere
    vocab.added_index_of_id_[added.id] = vocab.added_tokens_.size();
    vocab.added_tokens_.push_back(std::move(added));
  }

  FERRUM_TRY(vocab.index_merges(spec.merges));
  vocab.index_byte_tokens();
  return vocab;
}

TokenId Vocab::find(std::string_view text) const {
  return id_of_text_.find(text);
}

const AddedToken* Vocab::added_token(TokenId id) const {
  auto it = added_index_of_id_.find(id);
  return it == added_index_of_id_.end() ? nullptr : &added_tokens_[it->second];
}

std::optional<uint8_t> Vocab::byte_of_token(TokenId id) const {
  if (!contains(id) || types_[id] != TokenType::kByte) return std::nullopt;
  const std::string_view text = tokens_[id];  // "<0xNN>"
  unsigned value = 0;
  if (text.size() != 6 || !text.starts_with("<0x") || text.back() != '>' ||
      std::sscanf(std::string(text.substr(3, 2)).c_str(), "%2x", &value) != 1) {
    return std::nullopt;
  }
  return static_cast<uint8_t>(value);
}

Status Vocab::index_merges(const std::vector<std::pair<std::string, std::string>>& merges) {
  merges_.reserve(merges.size());
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const TokenId left_id = find(left);
    const TokenId right_id = find(right);
    joined.assign(left).append(right);
    const TokenId result_id = find(joined);
    // Both peers skip merges whose parts or result are not tokens; so do we, quietly.
    if (left_id == kNoToken || right_id == kNoToken || result_id == kNoToken) continue;
    // The first (lowest-rank) occurrence of a pair wins, as in a rank-ordered merge table.
    merges_.insert(merge_key(left_id, right_id), Merge{static_cast<uint32_t>(rank), result_id});
  }
  return ok();
}

void Vocab::index_byte_tokens() {
  byte_tokens_.fill(kNoToken);
  for (int byte = 0; byte < 256; ++byte) {
    std::string spelling;
    if (model_ == VocabModel::kSentencePiece) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", byte);
      spelling = name;
    } else {
      const char raw = static_cast<char>(byte);
      append_byte_level(spelling, std::string_view(&raw, 1));
    }
    byte_tokens_[byte] = find(spelling);
  }
}

}  // namespace ferrum::tokenizer
