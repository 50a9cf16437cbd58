#include "chat/jinja_tests.h"


#include "chat/call_args.h"
#include "chat/filters.h"
#include "chat/operators.h"
#include "chat/printing.h"
#include "chat/python_str.h"

namespace ferrum::chat {
namespace {

// Tests of the value alone.
template <bool (*Predicate)(const Value&)>
Expected<bool> unary_test(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(bind_args("test", args, {}));
  return Predicate(input);
}

bool is_defined(const Value& v) {
  return !v.is_undefined();
}
bool is_undefined(const Value& v) {
  return v.is_undefined();
}
bool is_none(const Value& v) {
  return v.is_none();
}
bool is_boolean(const Value& v) {
  return v.is_bool();
}
bool is_false(const Value& v) {
  return v.is_bool() && !v.as_bool();
}
bool is_true(const Value& v) {
  return v.is_bool() && v.as_bool();
}
// Jinja2's integer test excludes booleans; its number test (numbers.Number) includes them.
bool is_integer(const Value& v) {
  return v.is_int();
}
bool is_float(const Value& v) {
  return v.is_float();
}
bool is_number(const Value& v) {
  return v.is_number();
}
bool is_string(const Value& v) {
  return v.is_string();
}
bool is_mapping(const Value& v) {
  return v.is_dict();
}
bool is_iterable(const Value& v) {
  return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined() ||
         (v.is_object() && v.as_object().is_iterable());
}
// Has len() and [] : strings, lists, tuples, dicts (and Undefined, which fakes both).
bool is_sequence(const Value& v) {
  return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
}
bool is_callable(const Value& v) {
  return v.is_object() && v.as_object().is_callable();
}
bool is_escaped(const Value&) {
  return false;
}  // no Markup objects: autoescaping is off in transformers

bool is_lower(const Value& v) {
  const std::string text = to_str(v);
  return py_lower(text) == text && py_upper(text) != text;
}
bool is_upper(const Value& v) {
  const std::string text = to_str(v);
  return py_upper(text) == text && py_lower(text) != text;
}

Expected<bool> parity_test(const Value& input, CallArgs& args, bool want_even) {
  FERRUM_TRY(bind_args(want_even ? "even" : "odd", args, {}));
  FERRUM_ASSIGN_OR_RETURN(Value remainder,
                          binary_operation(BinaryOp::kModulo, input, Value::integer(2), RenderLimits{}));
  return values_equal(remainder, Value::integer(0)) == want_even;
}

Expected<bool> test_even(Renderer&, const Value& input, CallArgs& args) {
  return parity_test(input, args, true);
}
Expected<bool> test_odd(Renderer&, const Value& input, CallArgs& args) {
  return parity_test(input, args, false);
}

Expected<bool> test_divisibleby(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("divisibleby", args, {required("num")}));
  FERRUM_ASSIGN_OR_RETURN(Value remainder, binary_operation(BinaryOp::kModulo, input, bound[0], RenderLimits{}));
  return values_equal(remainder, Value::integer(0));
}

template <CompareOp Op>
Expected<bool> comparison_test(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("comparison test", args, {required("other")}));
  return compare_values(Op, input, bound[0]);
}

Expected<bool> test_in(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("in", args, {required("seq")}));
  return contains(bound[0], input);
}

// `a is sameas b`: identity for containers and objects; scalars compare as Python's small-value
// caching makes them behave in practice.
Expected<bool> test_sameas(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("sameas", args, {required("other")}));
  const Value& other = bound[0];
  if (input.kind() != other.kind()) return false;
  if (input.is_list() || input.is_dict() || input.is_object()) return input.identity() == other.identity();
  return values_equal(input, other);
}

Expected<bool> test_filter(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(bind_args("filter", args, {}));
  return input.is_string() && find_filter(input.as_string()) != nullptr;
}

Expected<bool> test_test(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(bind_args("test", args, {}));
  return input.is_string() && find_test(input.as_string()) != nullptr;
}

struct TestEntry {
  std::string_view name;
  TestFunction function;
};

constexpr TestEntry kTests[] = {
    {"!=", comparison_test<CompareOp::kNotEqual>},
    {"<", comparison_test<CompareOp::kLess>},
    {"<=", comparison_test<CompareOp::kLessEqual>},
    {"==", comparison_test<CompareOp::kEqual>},
    {">", comparison_test<CompareOp::kGreater>},
    {">=", comparison_test<CompareOp::kGreaterEqual>},
    {"boolean", unary_test<is_boolean>},
    {"callable", unary_test<is_callable>},
    {"defined", unary_test<is_defined>},
    {"divisibleby", test_divisibleby},
    {"eq", comparison_test<CompareOp::kEqual>},
    {"equalto", comparison_test<CompareOp::kEqual>},
    {"escaped", unary_test<is_escaped>},
    {"even", test_even},
    {"false", unary_test<is_false>},
    {"filter", test_filter},
    {"float", unary_test<is_float>},
    {"ge", comparison_test<CompareOp::kGreaterEqual>},
    {"greaterthan", comparison_test<CompareOp::kGreater>},
    {"gt", comparison_test<CompareOp::kGreater>},
    {"in", test_in},
    {"integer", unary_test<is_integer>},
    {"iterable", unary_test<is_iterable>},
    {"le", comparison_test<CompareOp::kLessEqual>},
    {"lessthan", comparison_test<CompareOp::kLess>},
    {"lower", unary_test<is_lower>},
    {"lt", comparison_test<CompareOp::kLess>},
    {"mapping", unary_test<is_mapping>},
    {"ne", comparison_test<CompareOp::kNotEqual>},
    {"none", unary_test<is_none>},
    {"number", unary_test<is_number>},
    {"odd", test_odd},
    {"sameas", test_sameas},
    {"sequence", unary_test<is_sequence>},
    {"string", unary_test<is_string>},
    {"test", test_test},
    {"true", unary_test<is_true>},
    {"undefined", unary_test<is_undefined>},
    {"upper", unary_test<is_upper>},
};

}  // namespace

TestFunction find_test(std::string_view name) {
  for (const TestEntry& entry : kTests) {
    if (entry.name == name) return entry.function;
  }
  return nullptr;
}

}  // namespace ferrum::chat
