// Text and scalar filters, and the table of all filters.
#include "chat/filters.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "chat/call_args.h"
#include "chat/json_dump.h"
#include "chat/methods.h"
#include "chat/operators.h"
#include "chat/printing.h"
#include "chat/python_str.h"
#include "chat/renderer.h"
#include "chat/sequence_filters.h"
#include "chat/string_format.h"
#include "chat/utf8.h"

namespace ferrum::chat {
namespace {

// Filters that take only their input.
Status no_arguments(std::string_view filter, const CallArgs& args) {
  FERRUM_TRY(bind_args(filter, args, {}));
  return ok();
}

Expected<Value> filter_abs(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(no_arguments("abs", args));
  if (input.is_float()) return Value::number(std::fabs(input.as_float()));
  FERRUM_CHECK(input.is_int() || input.is_bool(), ErrorCode::kInvalidArgument, "bad operand type for abs(): '",
               python_type_name(input), "'");
  FERRUM_CHECK(input.as_integer_like() != INT64_MIN, ErrorCode::kUnsupported, "integer overflow in abs()");
  return Value::integer(std::llabs(input.as_integer_like()));
}

// attr(name): attribute lookup only, never items (the sandbox's getattr).
Expected<Value> filter_attr(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("attr", args, {required("name")}));
  FERRUM_ASSIGN_OR_RETURN(std::string name, string_arg("attr", "name", bound[0]));
  if (input.is_undefined()) return undefined_error(input);
  if (input.is_object()) return input.as_object().attribute(name);
  if (has_method(input, name)) return get_attribute(input, name, renderer.options().allow_mutating_methods);
  return Value::undefined(cat("'", python_type_name(input), " object' has no attribute '", name, "'"));
}

Expected<Value> filter_capitalize(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(no_arguments("capitalize", args));
  return Value::string(py_capitalize(to_str(input)));
}

Expected<Value> filter_center(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("center", args, {{"width", Value::integer(80)}}));
  FERRUM_ASSIGN_OR_RETURN(int64_t width, int_arg("center", "width", bound[0]));
  FERRUM_TRY(renderer.check_string_size(static_cast<size_t>(std::max<int64_t>(width, 0))));
  return Value::string(py_pad(to_str(input), width, " ", Alignment::kCenter));
}

Expected<Value> filter_default(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(
      auto bound,
      bind_args("default", args, {{"default_value", Value::string("")}, {"boolean", Value::boolean(false)}}));
  const bool use_default = input.is_undefined() || (is_truthy(bound[1]) && !is_truthy(input));
  return use_default ? bound[0] : input;
}

Expected<Value> filter_escape(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(no_arguments("escape", args));
  std::string out;
  for (char c : to_str(input)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return Value::string(std::move(out));
}

// Python's float(str): surrounding whitespace and digit underscores allowed, plus inf/nan spellings.
std::optional<double> parse_python_float(const std::string& raw) {
  std::string text = py_strip(raw, std::nullopt, true, true);
  std::string cleaned;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '_') {
      const bool between_digits = i > 0 && i + 1 < text.size() &&
                                  std::isdigit(static_cast<unsigned char>(text[i - 1])) &&
                                  std::isdigit(static_cast<unsigned char>(text[i + 1]));
      if (!between_digits) return std::nullopt;
      continue;
    }
    cleaned.push_back(text[i]);
  }
  if (cleaned.empty()) return std::nullopt;
  const std::string lowered = py_lower(cleaned);
  const std::string unsigned_part = lowered[0] == '+' || lowered[0] == '-' ? lowered.substr(1) : lowered;
  if (unsigned_part == "inf" || unsigned_part == "infinity" || unsigned_part == "nan") {
    const double value = unsigned_part == "nan" ? NAN : INFINITY;
    return lowered[0] == '-' ? -value : value;
  }
  // strtod also accepts hex floats and "inf" spellings Python does not; only plain decimals pass here.
  for (char c : unsigned_part) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != 'e' && c != '+' && c != '-')
      return std::nullopt;
  }
  char* end = nullptr;
  const double value = std::strtod(cleaned.c_str(), &end);
  if (end != cleaned.c_str() + cleaned.size()) return std::nullopt;
  return value;
}

