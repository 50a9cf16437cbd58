// How values print: Python's str() and repr(), which is what Jinja2 emits for {{ value }}.
#pragma once

#include <string>
#include <string_view>

#include "chat/value.h"

namespace ferrum::chat {

// Printing a container stops growing its text past this many bytes (ending it with "..."): the result
// is then larger than any render limit allows, and the caller's size check reports it.
inline constexpr size_t kMaxPrintBytes = size_t{64} << 20;

// str(value): strings as-is, None as "None", True as "True", floats as Python repr ("1.0", "1e-05"),
// lists and dicts in repr form ("['a', 1]"). Undefined prints as "".
std::string to_str(const Value& value);
// repr(value): strings quoted the way Python quotes them.
std::string to_repr(const Value& value);
// Python's float repr: the shortest string that reads back as the same double.
std::string format_float(double value);
std::string quote_string(std::string_view text);

}  // namespace ferrum::chat
