// Python's operators on template values, with Jinja2's rules for attribute and item access.
// Errors carry Python's wording where templates are known to hit them ("'NoneType' object is not
// iterable", "can only concatenate str (not \"NoneType\") to str").
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "chat/ast.h"
#include "chat/render_options.h"
#include "chat/value.h"
#include "core/error.h"

namespace ferrum::chat {

// The error for using an Undefined where a value is needed: "'foo' is undefined".
Error undefined_error(const Value& undefined);

Expected<Value> binary_operation(BinaryOp op, const Value& left, const Value& right, const RenderLimits& limits);
Expected<Value> unary_operation(UnaryOp op, const Value& operand);
Expected<bool> compare_values(CompareOp op, const Value& left, const Value& right);
// Three-way ordering for <, sort, min and max: numbers, strings, and lists/tuples of those.
Expected<int> order_values(const Value& left, const Value& right);
// `item in container`.
Expected<bool> contains(const Value& container, const Value& item);

// Python iteration: list items, dict keys, string characters; Undefined iterates as empty.
Expected<std::vector<Value>> iterate(const Value& value);
// len(): code points for strings. Undefined has length 0.
Expected<int64_t> length_of(const Value& value);

// `obj.name`: methods of str/list/dict, then dict items; Undefined (not an error) when missing.
// Mutating methods (list.append, dict.update) are unsafe in transformers' sandbox unless allowed.
Expected<Value> get_attribute(const Value& object, std::string_view name, bool allow_mutating);
// `obj[key]`: items first, then (for string keys) attributes, as Jinja2's getitem does.
Expected<Value> get_item(const Value& object, const Value& key, bool allow_mutating);
Expected<Value> get_slice(const Value& object, const Value& start, const Value& stop, const Value& step);

}  // namespace ferrum::chat
