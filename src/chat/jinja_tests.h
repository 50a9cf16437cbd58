// Jinja2's builtin tests: `value is defined`, `x is divisibleby 3`, `role is in ['user', 'system']`.
#pragma once

#include <string_view>

#include "chat/value.h"
#include "core/error.h"

namespace ferrum::chat {

using TestFunction = Expected<bool> (*)(Renderer& renderer, const Value& input, CallArgs& args);

// Null for names that are not tests; the parser rejects those, as Jinja2 does at compile time.
TestFunction find_test(std::string_view name);

}  // namespace ferrum::chat