// Python's int(str, base): whitespace, sign, underscores and (for base 16/8/2/0) a prefix.
std::optional<int64_t> parse_python_int(const std::string& raw, int64_t base) {
  std::string text = py_strip(raw, std::nullopt, true, true);
  bool negative = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    negative = text[0] == '-';
    text.erase(0, 1);
  }
  if (text.size() > 1 && text[0] == '0') {
    const char prefix = static_cast<char>(text[1] | 0x20);
    const int64_t prefix_base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : prefix == 'b' ? 2 : 0;
    if (prefix_base != 0 && (base == prefix_base || base == 0)) {
      text.erase(0, 2);
      base = prefix_base;
    }
  }
  if (base == 0) base = 10;
  if (base < 2 || base > 36 || text.empty() || text.front() == '_' || text.back() == '_') return std::nullopt;
  std::string digits;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '_' && text[i - 1] != '_') continue;
    if (!std::isalnum(static_cast<unsigned char>(text[i]))) return std::nullopt;
    digits.push_back(text[i]);
  }
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(digits.c_str(), &end, static_cast<int>(base));
  if (errno == ERANGE || end != digits.c_str() + digits.size()) return std::nullopt;
  return negative ? -value : value;
}

Expected<Value> filter_float(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("float", args, {{"default", Value::number(0.0)}}));
  if (input.is_number()) return Value::number(input.as_double());
  if (input.is_string()) {
    if (auto parsed = parse_python_float(input.as_string())) return Value::number(*parsed);
  }
  return bound[0];
}

Expected<Value> filter_int(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound,
                          bind_args("int", args, {{"default", Value::integer(0)}, {"base", Value::integer(10)}}));
  FERRUM_ASSIGN_OR_RETURN(int64_t base, int_arg("int", "base", bound[1]));
  if (input.is_int() || input.is_bool()) return Value::integer(input.as_integer_like());
  auto from_double = [](double value) -> Expected<Value> {
    FERRUM_CHECK(std::isfinite(value), ErrorCode::kInvalidArgument, "cannot convert float ", format_float(value),
                 " to integer");
    FERRUM_CHECK(std::fabs(value) < 9.2e18, ErrorCode::kUnsupported, "integer overflow converting ",
                 format_float(value));
    return Value::integer(static_cast<int64_t>(value));
  };
  if (input.is_float()) return from_double(input.as_float());
  if (input.is_string()) {
    if (auto parsed = parse_python_int(input.as_string(), base)) return Value::integer(*parsed);
    if (auto parsed = parse_python_float(input.as_string())) return from_double(*parsed);
  }
  return bound[0];
}

Expected<Value> filter_format(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_CHECK(args.positional.empty() || args.keywords.empty(), ErrorCode::kInvalidArgument,
               "format filter: can't handle positional and keyword arguments at the same time");
  Value format_args;
  if (!args.keywords.empty()) {
    Dict named;
    for (const auto& [name, value] : args.keywords) named.set(Value::string(name), value);
    format_args = Value::dict(std::move(named));
  } else {
    format_args = Value::tuple(args.positional);
  }
  FERRUM_ASSIGN_OR_RETURN(std::string out,
                          percent_format(to_str(input), format_args, renderer.limits().max_output_bytes));
  return Value::string(std::move(out));
}

// Jinja2's indent: lines after the first get `width` spaces (or the given string); blank lines only
// with blank=True, the first line only with first=True.
Expected<Value> filter_indent(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(
      auto bound,
      bind_args("indent", args,
                {{"width", Value::integer(4)}, {"first", Value::boolean(false)}, {"blank", Value::boolean(false)}}));
  std::string indentation;
  if (bound[0].is_string()) {
    indentation = bound[0].as_string();
  } else {
    FERRUM_ASSIGN_OR_RETURN(int64_t width, int_arg("indent", "width", bound[0]));
    FERRUM_TRY(renderer.check_string_size(static_cast<size_t>(std::max<int64_t>(width, 0))));
    indentation.assign(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
  }
  // Jinja2 appends a newline before splitting so a trailing newline survives splitlines().
  const std::vector<std::string> lines = py_splitlines(to_str(input) + "\n", false);
  FERRUM_TRY(renderer.check_string_size(to_str(input).size() + lines.size() * (indentation.size() + 1)));
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    const bool indent_line = (i == 0 && is_truthy(bound[1])) || (i > 0 && (is_truthy(bound[2]) || !lines[i].empty()));
    if (indent_line) out += indentation;
    out += lines[i];
  }
  return Value::string(std::move(out));
}

Expected<Value> filter_lower(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(no_arguments("lower", args));
  return Value::string(py_lower(to_str(input)));
}

