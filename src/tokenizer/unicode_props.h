// Unicode character properties and normalization the tokenizers need, backed by ICU so the tables
// follow one maintained Unicode version instead of hand-copied ranges.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ferrum::tokenizer {

// The White_Space property: includes U+0085 (NEL), which PCRE2's \s leaves out but Oniguruma (HF
// tokenizers) and llama.cpp count as whitespace.
bool is_whitespace(uint32_t code_point);
bool is_punctuation(uint32_t code_point);     // general category P*
bool is_symbol(uint32_t code_point);          // general category S*
bool is_control(uint32_t code_point);         // general category C* (Cc, Cf, Co, Cs, Cn)
bool is_combining_mark(uint32_t code_point);  // general category M*
// Ideographs BERT's basic tokenizer splits one per word (the CJK Unified Ideograph blocks).
bool is_cjk_ideograph(uint32_t code_point);

// Unicode's simple (one code point to one code point) lowercase mapping.
uint32_t simple_lowercase(uint32_t code_point);
// The first code point of the canonical decomposition (NFD): 'Ä' -> 'A', 'ử' -> 'u'.
uint32_t canonical_base(uint32_t code_point);

// Normal forms of valid UTF-8 text; ASCII text is returned unchanged without calling ICU.
std::string to_nfc(std::string_view text);
std::string to_nfd(std::string_view text);
std::string to_nfkc(std::string_view text);

}  // namespace ferrum::tokenizer
