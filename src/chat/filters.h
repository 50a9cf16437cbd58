// Jinja2's builtin filters (`value | name(args)`), with tojson replaced by transformers' version.
#pragma once

#include <string_view>

#include "chat/value.h"
#include "core/error.h"

namespace ferrum::chat {

using FilterFunction = Expected<Value> (*)(Renderer& renderer, const Value& input, CallArgs& args);

// Null for names that are not filters; the parser rejects those, as Jinja2 does at compile time.
FilterFunction find_filter(std::string_view name);

}  // namespace ferrum::chat
