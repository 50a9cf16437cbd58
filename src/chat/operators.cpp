#include "chat/operators.h"

#include <cmath>
#include <limits>

#include "chat/methods.h"
#include "chat/printing.h"
#include "chat/python_str.h"
#include "chat/string_format.h"
#include "chat/utf8.h"

namespace ferrum::chat {
namespace {

std::string_view symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd: return "+";
    case BinaryOp::kSubtract: return "-";
    case BinaryOp::kMultiply: return "*";
    case BinaryOp::kDivide: return "/";
    case BinaryOp::kFloorDivide: return "//";
    case BinaryOp::kModulo: return "%";
    case BinaryOp::kPower: return "**";
    case BinaryOp::kConcat: return "~";
    case BinaryOp::kAnd: return "and";
    case BinaryOp::kOr: return "or";
  }
  return "?";
}

std::string_view symbol(CompareOp op) {
  switch (op) {
    case CompareOp::kLess: return "<";
    case CompareOp::kLessEqual: return "<=";
    case CompareOp::kGreater: return ">";
    case CompareOp::kGreaterEqual: return ">=";
    default: return "==";
  }
}

Error unsupported(BinaryOp op, const Value& left, const Value& right) {
  return make_error(ErrorCode::kInvalidArgument, "unsupported operand type(s) for ", symbol(op), ": '",
                    python_type_name(left), "' and '", python_type_name(right), "'");
}

Error overflow() {
  return make_error(ErrorCode::kUnsupported, "integer overflow: template integers are limited to 64 bits");
}

Error zero_division(std::string_view what) {
  return make_error(ErrorCode::kInvalidArgument, "ZeroDivisionError: ", what);
}

