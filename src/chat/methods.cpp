#include "chat/methods.h"

#include <algorithm>

#include "chat/call_args.h"
#include "chat/objects.h"
#include "chat/operators.h"
#include "chat/printing.h"
#include "chat/python_str.h"
#include "chat/renderer.h"
#include "chat/string_format.h"
#include "chat/utf8.h"

namespace ferrum::chat {
namespace {

constexpr std::string_view kStringMethods[] = {
    "strip",     "lstrip",  "rstrip",    "split",      "rsplit",       "splitlines",  "startswith", "endswith",
    "upper",     "lower",   "title",     "capitalize", "swapcase",     "casefold",    "replace",    "find",
    "rfind",     "index",   "rindex",    "count",      "join",         "format",      "isdigit",    "isdecimal",
    "isnumeric", "isalpha", "isalnum",   "isspace",    "islower",      "isupper",     "zfill",      "center",
    "ljust",     "rjust",   "partition", "rpartition", "removeprefix", "removesuffix"};
constexpr std::string_view kDictMethods[] = {"get", "items", "keys", "values", "copy"};
constexpr std::string_view kDictMutators[] = {"update", "pop", "popitem", "setdefault", "clear"};
constexpr std::string_view kListMethods[] = {"index", "count", "copy"};
constexpr std::string_view kListMutators[] = {"append", "extend", "insert",  "pop",
                                              "remove", "clear",  "reverse", "sort"};

template <size_t N>
bool listed(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

Value string_list(std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (std::string& part : parts) items.push_back(Value::string(std::move(part)));
  return Value::list(std::move(items));
}

Expected<std::optional<std::string>> optional_string(std::string_view method, std::string_view param, const Value& v) {
  if (v.is_none() || v.is_undefined()) return std::optional<std::string>();
  FERRUM_ASSIGN_OR_RETURN(std::string text, string_arg(method, param, v));
  return std::optional<std::string>(std::move(text));
}

Expected<std::optional<int64_t>> optional_int(std::string_view method, std::string_view param, const Value& v) {
  if (v.is_none() || v.is_undefined()) return std::optional<int64_t>();
  FERRUM_ASSIGN_OR_RETURN(int64_t number, int_arg(method, param, v));
  return std::optional<int64_t>(number);
}

// startswith / endswith accept one prefix or a tuple of them, and an optional start/end window.
Expected<Value> affix_test(const std::string& text, std::string_view method, CallArgs& args, bool prefix) {
  FERRUM_ASSIGN_OR_RETURN(auto bound,
                          bind_args(method, args, {required("affix"), {"start", Value()}, {"end", Value()}}));
  std::vector<std::string> candidates;
  if (bound[0].is_tuple()) {
    for (const Value& item : bound[0].as_list().items) {
      FERRUM_ASSIGN_OR_RETURN(std::string candidate, string_arg(method, "affix", item));
      candidates.push_back(std::move(candidate));
    }
  } else {
    FERRUM_CHECK(bound[0].is_string(), ErrorCode::kInvalidArgument, method,
                 " first arg must be str or a tuple of str, not ", python_type_name(bound[0]));
    candidates.push_back(bound[0].as_string());
  }
  std::string window = text;
  if (!bound[1].is_undefined() || !bound[2].is_undefined()) {
    FERRUM_ASSIGN_OR_RETURN(auto start, optional_int(method, "start", bound[1]));
    FERRUM_ASSIGN_OR_RETURN(auto end, optional_int(method, "end", bound[2]));
    FERRUM_ASSIGN_OR_RETURN(SliceBounds bounds,
                            slice_bounds(static_cast<int64_t>(code_point_count(text)), start, end, 1));
    window = py_slice(text, bounds);
  }
  for (const std::string& candidate : candidates) {
    if (prefix ? window.starts_with(candidate) : window.ends_with(candidate)) return Value::boolean(true);
  }
  return Value::boolean(false);
}

template <class Predicate>
Value all_characters(const std::string& text, Predicate predicate) {
  if (text.empty()) return Value::boolean(false);
  for (size_t pos = 0; pos < text.size();) {
    char32_t c = 0;
    pos += utf8_decode(text, pos, c);
    if (!predicate(c)) return Value::boolean(false);
  }
  return Value::boolean(true);
}

// islower / isupper: at least one cased character, and none of the other case.
Value case_test(const std::string& text, bool lower) {
  bool any_cased = false;
  for (size_t pos = 0; pos < text.size();) {
    char32_t c = 0;
    pos += utf8_decode(text, pos, c);
    if (lower ? is_cased_upper(c) : is_cased_lower(c)) return Value::boolean(false);
    any_cased |= lower ? is_cased_lower(c) : is_cased_upper(c);
  }
  return Value::boolean(any_cased);
}

Expected<Value> string_method(Renderer& renderer, const std::string& text, std::string_view name, CallArgs& args) {
  const size_t max_bytes = renderer.limits().max_output_bytes;
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {{"chars", Value::none()}}));
    FERRUM_ASSIGN_OR_RETURN(auto chars, optional_string(name, "chars", bound[0]));
    return Value::string(py_strip(text, chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    FERRUM_ASSIGN_OR_RETURN(auto bound,
                            bind_args(name, args, {{"sep", Value::none()}, {"maxsplit", Value::integer(-1)}}));
    FERRUM_ASSIGN_OR_RETURN(auto separator, optional_string(name, "sep", bound[0]));
    FERRUM_ASSIGN_OR_RETURN(int64_t maxsplit, int_arg(name, "maxsplit", bound[1]));
    FERRUM_ASSIGN_OR_RETURN(auto parts, py_split(text, separator, maxsplit, name == "rsplit"));
    return string_list(std::move(parts));
  }
  if (name == "splitlines") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {{"keepends", Value::boolean(false)}}));
    return string_list(py_splitlines(text, is_truthy(bound[0])));
  }
  if (name == "startswith" || name == "endswith") return affix_test(text, name, args, name == "startswith");
  if (name == "upper" || name == "lower" || name == "casefold" || name == "title" || name == "capitalize" ||
      name == "swapcase") {
    FERRUM_TRY(bind_args(name, args, {}));
    if (name == "upper") return Value::string(py_upper(text));
    if (name == "title") return Value::string(py_title(text));
    if (name == "capitalize") return Value::string(py_capitalize(text));
    if (name == "swapcase") return Value::string(py_swapcase(text));
    return Value::string(py_lower(text));
  }
  if (name == "replace") {
    FERRUM_ASSIGN_OR_RETURN(auto bound,
                            bind_args(name, args, {required("old"), required("new"), {"count", Value::integer(-1)}}));
    FERRUM_ASSIGN_OR_RETURN(std::string old, string_arg(name, "old", bound[0]));
    FERRUM_ASSIGN_OR_RETURN(std::string replacement, string_arg(name, "new", bound[1]));
    FERRUM_ASSIGN_OR_RETURN(int64_t count, int_arg(name, "count", bound[2]));
    const size_t occurrences = old.empty() ? code_point_count(text) + 1 : static_cast<size_t>(py_count(text, old));
    FERRUM_TRY(renderer.check_string_size(text.size() + occurrences * replacement.size()));
    return Value::string(py_replace(text, old, replacement, count));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("sub"), {"start", Value()}, {"end", Value()}}));
    FERRUM_ASSIGN_OR_RETURN(std::string needle, string_arg(name, "sub", bound[0]));
    FERRUM_ASSIGN_OR_RETURN(auto start, optional_int(name, "start", bound[1]));
    FERRUM_ASSIGN_OR_RETURN(auto end, optional_int(name, "end", bound[2]));
    const int64_t found = py_find(text, needle, start, end, name[0] == 'r');
    FERRUM_CHECK(found >= 0 || name.ends_with("find"), ErrorCode::kInvalidArgument, "ValueError: substring not found");
    return Value::integer(found);
  }
  if (name == "count") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("sub")}));
    FERRUM_ASSIGN_OR_RETURN(std::string needle, string_arg(name, "sub", bound[0]));
    return Value::integer(py_count(text, needle));
  }
  if (name == "join") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("iterable")}));
    FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(bound[0]));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      FERRUM_CHECK(items[i].is_string(), ErrorCode::kInvalidArgument, "sequence item ", i, ": expected str instance, ",
                   python_type_name(items[i]), " found");
      if (i > 0) out += text;
      out += items[i].as_string();
      FERRUM_TRY(renderer.check_string_size(out.size()));
    }
    return Value::string(std::move(out));
  }
  if (name == "format") {
    FERRUM_ASSIGN_OR_RETURN(std::string out, brace_format(text, args, max_bytes));
    return Value::string(std::move(out));
  }
  if (name.starts_with("is")) {
    FERRUM_TRY(bind_args(name, args, {}));
    if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") return all_characters(text, is_decimal_digit);
    if (name == "isalpha") return all_characters(text, is_alpha);
    if (name == "isalnum") return all_characters(text, [](char32_t c) { return is_alpha(c) || is_decimal_digit(c); });
    if (name == "isspace") return all_characters(text, is_python_space);
    return case_test(text, name == "islower");
  }
  if (name == "zfill" || name == "center" || name == "ljust" || name == "rjust") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("width"), {"fillchar", Value::string(" ")}}));
    FERRUM_ASSIGN_OR_RETURN(int64_t width, int_arg(name, "width", bound[0]));
    FERRUM_ASSIGN_OR_RETURN(std::string fill, string_arg(name, "fillchar", bound[1]));
    FERRUM_CHECK(code_point_count(fill) == 1, ErrorCode::kInvalidArgument, name,
                 "(): the fill character must be exactly one character long");
    FERRUM_TRY(renderer.check_string_size(static_cast<size_t>(std::max<int64_t>(width, 0)) * fill.size()));
    if (name == "zfill") {
      const bool signed_text = !text.empty() && (text[0] == '-' || text[0] == '+');
      const std::string sign = signed_text ? text.substr(0, 1) : "";
      return Value::string(
          sign + py_pad(text.substr(sign.size()), width - static_cast<int64_t>(sign.size()), "0", Alignment::kRight));
    }
    const Alignment alignment = name == "center"  ? Alignment::kCenter
                                : name == "ljust" ? Alignment::kLeft
                                                  : Alignment::kRight;
    return Value::string(py_pad(text, width, fill, alignment));
  }
  if (name == "partition" || name == "rpartition") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("sep")}));
    FERRUM_ASSIGN_OR_RETURN(std::string sep, string_arg(name, "sep", bound[0]));
    FERRUM_CHECK(!sep.empty(), ErrorCode::kInvalidArgument, "ValueError: empty separator");
    const size_t found = name == "partition" ? text.find(sep) : text.rfind(sep);
    if (found == std::string::npos) {
      return name == "partition" ? Value::tuple({Value::string(text), Value::string(""), Value::string("")})
                                 : Value::tuple({Value::string(""), Value::string(""), Value::string(text)});
    }
    return Value::tuple(
        {Value::string(text.substr(0, found)), Value::string(sep), Value::string(text.substr(found + sep.size()))});
  }
  if (name == "removeprefix" || name == "removesuffix") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("affix")}));
    FERRUM_ASSIGN_OR_RETURN(std::string affix, string_arg(name, "affix", bound[0]));
    if (name == "removeprefix" && text.starts_with(affix)) return Value::string(text.substr(affix.size()));
    if (name == "removesuffix" && text.ends_with(affix))
      return Value::string(text.substr(0, text.size() - affix.size()));
    return Value::string(text);
  }
  return make_error(ErrorCode::kInternal, "str method '", name, "' is listed but not implemented");
}

