// Token ids -> text, in one go (decode) or one token at a time (StreamingDetokenizer), following
// the reference implementations' rules:
//  - byte-level BPE: token spellings map back to bytes through the GPT-2 table; added tokens
//    contribute their content.
//  - SentencePiece: "▁" is a space, <0xNN> pieces are raw bytes, and the dummy-prefix space of the
//    first piece is dropped (llama.cpp: the first token's; SentencePiece: the first non-control
//    token's).
//  - Malformed UTF-8 in the result becomes U+FFFD: one per maximal subpart (HF, llama.cpp callers),
//    or one per byte with sentencepiece_rules (SentencePiece).
//
// A streaming detokenizer emits only complete UTF-8, holds back a partial character (or a " " that
// clean-up might still remove) until the next token decides it, and flushes the remainder with
// replacement characters at the end; the concatenation of its output equals decode() of the ids.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace ferrum::tokenizer {

struct DecodeOptions {
  // Control tokens (BOS/EOS, <|im_start|>) and <unk> produce their text. HF's
  // skip_special_tokens=true and llama.cpp's unparse_special=false are render_special=false.
  // Non-special added tokens (Qwen's <think>) are always rendered.
  bool render_special = true;
  // llama.cpp's remove_special: drop a leading BOS / trailing EOS the vocabulary adds itself.
  bool remove_bos_eos = false;
  // transformers' clean_up_tokenization_spaces: " ." -> ".", " 's" -> "'s", ... (see docs).
  bool clean_up_spaces = false;
  // SentencePiece vocabularies only: decode as SentencePiece's DecodeIds does (control tokens
  // never rendered, <unk> as " ⁇ ", one U+FFFD per malformed byte) instead of as llama.cpp does.
  bool sentencepiece_rules = false;
};

// The raw bytes one token contributes, without any leading-space rule; may be malformed UTF-8.
Expected<std::string> token_piece(const Vocab& vocab, TokenId id, const DecodeOptions& options = {});

// The raw bytes of the whole sequence, before U+FFFD replacement and clean-up.
Expected<std::string> decode_bytes(const Vocab& vocab, std::span<const TokenId> ids, const DecodeOptions& options = {});
// Valid UTF-8 text.
Expected<std::string> decode(const Vocab& vocab, std::span<const TokenId> ids, const DecodeOptions& options = {});

// transformers' clean-up, as a single left-to-right pass (see docs/tokenizer.md).
std::string clean_up_tokenization_spaces(std::string_view text);

class StreamingDetokenizer {
 public:
  StreamingDetokenizer(const Vocab& vocab, DecodeOptions options);

  // The text that `id` completes: possibly empty (a partial character), possibly more than the
  // token's own piece (a character finished by this token).
  Expected<std::string> push(TokenId id);
  // Everything still held back, with U+FFFD for a character that never completed.
  std::string finish();
  // Forgets all state, as if newly constructed.
  void reset();
  // The tokens to come continue earlier text (a completion after its prompt): the first piece keeps
  // its leading space, as llama.cpp and vLLM's incremental detokenizer show it.
  void continue_text() { at_start_ = false; }

 private:
  std::string drain(bool final);

  const Vocab& vocab_;
  DecodeOptions options_;
  Utf8Replacement replacement_;
  bool at_start_ = true;
  std::string pending_bytes_;  // a character not yet complete
  std::string cleanup_tail_;   // text that a clean-up pattern may still change
};

}  // namespace ferrum::tokenizer