Expected<Value> integer_power(int64_t base, int64_t exponent) {
  if (exponent < 0) {
    FERRUM_CHECK(base != 0, ErrorCode::kInvalidArgument, "ZeroDivisionError: 0.0 cannot be raised to a negative power");
    return Value::number(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
  }
  int64_t result = 1;
  while (exponent > 0) {
    if (exponent & 1) {
      if (__builtin_mul_overflow(result, base, &result)) return overflow();
    }
    exponent >>= 1;
    if (exponent > 0 && __builtin_mul_overflow(base, base, &base)) return overflow();
  }
  return Value::integer(result);
}

// Python's float floor division and modulo: the result of % has the sign of the divisor.
double float_modulo(double a, double b) {
  double mod = std::fmod(a, b);
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

double float_floor_divide(double a, double b) {
  const double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0 && (b < 0) != (mod < 0)) div -= 1.0;
  if (div == 0) return std::copysign(0.0, a / b);
  double floor_div = std::floor(div);
  if (div - floor_div > 0.5) floor_div += 1.0;
  return floor_div;
}

Expected<Value> numeric_operation(BinaryOp op, const Value& left, const Value& right) {
  if (left.is_float() || right.is_float() || op == BinaryOp::kDivide) {
    const double a = left.as_double();
    const double b = right.as_double();
    switch (op) {
      case BinaryOp::kAdd: return Value::number(a + b);
      case BinaryOp::kSubtract: return Value::number(a - b);
      case BinaryOp::kMultiply: return Value::number(a * b);
      case BinaryOp::kDivide:
        if (b == 0)
          return zero_division(left.is_float() || right.is_float() ? "float division by zero" : "division by zero");
        return Value::number(a / b);
      case BinaryOp::kFloorDivide:
        if (b == 0) return zero_division("float floor division by zero");
        return Value::number(float_floor_divide(a, b));
      case BinaryOp::kModulo:
        if (b == 0) return zero_division("float modulo");
        return Value::number(float_modulo(a, b));
      case BinaryOp::kPower: {
        if (a == 0 && b < 0) return zero_division("0.0 cannot be raised to a negative power");
        FERRUM_CHECK(!(a < 0 && std::isfinite(b) && b != std::floor(b)), ErrorCode::kUnsupported,
                     "a negative number to a fractional power gives a complex number, which templates do not support");
        const double result = std::pow(a, b);
        FERRUM_CHECK(std::isfinite(result) || !std::isfinite(a) || !std::isfinite(b), ErrorCode::kInvalidArgument,
                     "OverflowError: numerical result out of range");
        return Value::number(result);
      }
      default: return unsupported(op, left, right);
    }
  }
  const int64_t a = left.as_integer_like();
  const int64_t b = right.as_integer_like();
  int64_t result = 0;
  switch (op) {
    case BinaryOp::kAdd:
      if (__builtin_add_overflow(a, b, &result)) return overflow();
      return Value::integer(result);
    case BinaryOp::kSubtract:
      if (__builtin_sub_overflow(a, b, &result)) return overflow();
      return Value::integer(result);
    case BinaryOp::kMultiply:
      if (__builtin_mul_overflow(a, b, &result)) return overflow();
      return Value::integer(result);
    case BinaryOp::kFloorDivide: {
      if (b == 0) return zero_division("integer division or modulo by zero");
      if (a == std::numeric_limits<int64_t>::min() && b == -1) return overflow();
      int64_t quotient = a / b;
      if (a % b != 0 && ((a < 0) != (b < 0))) --quotient;
      return Value::integer(quotient);
    }
    case BinaryOp::kModulo: {
      if (b == 0) return zero_division("integer modulo by zero");
      if (b == -1) return Value::integer(0);
      int64_t remainder = a % b;
      if (remainder != 0 && ((remainder < 0) != (b < 0))) remainder += b;
      return Value::integer(remainder);
    }
    case BinaryOp::kPower: return integer_power(a, b);
    default: return unsupported(op, left, right);
  }
}

Expected<Value> repeat(const Value& sequence, int64_t times, const RenderLimits& limits) {
  times = std::max<int64_t>(times, 0);
  if (sequence.is_string()) {
    const std::string& text = sequence.as_string();
    FERRUM_CHECK(text.empty() || static_cast<uint64_t>(times) <= limits.max_output_bytes / text.size(),
                 ErrorCode::kLimitExceeded, "string repetition would exceed ", limits.max_output_bytes, " bytes");
    std::string out;
    out.reserve(text.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += text;
    return Value::string(std::move(out));
  }
  const auto& items = sequence.as_list().items;
  FERRUM_CHECK(items.empty() || static_cast<uint64_t>(times) <= limits.max_sequence_length / items.size(),
               ErrorCode::kLimitExceeded, "list repetition would exceed ", limits.max_sequence_length, " items");
  std::vector<Value> out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return sequence.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

Expected<Value> add(const Value& left, const Value& right, const RenderLimits& limits) {
  if (left.is_number() && right.is_number()) return numeric_operation(BinaryOp::kAdd, left, right);
  if (left.is_string()) {
    FERRUM_CHECK(right.is_string(), ErrorCode::kInvalidArgument, "can only concatenate str (not \"",
                 python_type_name(right), "\") to str");
    FERRUM_CHECK(left.as_string().size() + right.as_string().size() <= limits.max_output_bytes,
                 ErrorCode::kLimitExceeded, "string concatenation would exceed ", limits.max_output_bytes, " bytes");
    return Value::string(left.as_string() + right.as_string());
  }
  if (left.is_list() && right.is_list() && left.is_tuple() == right.is_tuple()) {
    const auto& a = left.as_list().items;
    const auto& b = right.as_list().items;
    FERRUM_CHECK(a.size() + b.size() <= limits.max_sequence_length, ErrorCode::kLimitExceeded,
                 "list concatenation would exceed ", limits.max_sequence_length, " items");
    std::vector<Value> items(a);
    items.insert(items.end(), b.begin(), b.end());
    return left.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }
  if (left.is_list() && !left.is_tuple()) {
    return make_error(ErrorCode::kInvalidArgument, "can only concatenate list (not \"", python_type_name(right),
                      "\") to list");
  }
  return unsupported(BinaryOp::kAdd, left, right);
}

}  // namespace

Error undefined_error(const Value& undefined) {
  const std::string& hint = undefined.undefined_hint();
  return make_error(ErrorCode::kInvalidArgument, hint.empty() ? "value is undefined" : hint);
}

Expected<Value> binary_operation(BinaryOp op, const Value& left, const Value& right, const RenderLimits& limits) {
  if (op == BinaryOp::kConcat) {
    std::string out = to_str(left);
    const std::string tail = to_str(right);
    FERRUM_CHECK(out.size() + tail.size() <= limits.max_output_bytes, ErrorCode::kLimitExceeded,
                 "string concatenation would exceed ", limits.max_output_bytes, " bytes");
    return Value::string(out + tail);
  }
  if (left.is_undefined()) return undefined_error(left);
  if (right.is_undefined()) return undefined_error(right);
  switch (op) {
    case BinaryOp::kAdd: return add(left, right, limits);
    case BinaryOp::kMultiply:
      if ((left.is_string() || left.is_list()) && (right.is_int() || right.is_bool())) {
        return repeat(left, right.as_integer_like(), limits);
      }
      if ((right.is_string() || right.is_list()) && (left.is_int() || left.is_bool())) {
        return repeat(right, left.as_integer_like(), limits);
      }
      break;
    case BinaryOp::kModulo:
      if (left.is_string()) {  // "%s" % value
        FERRUM_ASSIGN_OR_RETURN(std::string text, percent_format(left.as_string(), right, limits.max_output_bytes));
        return Value::string(std::move(text));
      }
      break;
    default: break;
  }
  if (left.is_number() && right.is_number()) return numeric_operation(op, left, right);
  return unsupported(op, left, right);
}

Expected<Value> unary_operation(UnaryOp op, const Value& operand) {
  if (op == UnaryOp::kNot) return Value::boolean(!is_truthy(operand));
  if (operand.is_undefined()) return undefined_error(operand);
  FERRUM_CHECK(operand.is_number(), ErrorCode::kInvalidArgument, "bad operand type for unary ",
               op == UnaryOp::kNegate ? "-" : "+", ": '", python_type_name(operand), "'");
  if (operand.is_float()) return Value::number(op == UnaryOp::kNegate ? -operand.as_float() : operand.as_float());
  const int64_t value = operand.as_integer_like();
  if (op == UnaryOp::kPlus) return Value::integer(value);
  if (value == std::numeric_limits<int64_t>::min()) return overflow();
  return Value::integer(-value);
}

namespace {

Expected<int> order_at_depth(const Value& left, const Value& right, int depth) {
  FERRUM_CHECK(depth <= kMaxValueDepth, ErrorCode::kLimitExceeded, "comparison of values nested deeper than ",
               kMaxValueDepth, " levels");
  if (left.is_undefined()) return undefined_error(left);
  if (right.is_undefined()) return undefined_error(right);
  if (left.is_number() && right.is_number()) {
    if (left.is_float() || right.is_float()) {
      const double a = left.as_double();
      const double b = right.as_double();
      return a < b ? -1 : (a > b ? 1 : 0);
    }
    const int64_t a = left.as_integer_like();
    const int64_t b = right.as_integer_like();
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  if (left.is_string() && right.is_string()) {
    const int c = left.as_string().compare(right.as_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (left.is_list() && right.is_list() && left.is_tuple() == right.is_tuple()) {
    const auto& a = left.as_list().items;
    const auto& b = right.as_list().items;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (values_equal(a[i], b[i])) continue;
      return order_at_depth(a[i], b[i], depth + 1);
    }
    return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
  }
  return make_error(ErrorCode::kInvalidArgument, "'<' not supported between instances of '", python_type_name(left),
                    "' and '", python_type_name(right), "'");
}

}  // namespace

Expected<int> order_values(const Value& left, const Value& right) {
  return order_at_depth(left, right, 0);
}

Expected<bool> compare_values(CompareOp op, const Value& left, const Value& right) {
  switch (op) {
    case CompareOp::kEqual: return values_equal(left, right);
    case CompareOp::kNotEqual: return !values_equal(left, right);
    case CompareOp::kIn: return contains(right, left);
    case CompareOp::kNotIn: {
      FERRUM_ASSIGN_OR_RETURN(bool found, contains(right, left));
      return !found;
    }
    default: break;
  }
  auto ordered = order_values(left, right);
  if (!ordered) {
    if (left.is_undefined() || right.is_undefined()) return std::move(ordered).error();
    return make_error(ErrorCode::kInvalidArgument, "'", symbol(op), "' not supported between instances of '",
                      python_type_name(left), "' and '", python_type_name(right), "'");
  }
  switch (op) {
    case CompareOp::kLess: return *ordered < 0;
    case CompareOp::kLessEqual: return *ordered <= 0;
    case CompareOp::kGreater: return *ordered > 0;
    default: return *ordered >= 0;
  }
}

Expected<bool> contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case ValueKind::kString:
      FERRUM_CHECK(item.is_string(), ErrorCode::kInvalidArgument, "'in <string>' requires string as left operand, not ",
                   python_type_name(item));
      return container.as_string().find(item.as_string()) != std::string::npos;
    case ValueKind::kList:
      for (const Value& element : container.as_list().items) {
        if (values_equal(element, item)) return true;
      }
      return false;
    case ValueKind::kDict:
      FERRUM_CHECK(is_hashable(item), ErrorCode::kInvalidArgument, "unhashable type: '", python_type_name(item), "'");
      return container.as_dict().find(item) != nullptr;
    case ValueKind::kUndefined: return false;
    case ValueKind::kObject:
      if (container.as_object().is_iterable()) {
        FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, container.as_object().iterate());
        for (const Value& element : items) {
          if (values_equal(element, item)) return true;
        }
        return false;
      }
      break;
    default: break;
  }
  return make_error(ErrorCode::kInvalidArgument, "argument of type '", python_type_name(container),
                    "' is not iterable");
}

Expected<std::vector<Value>> iterate(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kList: return value.as_list().items;
    case ValueKind::kDict: {
      std::vector<Value> keys;
      keys.reserve(value.as_dict().size());
      for (const auto& entry : value.as_dict().entries()) keys.push_back(entry.first);
      return keys;
    }
    case ValueKind::kString: {
      std::vector<Value> characters;
      const std::string& text = value.as_string();
      for (size_t pos = 0; pos < text.size();) {
        char32_t c = 0;
        const size_t width = utf8_decode(text, pos, c);
        characters.push_back(Value::string(text.substr(pos, width)));
        pos += width;
      }
      return characters;
    }
    case ValueKind::kUndefined: return std::vector<Value>{};
    case ValueKind::kObject:
      if (value.as_object().is_iterable()) return value.as_object().iterate();
      break;
    default: break;
  }
  return make_error(ErrorCode::kInvalidArgument, "'", python_type_name(value), "' object is not iterable");
}

