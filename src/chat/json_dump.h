// The tojson filter as transformers defines it: Python's json.dumps(value, ensure_ascii=False,
// indent=indent, separators=separators, sort_keys=False). Unlike Jinja2's own tojson there is no HTML
// escaping and dict keys keep insertion order.
#pragma once

#include <optional>
#include <string>

#include "chat/value.h"
#include "core/error.h"

namespace ferrum::chat {

struct JsonDumpOptions {
  bool ensure_ascii = false;
  // nullopt: everything on one line. A string: the text repeated per level (json.dumps takes an int
  // as that many spaces).
  std::optional<std::string> indent;
  // nullopt: json.dumps' defaults, (", ", ": ") on one line and (",", ": ") when indenting.
  std::optional<std::string> item_separator;
  std::optional<std::string> key_separator;
  bool sort_keys = false;
  size_t max_bytes = 64u << 20;
};

// Fails like json.dumps does on values JSON cannot express (Undefined, generators, macros) and on
// output beyond max_bytes.
Expected<std::string> dump_json(const Value& value, const JsonDumpOptions& options);

}  // namespace ferrum::chat