std::vector<Value> dict_pairs(const Dict& dict) {
  std::vector<Value> pairs;
  pairs.reserve(dict.size());
  for (const auto& [key, value] : dict.entries()) pairs.push_back(Value::tuple({key, value}));
  return pairs;
}

Expected<Value> dict_method(Renderer& renderer, const Value& receiver, std::string_view name, CallArgs& args) {
  const Dict& dict = receiver.as_dict();
  if (name == "get") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("key"), {"default", Value::none()}}));
    FERRUM_CHECK(is_hashable(bound[0]), ErrorCode::kInvalidArgument, "unhashable type: '", python_type_name(bound[0]),
                 "'");
    const Value* found = dict.find(bound[0]);
    return found != nullptr ? *found : bound[1];
  }
  if (name == "items" || name == "keys" || name == "values" || name == "copy") {
    FERRUM_TRY(bind_args(name, args, {}));
    if (name == "copy") return Value::dict(dict);
    if (name == "items") return Value::list(dict_pairs(dict));
    std::vector<Value> out;
    for (const auto& [key, value] : dict.entries()) out.push_back(name == "keys" ? key : value);
    return Value::list(std::move(out));
  }
  // The mutators, reachable only with RenderOptions::allow_mutating_methods.
  Dict& target = receiver.mutable_dict();
  renderer.adopt(receiver);
  if (name == "update") {
    FERRUM_CHECK(args.positional.size() <= 1, ErrorCode::kInvalidArgument, "update() takes at most 1 argument");
    if (!args.positional.empty()) {
      FERRUM_CHECK(args.positional[0].is_dict(), ErrorCode::kInvalidArgument, "update() argument must be a dict");
      for (const auto& [key, value] : args.positional[0].as_dict().entries()) target.set(key, value);
    }
    for (const auto& [key, value] : args.keywords) target.set(Value::string(key), value);
    FERRUM_TRY(renderer.check_value_depth(receiver));
    return Value::none();
  }
  if (name == "setdefault") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("key"), {"default", Value::none()}}));
    FERRUM_CHECK(is_hashable(bound[0]), ErrorCode::kInvalidArgument, "unhashable type");
    if (const Value* found = target.find(bound[0])) return *found;
    target.set(bound[0], bound[1]);
    FERRUM_TRY(renderer.check_value_depth(receiver));
    return bound[1];
  }
  if (name == "pop") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("key"), {"default", Value()}}));
    FERRUM_CHECK(is_hashable(bound[0]), ErrorCode::kInvalidArgument, "unhashable type");
    if (const Value* found = target.find(bound[0])) {
      Value value = *found;
      target.erase(bound[0]);
      return value;
    }
    FERRUM_CHECK(!bound[1].is_undefined(), ErrorCode::kInvalidArgument, "KeyError: ", to_repr(bound[0]));
    return bound[1];
  }
  if (name == "popitem") {
    FERRUM_TRY(bind_args(name, args, {}));
    FERRUM_CHECK(!target.empty(), ErrorCode::kInvalidArgument, "KeyError: 'popitem(): dictionary is empty'");
    auto last = target.entries().back();
    target.erase(last.first);
    return Value::tuple({last.first, last.second});
  }
  FERRUM_TRY(bind_args(name, args, {}));  // clear
  target.clear();
  return Value::none();
}