Expected<int64_t> length_of(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kString: return static_cast<int64_t>(code_point_count(value.as_string()));
    case ValueKind::kList: return static_cast<int64_t>(value.as_list().items.size());
    case ValueKind::kDict: return static_cast<int64_t>(value.as_dict().size());
    case ValueKind::kUndefined: return int64_t{0};
    default:
      return make_error(ErrorCode::kInvalidArgument, "object of type '", python_type_name(value), "' has no len()");
  }
}

namespace {

Value missing_attribute(const Value& object, std::string_view name) {
  if (object.is_none()) return Value::undefined(cat("'None' has no attribute '", name, "'"));
  return Value::undefined(cat("'", python_type_name(object), " object' has no attribute '", name, "'"));
}

// A method of a builtin type, bound to its receiver; mutating ones only where the sandbox allows them.
Value bound_method(const Value& object, std::string_view name, bool allow_mutating) {
  if (is_mutating_method(object, name) && !allow_mutating) {
    return Value::undefined(cat("access to attribute '", name, "' of '", python_type_name(object),
                                "' object is unsafe (transformers renders templates in an immutable sandbox)"));
  }
  return make_bound_method(object, name);
}

}  // namespace

Expected<Value> get_attribute(const Value& object, std::string_view name, bool allow_mutating) {
  if (object.is_undefined()) return undefined_error(object);
  if (has_method(object, name)) return bound_method(object, name, allow_mutating);
  if (object.is_dict()) {
    if (const Value* value = object.as_dict().find(name)) return *value;
  } else if (object.is_object()) {
    return object.as_object().attribute(name);
  }
  return missing_attribute(object, name);
}

