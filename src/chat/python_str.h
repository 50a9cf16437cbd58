// Python's str algorithms over UTF-8 text: positions and lengths count code points, whitespace is
// str.isspace(), and edge cases (empty separators, negative indices) behave as Python documents them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ferrum::chat {

// slice.indices(length): resolves None, negative and out-of-range bounds. Step 0 is an error.
struct SliceBounds {
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;  // number of selected elements
};
Expected<SliceBounds> slice_bounds(int64_t length, std::optional<int64_t> start, std::optional<int64_t> stop,
                                   std::optional<int64_t> step);

std::string py_slice(std::string_view text, const SliceBounds& bounds);
// text[index] with Python's negative indexing; nullopt when out of range.
std::optional<std::string> py_char_at(std::string_view text, int64_t index);

// strip / lstrip / rstrip; `chars` nullopt strips whitespace.
std::string py_strip(std::string_view text, const std::optional<std::string>& chars, bool left, bool right);
// split / rsplit; `separator` nullopt splits on whitespace runs. maxsplit < 0 means no limit.
Expected<std::vector<std::string>> py_split(std::string_view text, const std::optional<std::string>& separator,
                                            int64_t maxsplit, bool from_right);
std::vector<std::string> py_splitlines(std::string_view text, bool keep_ends);

std::string py_upper(std::string_view text);
std::string py_lower(std::string_view text);
std::string py_swapcase(std::string_view text);
// str.title(): a letter after a non-letter starts a word ("they're" -> "They'Re").
std::string py_title(std::string_view text);
// str.capitalize(): first character upper case, the rest lower case.
std::string py_capitalize(std::string_view text);

// count < 0 replaces every occurrence; an empty `old` inserts between code points, as Python does.
std::string py_replace(std::string_view text, std::string_view old, std::string_view replacement, int64_t count);
// Code-point index of the first (or last) occurrence within text[start:end], or -1.
int64_t py_find(std::string_view text, std::string_view needle, std::optional<int64_t> start,
                std::optional<int64_t> end, bool from_right);
int64_t py_count(std::string_view text, std::string_view needle);

enum class Alignment { kLeft, kRight, kCenter };
// ljust / rjust / center with Python's placement of the odd padding character.
std::string py_pad(std::string_view text, int64_t width, std::string_view fill, Alignment alignment);

}  // namespace ferrum::chat
