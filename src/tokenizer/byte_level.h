// GPT-2's reversible map between bytes and printable code points. Byte-level BPE vocabularies
// spell every token in these code points so that any byte string, valid UTF-8 or not, has a
// spelling: printable Latin-1 bytes stand for themselves and the other 68 bytes (controls, space,
// DEL, NBSP, soft hyphen) are moved to U+0100 and up in byte order, so ' ' is 'Ġ' and '\n' is 'Ċ'.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferrum::tokenizer {

uint32_t byte_to_byte_level_code_point(uint8_t byte);
std::optional<uint8_t> byte_level_code_point_to_byte(uint32_t code_point);

// The UTF-8 spelling of `bytes` in byte-level code points, appended to `out`.
void append_byte_level(std::string& out, std::string_view bytes);
// The bytes a byte-level spelling stands for, appended to `out`; false (with `out` unchanged) when
// `text` is not valid UTF-8 or holds a code point outside the map.
bool decode_byte_level(std::string_view text, std::string& out);

}  // namespace ferrum::tokenizer