Expected<Value> get_item(const Value& object, const Value& key, bool allow_mutating) {
  if (object.is_undefined()) return undefined_error(object);
  const bool integer_key = key.is_int() || key.is_bool();
  switch (object.kind()) {
    case ValueKind::kDict:
      if (is_hashable(key)) {
        if (const Value* value = object.as_dict().find(key)) return *value;
      }
      break;
    case ValueKind::kList:
      if (integer_key) {
        const auto& items = object.as_list().items;
        int64_t index = key.as_integer_like();
        if (index < 0) index += static_cast<int64_t>(items.size());
        if (index >= 0 && index < static_cast<int64_t>(items.size())) return items[static_cast<size_t>(index)];
        return Value::undefined(cat("'", python_type_name(object), " object' has no element ", key.as_integer_like()));
      }
      break;
    case ValueKind::kString:
      if (integer_key) {
        if (auto character = py_char_at(object.as_string(), key.as_integer_like())) {
          return Value::string(std::move(*character));
        }
        return Value::undefined(cat("'str object' has no element ", key.as_integer_like()));
      }
      break;
    default: break;
  }
  if (key.is_string()) return get_attribute(object, key.as_string(), allow_mutating);
  return Value::undefined(cat("'", python_type_name(object), " object' has no element ", to_repr(key)));
}