Expected<Value> filter_upper(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(no_arguments("upper", args));
  return Value::string(py_upper(to_str(input)));
}

Expected<Value> filter_replace(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound,
                          bind_args("replace", args, {required("old"), required("new"), {"count", Value::none()}}));
  const std::string text = to_str(input);
  const std::string old = to_str(bound[0]);
  const std::string replacement = to_str(bound[1]);
  int64_t count = -1;
  if (!bound[2].is_none()) {
    FERRUM_ASSIGN_OR_RETURN(count, int_arg("replace", "count", bound[2]));
  }
  const size_t occurrences = old.empty() ? code_point_count(text) + 1 : static_cast<size_t>(py_count(text, old));
  FERRUM_TRY(renderer.check_string_size(text.size() + occurrences * replacement.size()));
  return Value::string(py_replace(text, old, replacement, count));
}

// round(): Python's round() (half to even on the exact binary value), or ceil/floor.
Expected<Value> filter_round(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(
      auto bound, bind_args("round", args, {{"precision", Value::integer(0)}, {"method", Value::string("common")}}));
  FERRUM_ASSIGN_OR_RETURN(int64_t precision, int_arg("round", "precision", bound[0]));
  FERRUM_ASSIGN_OR_RETURN(std::string method, string_arg("round", "method", bound[1]));
  FERRUM_CHECK(method == "common" || method == "ceil" || method == "floor", ErrorCode::kInvalidArgument,
               "round(): method must be 'common', 'ceil' or 'floor'");
  FERRUM_CHECK(input.is_number(), ErrorCode::kInvalidArgument, "round(): expected a number, got ",
               python_type_name(input));
  precision = std::clamp<int64_t>(precision, -400, 400);
  const double scale = std::pow(10.0, static_cast<double>(precision));
  if (method != "common") {
    const double scaled = input.as_double() * scale;
    return Value::number((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
  }
  if (!input.is_float()) {
    if (precision >= 0) return Value::integer(input.as_integer_like());
    const double rounded = std::nearbyint(static_cast<double>(input.as_integer_like()) * scale) / scale;
    return Value::integer(static_cast<int64_t>(rounded));
  }
  const double value = input.as_float();
  if (!std::isfinite(value)) return Value::number(value);
  if (precision < 0) return Value::number(std::nearbyint(value * scale) / scale);
  // printf rounds the exact binary value half-to-even, which is what Python's round() computes.
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, "%.*f", static_cast<int>(std::min<int64_t>(precision, 300)), value);
  return Value::number(std::strtod(buffer, nullptr));
}

Expected<Value> filter_safe(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(no_arguments("safe", args));
  return Value::string(to_str(input));
}

Expected<Value> filter_string(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(no_arguments("string", args));
  return input.is_string() ? input : Value::string(to_str(input));
}

// Jinja2's title: each piece after '-', whitespace or an opening bracket starts upper case.
Expected<Value> filter_title(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(no_arguments("title", args));
  const std::u32string text = utf8_to_code_points(to_str(input));
  auto is_boundary = [](char32_t c) {
    return c == U'-' || c == U'(' || c == U'{' || c == U'[' || c == U'<' || is_python_space(c);
  };
  std::string out;
  bool word_start = true;
  for (char32_t c : text) {
    if (is_boundary(c)) {
      word_start = true;
      utf8_append(out, c);
      continue;
    }
    utf8_append(out, word_start ? to_upper(c) : to_lower(c));
    word_start = false;
  }
  return Value::string(std::move(out));
}

Expected<Value> filter_tojson(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("tojson", args,
                                                {{"ensure_ascii", Value::boolean(false)},
                                                 {"indent", Value::none()},
                                                 {"separators", Value::none()},
                                                 {"sort_keys", Value::boolean(false)}}));
  JsonDumpOptions options;
  options.ensure_ascii = is_truthy(bound[0]);
  options.sort_keys = is_truthy(bound[3]);
  options.max_bytes = renderer.limits().max_output_bytes;
  const Value& indent = bound[1];
  if (indent.is_string()) {
    options.indent = indent.as_string();
  } else if (!indent.is_none() && !indent.is_undefined()) {
    FERRUM_ASSIGN_OR_RETURN(int64_t width, int_arg("tojson", "indent", indent));
    FERRUM_TRY(renderer.check_string_size(static_cast<size_t>(std::max<int64_t>(width, 0))));
    options.indent = std::string(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
  }
  const Value& separators = bound[2];
  if (!separators.is_none() && !separators.is_undefined()) {
    const bool valid = separators.is_list() && separators.as_list().items.size() == 2 &&
                       separators.as_list().items[0].is_string() && separators.as_list().items[1].is_string();
    FERRUM_CHECK(valid, ErrorCode::kInvalidArgument, "tojson(): separators must be a pair of strings");
    options.item_separator = separators.as_list().items[0].as_string();
    options.key_separator = separators.as_list().items[1].as_string();
  }
  FERRUM_ASSIGN_OR_RETURN(std::string json, dump_json(input, options));
  return Value::string(std::move(json));
}

Expected<Value> filter_trim(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("trim", args, {{"chars", Value::none()}}));
  std::optional<std::string> chars;
  if (!bound[0].is_none()) chars = to_str(bound[0]);
  return Value::string(py_strip(to_str(input), chars, true, true));
}

