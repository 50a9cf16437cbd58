// The tokenizer: text -> token ids for the three vocabulary families, with added/special tokens,
// normalization and pre-tokenization as the model's own tokenizer files describe them.
//
// Encoding runs: replace malformed UTF-8 -> split out added tokens found in the raw text ->
// normalize (NFC for Qwen) -> split out added tokens flagged "normalized" -> the model's own
// algorithm on each remaining fragment (BPE after the pre-tokenizer regexes, SentencePiece after
// space escaping, WordPiece after basic tokenization) -> BOS/EOS as the vocabulary asks.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "tokenizer/added_token_matcher.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace ferrum::tokenizer {

enum class Normalization { kNone, kNfc, kNfkc };

// Everything a loader determines about the text pipeline around the vocabulary.
struct PipelineSpec {
  Normalization normalization = Normalization::kNone;
  // BPE only: regexes applied in turn (each splits every piece of the previous one).
  std::vector<std::string> split_patterns;
  // BPE only: HF ByteLevel add_prefix_space, a ' ' before text that does not start with one.
  bool add_prefix_space = false;
  AddedTokenMatching added_token_matching = AddedTokenMatching::kLeftmostLongest;
  // What malformed UTF-8 in the input becomes (llama.cpp: one U+FFFD per byte).
  Utf8Replacement input_replacement = Utf8Replacement::kPerMaximalSubpart;
};

struct TokenizerSpec {
  VocabSpec vocab;
  PipelineSpec pipeline;
  std::string source;    // the file it came from, for messages
  std::string pre_type;  // GGUF tokenizer.ggml.pre, or "" (informational)
};

struct EncodeOptions {
  bool add_special = true;     // BOS/EOS (CLS/SEP) as the vocabulary's flags say
  bool parse_special = false;  // match control tokens (<|im_start|>) written in the text
};

// Immutable once created: encode() may be called from many threads at once (scratch space is
// per thread, the word caches take a lock).
class Tokenizer {
 public:
  static Expected<std::unique_ptr<Tokenizer>> create(TokenizerSpec spec);
  ~Tokenizer();

  std::vector<TokenId> encode(std::string_view text, const EncodeOptions& options = {}) const;

  const Vocab& vocab() const { return vocab_; }
  const PipelineSpec& pipeline() const { return pipeline_; }
  const std::string& source() const { return source_; }
  const std::string& pre_type() const { return pre_type_; }

 private:
  struct Models;
  Tokenizer(Vocab vocab, PipelineSpec pipeline);

  std::string normalize(std::string_view text) const;
  // Runs the model on one raw-text fragment. `after_boundary`: the fragment starts the text or
  // follows an added token (SentencePiece adds its dummy prefix there).
  void encode_fragment(std::string_view text, bool after_boundary, std::vector<TokenId>& out) const;

  Vocab vocab_;
  PipelineSpec pipeline_;
  std::string source_;
  std::string pre_type_;
  std::unique_ptr<AddedTokenMatcher> added_tokens_;
  std::unique_ptr<Models> models_;
};

}  // namespace ferrum::tokenizer