Expected<Value> get_slice(const Value& object, const Value& start, const Value& stop, const Value& step) {
  if (object.is_undefined()) return undefined_error(object);
  auto bound = [](const Value& v) -> Expected<std::optional<int64_t>> {
    if (v.is_undefined() || v.is_none()) return std::optional<int64_t>();
    FERRUM_CHECK(v.is_int() || v.is_bool(), ErrorCode::kInvalidArgument, "slice indices must be integers or None, not ",
                 python_type_name(v));
    return std::optional<int64_t>(v.as_integer_like());
  };
  FERRUM_ASSIGN_OR_RETURN(std::optional<int64_t> first, bound(start));
  FERRUM_ASSIGN_OR_RETURN(std::optional<int64_t> last, bound(stop));
  FERRUM_ASSIGN_OR_RETURN(std::optional<int64_t> stride, bound(step));
  if (object.is_string()) {
    const std::string& text = object.as_string();
    FERRUM_ASSIGN_OR_RETURN(SliceBounds bounds,
                            slice_bounds(static_cast<int64_t>(code_point_count(text)), first, last, stride));
    return Value::string(py_slice(text, bounds));
  }
  if (object.is_list()) {
    const auto& items = object.as_list().items;
    FERRUM_ASSIGN_OR_RETURN(SliceBounds bounds, slice_bounds(static_cast<int64_t>(items.size()), first, last, stride));
    std::vector<Value> selected;
    selected.reserve(static_cast<size_t>(bounds.count));
    for (int64_t i = 0, at = bounds.start; i < bounds.count; ++i, at += bounds.step) {
      selected.push_back(items[static_cast<size_t>(at)]);
    }
    return object.is_tuple() ? Value::tuple(std::move(selected)) : Value::list(std::move(selected));
  }
  return Value::undefined(cat("'", python_type_name(object), "' object is not subscriptable"));
}

}  // namespace ferrum::chat