Expected<Value> filter_truncate(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("truncate", args,
                                                {{"length", Value::integer(255)},
                                                 {"killwords", Value::boolean(false)},
                                                 {"end", Value::string("...")},
                                                 {"leeway", Value::none()}}));
  FERRUM_ASSIGN_OR_RETURN(int64_t length, int_arg("truncate", "length", bound[0]));
  const std::string end = to_str(bound[2]);
  int64_t leeway = 5;  // Jinja2's default policy "truncate.leeway"
  if (!bound[3].is_none()) {
    FERRUM_ASSIGN_OR_RETURN(leeway, int_arg("truncate", "leeway", bound[3]));
  }
  const std::string text = to_str(input);
  const auto end_length = static_cast<int64_t>(code_point_count(end));
  FERRUM_CHECK(length >= end_length, ErrorCode::kInvalidArgument, "truncate(): length must be at least ", end_length);
  FERRUM_CHECK(leeway >= 0, ErrorCode::kInvalidArgument, "truncate(): leeway must be positive");
  const auto text_length = static_cast<int64_t>(code_point_count(text));
  if (text_length <= length + leeway) return Value::string(text);
  FERRUM_ASSIGN_OR_RETURN(SliceBounds bounds, slice_bounds(text_length, 0, length - end_length, 1));
  std::string kept = py_slice(text, bounds);
  if (!is_truthy(bound[1])) {
    const size_t space = kept.rfind(' ');
    if (space != std::string::npos) kept.resize(space);
  }
  return Value::string(kept + end);
}

Expected<Value> filter_wordcount(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(no_arguments("wordcount", args));
  const std::u32string text = utf8_to_code_points(to_str(input));
  int64_t words = 0;
  bool in_word = false;
  for (char32_t c : text) {
    const bool word = is_word_char(c);
    if (word && !in_word) ++words;
    in_word = word;
  }
  return Value::integer(words);
}

struct FilterEntry {
  std::string_view name;
  FilterFunction function;
};

constexpr FilterEntry kFilters[] = {
    {"abs", filter_abs},           {"attr", filter_attr},
    {"batch", filter_batch},       {"capitalize", filter_capitalize},
    {"center", filter_center},     {"count", filter_length},
    {"d", filter_default},         {"default", filter_default},
    {"dictsort", filter_dictsort}, {"e", filter_escape},
    {"escape", filter_escape},     {"first", filter_first},
    {"float", filter_float},       {"forceescape", filter_escape},
    {"format", filter_format},     {"indent", filter_indent},
    {"int", filter_int},           {"items", filter_items},
    {"join", filter_join},         {"last", filter_last},
    {"length", filter_length},     {"list", filter_list},
    {"lower", filter_lower},       {"map", filter_map},
    {"max", filter_max},           {"min", filter_min},
    {"reject", filter_reject},     {"rejectattr", filter_rejectattr},
    {"replace", filter_replace},   {"reverse", filter_reverse},
    {"round", filter_round},       {"safe", filter_safe},
    {"select", filter_select},     {"selectattr", filter_selectattr},
    {"sort", filter_sort},         {"string", filter_string},
    {"sum", filter_sum},           {"title", filter_title},
    {"tojson", filter_tojson},     {"trim", filter_trim},
    {"truncate", filter_truncate}, {"unique", filter_unique},
    {"upper", filter_upper},       {"wordcount", filter_wordcount},
};

}  // namespace

FilterFunction find_filter(std::string_view name) {
  for (const FilterEntry& entry : kFilters) {
    if (entry.name == name) return entry.function;
  }
  return nullptr;
}

}  // namespace ferrum::chat