Expected<Value> list_method(Renderer& renderer, const Value& receiver, std::string_view name, CallArgs& args) {
  const std::vector<Value>& items = receiver.as_list().items;
  if (name == "index") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("value")}));
    for (size_t i = 0; i < items.size(); ++i) {
      if (values_equal(items[i], bound[0])) return Value::integer(static_cast<int64_t>(i));
    }
    return make_error(ErrorCode::kInvalidArgument, "ValueError: ", to_repr(bound[0]), " is not in list");
  }
  if (name == "count") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("value")}));
    return Value::integer(
        std::count_if(items.begin(), items.end(), [&](const Value& v) { return values_equal(v, bound[0]); }));
  }
  if (name == "copy") {
    FERRUM_TRY(bind_args(name, args, {}));
    return Value::list(items);
  }
  // The mutators, reachable only with RenderOptions::allow_mutating_methods (and never on tuples).
  FERRUM_CHECK(!receiver.is_tuple(), ErrorCode::kInvalidArgument, "'tuple' object has no attribute '", name, "'");
  List& list = receiver.mutable_list();
  renderer.adopt(receiver);
  auto grown = [&](const Value& added) -> Status {
    FERRUM_TRY(renderer.check_sequence_length(list.items.size()));
    list.depth = std::max(list.depth, value_depth(added) + 1);
    return renderer.check_value_depth(receiver);
  };
  if (name == "append") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("value")}));
    list.items.push_back(bound[0]);
    FERRUM_TRY(grown(bound[0]));
    return Value::none();
  }
  if (name == "extend") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("iterable")}));
    FERRUM_ASSIGN_OR_RETURN(std::vector<Value> added, iterate(bound[0]));
    for (Value& value : added) {
      list.items.push_back(value);
      FERRUM_TRY(grown(value));
    }
    return Value::none();
  }
  if (name == "insert") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("index"), required("value")}));
    FERRUM_ASSIGN_OR_RETURN(int64_t index, int_arg(name, "index", bound[0]));
    const auto size = static_cast<int64_t>(list.items.size());
    index = std::clamp<int64_t>(index < 0 ? index + size : index, 0, size);
    list.items.insert(list.items.begin() + index, bound[1]);
    FERRUM_TRY(grown(bound[1]));
    return Value::none();
  }
  if (name == "pop") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {{"index", Value::integer(-1)}}));
    FERRUM_ASSIGN_OR_RETURN(int64_t index, int_arg(name, "index", bound[0]));
    FERRUM_CHECK(!list.items.empty(), ErrorCode::kInvalidArgument, "IndexError: pop from empty list");
    const auto size = static_cast<int64_t>(list.items.size());
    if (index < 0) index += size;
    FERRUM_CHECK(index >= 0 && index < size, ErrorCode::kInvalidArgument, "IndexError: pop index out of range");
    Value value = list.items[static_cast<size_t>(index)];
    list.items.erase(list.items.begin() + index);
    return value;
  }
  if (name == "remove") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {required("value")}));
    auto it =
        std::find_if(list.items.begin(), list.items.end(), [&](const Value& v) { return values_equal(v, bound[0]); });
    FERRUM_CHECK(it != list.items.end(), ErrorCode::kInvalidArgument, "ValueError: list.remove(x): x not in list");
    list.items.erase(it);
    return Value::none();
  }
  if (name == "sort") {
    FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args(name, args, {{"reverse", Value::boolean(false)}}));
    CallArgs sort_args;
    sort_args.keywords.emplace_back("reverse", bound[0]);
    sort_args.keywords.emplace_back("case_sensitive", Value::boolean(true));
    FERRUM_ASSIGN_OR_RETURN(Value sorted, renderer.apply_filter("sort", receiver, sort_args));
    list.items = sorted.as_list().items;
    return Value::none();
  }
  FERRUM_TRY(bind_args(name, args, {}));
  if (name == "reverse") {
    std::reverse(list.items.begin(), list.items.end());
  } else {
    list.items.clear();
  }
  return Value::none();
}

}  // namespace

bool has_method(const Value& receiver, std::string_view name) {
  switch (receiver.kind()) {
    case ValueKind::kString: return listed(kStringMethods, name);
    case ValueKind::kDict: return listed(kDictMethods, name) || listed(kDictMutators, name);
    case ValueKind::kList: return listed(kListMethods, name) || (!receiver.is_tuple() && listed(kListMutators, name));
    default: return false;
  }
}

bool is_mutating_method(const Value& receiver, std::string_view name) {
  if (receiver.is_dict()) return listed(kDictMutators, name);
  if (receiver.is_list()) return listed(kListMutators, name);
  return false;
}

Value make_bound_method(const Value& receiver, std::string_view name) {
  return make_function(std::string(name), [receiver, method = std::string(name)](Renderer& renderer, CallArgs& args) {
    if (receiver.is_string()) return string_method(renderer, receiver.as_string(), method, args);
    if (receiver.is_dict()) return dict_method(renderer, receiver, method, args);
    return list_method(renderer, receiver, method, args);
  });
}

}  // namespace ferrum::chat
