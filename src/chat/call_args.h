// Binding call arguments to the parameters of builtin filters, tests, methods and functions, with
// Python's rules (positional first, then keywords by name) and messages that name the function.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "chat/value.h"
#include "core/error.h"

namespace ferrum::chat {

struct Param {
  std::string_view name;
  Value default_value;  // used when the caller leaves the parameter out
  bool required = false;
};

inline Param required(std::string_view name) {
  return Param{name, Value(), true};
}

// Returns one value per parameter, in parameter order.
Expected<std::vector<Value>> bind_args(std::string_view function, const CallArgs& args,
                                       std::initializer_list<Param> params);

// Argument conversions with messages like "indent(): 'width' must be an integer, got str".
Expected<int64_t> int_arg(std::string_view function, std::string_view param, const Value& value);
Expected<std::string> string_arg(std::string_view function, std::string_view param, const Value& value);

}  // namespace ferrum::chat
