// Python methods of str, list and dict that templates call: message.content.strip(),
// text.split('</think>')[-1], tool.items(), messages.index(m), ...
#pragma once

#include <string_view>

#include "chat/value.h"

namespace ferrum::chat {

// Whether `receiver.name` is a method of the receiver's Python type.
bool has_method(const Value& receiver, std::string_view name);
// list.append, dict.update and the like: refused by transformers' immutable sandbox.
bool is_mutating_method(const Value& receiver, std::string_view name);
// A callable that runs the method on `receiver` (which must have it).
Value make_bound_method(const Value& receiver, std::string_view name);

}  // namespace ferrum::chat
