// UTF-8 decoding and the per-character predicates Python's str methods use.
// Python strings index by code point, so the chat-template interpreter needs code-point views of UTF-8.
// Invalid bytes decode to U+DC80+byte (Python's "surrogateescape") and encode back to the same byte, so
// a malformed template or message survives slicing and printing unchanged.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ferrum::chat {

// Decodes the code point starting at byte `pos` (pos < text.size()); returns the number of bytes used.
size_t utf8_decode(std::string_view text, size_t pos, char32_t& code_point);
void utf8_append(std::string& out, char32_t code_point);

std::u32string utf8_to_code_points(std::string_view text);
std::string code_points_to_utf8(std::u32string_view code_points);
size_t code_point_count(std::string_view text);
bool is_ascii(std::string_view text);

// str.isspace(): the characters Python's strip(), split() and the Jinja lexer's \s treat as whitespace.
bool is_python_space(char32_t c);
// The line boundaries str.splitlines() splits on (besides "\r\n", which counts as one).
bool is_python_line_break(char32_t c);
// Repr shows these as escapes (\x.., \u....); everything else prints verbatim.
bool is_python_printable(char32_t c);

// Case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic (one-to-one mappings only).
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);
bool is_cased_upper(char32_t c);
bool is_cased_lower(char32_t c);
bool is_alpha(char32_t c);
bool is_decimal_digit(char32_t c);
// \w in Python's re: letters, digits and underscore.
bool is_word_char(char32_t c);

}  // namespace ferrum::chat
