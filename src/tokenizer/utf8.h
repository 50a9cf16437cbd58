// UTF-8 decoding that never trusts its input: well-formedness follows Unicode's Table 3-7, and
// malformed bytes are replaced by U+FFFD under one of the two policies the peer tokenizers use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ferrum::tokenizer {

inline constexpr uint32_t kReplacementCharacter = 0xFFFD;

// What the bytes at one position hold.
struct Utf8Step {
  enum class Kind {
    kValid,       // a complete, well-formed character of `length` bytes
    kIncomplete,  // the input ends after `length` bytes that start a well-formed character
    kInvalid,     // `length` bytes (the maximal subpart, at least 1) that cannot start a character
  };
  Kind kind;
  uint32_t code_point;  // valid only for kValid
  size_t length;
};

// Decodes the character starting at bytes[pos] (pos < bytes.size()).
Utf8Step decode_utf8_step(std::string_view bytes, size_t pos);

// How malformed input becomes U+FFFD.
enum class Utf8Replacement {
  // One U+FFFD per maximal subpart (WHATWG, Rust from_utf8_lossy, Python errors="replace"):
  // HF tokenizers and llama.cpp's callers.
  kPerMaximalSubpart,
  // One U+FFFD per byte of a malformed sequence: SentencePiece's decoder and llama.cpp's encoder.
  kPerByte,
};

bool is_valid_utf8(std::string_view bytes);
// `bytes` with every malformed or truncated sequence replaced by U+FFFD.
std::string to_valid_utf8(std::string_view bytes, Utf8Replacement policy);
// Appends the replacement for a malformed run of `malformed_length` bytes.
void append_replacement(std::string& out, size_t malformed_length, Utf8Replacement policy);

void append_utf8(std::string& out, uint32_t code_point);
// Byte length of the character whose first byte is `lead`, 1 for bytes that cannot lead (so a
// scanner always advances).
size_t utf8_length_from_lead(uint8_t lead);

}  // namespace ferrum::tokenizer
