// A tokenizer's vocabulary: token strings, scores and types, special-token ids, BPE merge ranks and
// the added tokens matched before any other processing. Loaders (GGUF metadata, HF tokenizer.json)
// fill a VocabSpec; Vocab::create checks it and builds the lookup indices.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "tokenizer/flat_index.h"

namespace ferrum::tokenizer {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

// GGUF's tokenizer.ggml.token_type numbering.
enum class TokenType : uint8_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // <s>, <|im_start|>: produced only from ids or with parse_special
  kUserDefined = 4,  // always matched as a whole in text, rendered verbatim
  kUnused = 5,
  kByte = 6,  // SentencePiece byte-fallback pieces <0x00>..<0xFF>
};
std::string_view token_type_name(TokenType type);

enum class VocabModel {
  kSentencePiece,     // GGUF "llama": score-driven merges with byte fallback
  kBytePairEncoding,  // GGUF "gpt2", HF "BPE": rank-driven merges over byte-level spellings
  kWordPiece,         // GGUF "bert": greedy longest match with "##"-style continuations
};
std::string_view vocab_model_name(VocabModel model);

// A string matched as one token before normalization and pre-tokenization.
struct AddedToken {
  TokenId id = kNoToken;
  std::string content;
  bool special = false;      // matched only when the caller asks to parse special tokens
  bool lstrip = false;       // the match swallows whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool single_word = false;  // matches only when not inside a word
  bool normalized = false;   // matched in normalized text rather than in the raw input (HF)
};

struct SpecialTokenIds {
  TokenId bos = kNoToken;
  TokenId eos = kNoToken;
  TokenId unk = kNoToken;
  TokenId sep = kNoToken;
  TokenId pad = kNoToken;
  TokenId cls = kNoToken;
  TokenId mask = kNoToken;
};

struct VocabFlags {
  bool add_bos = false;
  bool add_eos = false;
  bool add_sep = false;           // WordPiece: [SEP] after the text
  bool add_space_prefix = false;  // SentencePiece: a dummy "▁" before the text and after specials
  bool ignore_merges = false;     // BPE: a word that is itself a token is emitted without merging
  bool byte_fallback = false;     // SentencePiece: unknown characters become <0xNN> tokens
  bool clean_up_spaces = false;   // the tokenizer_config's clean_up_tokenization_spaces
};

struct VocabSpec {
  VocabModel model = VocabModel::kBytePairEncoding;
  std::vector<std::string> tokens;  // index = id
  std::vector<float> scores;        // empty: all 0
  std::vector<TokenType> types;     // empty: all normal
  // BPE merges in rank order, each as the two token strings it joins.
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<AddedToken> added_tokens;
  SpecialTokenIds special;
  VocabFlags flags;
};

class Vocab {
 public:
  static Expected<Vocab> create(VocabSpec spec);

  Vocab(Vocab&&) = default;
  Vocab& operator=(Vocab&&) = default;
  // The text index points into tokens_; a copy would point into the original.
  Vocab(const Vocab&) = delete;
  Vocab& operator=(const Vocab&) = delete;

  VocabModel model() const { return model_; }
  size_t size() const { return tokens_.size(); }
  bool contains(TokenId id) const { return id >= 0 && static_cast<size_t>(id) < tokens_.size(); }
  std::string_view text(TokenId id) const { return tokens_[id]; }
  float score(TokenId id) const { return scores_[id]; }
  TokenType type(TokenId id) const { return types_[id]; }
  // The lowest id whose text is `text`, or kNoToken.
  TokenId find(std::string_view text) const;

  const SpecialTokenIds& special() const { return special_; }
  const VocabFlags& flags() const { return flags_; }
  std::span<const AddedToken> added_tokens() const { return added_tokens_; }
  // The added-token record of `id`, or nullptr for tokens that are not added tokens.
  const AddedToken* added_token(TokenId id) const;

  // The token for a raw byte: <0xNN> for SentencePiece, the byte's GPT-2 spelling for BPE;
  // kNoToken when the vocabulary has none.
  TokenId byte_token(uint8_t byte) const { return byte_tokens_[byte]; }
  // For byte-fallback pieces (<0xNN>), the byte they stand for.
  std::optional<uint8_t> byte_of_token(TokenId id) const;

  struct Merge {
    uint32_t rank;
    TokenId result;
  };
  // The merge joining `left` and `right`, or nullptr.
  const Merge* find_merge(TokenId left, TokenId right) const { return merges_.find(merge_key(left, right)); }
  size_t merge_count() const { return merges_.size(); }

 private:
  Vocab() = default;
  static uint64_t merge_key(TokenId left, TokenId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  Status index_merges(const std::vector<std::pair<std::string, std::string>>& merges);
  void index_byte_tokens();

  VocabModel model_ = VocabModel::kBytePairEncoding;
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  TextIdIndex id_of_text_;  // points into tokens_, whose buffer a move keeps in place
  FlatU64Map<Merge> merges_;
  std::vector<AddedToken> added_tokens_;
  std::unordered_map<TokenId, size_t> added_index_of_id_;
  SpecialTokenIds special_;
  VocabFlags flags_;
  std::array<TokenId, 256> byte_tokens_{};
};

}  // namespace ferrum::tokenizer
