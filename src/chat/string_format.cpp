#include "chat/string_format.h"

#include <cmath>
#include <cstdio>

#include "chat/printing.h"
#include "chat/python_str.h"
#include "chat/utf8.h"

namespace ferrum::chat {
namespace {

// One conversion's options, shared by both languages.
struct Spec {
  std::string fill = " ";
  char align = '\0';  // '<', '>', '^', '=' or none
  char sign = '-';    // '-', '+', ' '
  bool alternate = false;
  bool zero = false;
  int64_t width = -1;
  int64_t precision = -1;
  char type = '\0';
};

Status check_width(const Spec& spec, size_t max_bytes) {
  FERRUM_CHECK(spec.width < 0 || static_cast<size_t>(spec.width) <= max_bytes, ErrorCode::kLimitExceeded,
               "format width ", spec.width, " exceeds the output limit of ", max_bytes, " bytes");
  FERRUM_CHECK(spec.precision <= 1000, ErrorCode::kLimitExceeded, "format precision ", spec.precision,
               " is larger than 1000");
  return ok();
}

// Pads `body` (digits or text, without sign) to the width, placing fill and sign as Python does.
std::string pad(const std::string& sign, const std::string& body, const Spec& spec, char default_align) {
  const char align = spec.align != '\0' ? spec.align : (spec.zero ? '=' : default_align);
  const std::string fill = spec.zero && (spec.align == '\0' || spec.align == '=') ? "0" : spec.fill;
  const int64_t length = static_cast<int64_t>(code_point_count(sign) + code_point_count(body));
  if (spec.width <= length) return sign + body;
  const int64_t margin = spec.width - length;
  auto repeat = [&](int64_t n) {
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += fill;
    return out;
  };
  switch (align) {
    case '<': return sign + body + repeat(margin);
    case '^': return repeat(margin / 2) + sign + body + repeat(margin - margin / 2);
    case '=': return sign + repeat(margin) + body;
    default: return repeat(margin) + sign + body;
  }
}

Expected<std::string> format_number(const Value& value, const Spec& spec) {
  FERRUM_CHECK(value.is_number(), ErrorCode::kInvalidArgument, "format code '", spec.type, "' needs a number, got ",
               python_type_name(value));
  const char type = spec.type;
  std::string body;
  bool negative = false;
  if (type == 'd' || type == 'i' || type == 'u' || type == 'x' || type == 'X' || type == 'o' || type == 'b') {
    FERRUM_CHECK(type == 'd' || type == 'i' || type == 'u' || !value.is_float(), ErrorCode::kInvalidArgument,
                 "format code '", type, "' needs an integer, got float");
    const double as_double = value.as_double();
    FERRUM_CHECK(!value.is_float() || std::isfinite(as_double), ErrorCode::kInvalidArgument, "cannot convert float ",
                 format_float(as_double), " to integer");
    const int64_t integer = value.is_float() ? static_cast<int64_t>(as_double) : value.as_integer_like();
    negative = integer < 0;
    uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(integer) : static_cast<uint64_t>(integer);
    const int base = type == 'x' || type == 'X' ? 16 : type == 'o' ? 8 : type == 'b' ? 2 : 10;
    const char* digits = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
      body.insert(body.begin(), digits[magnitude % static_cast<uint64_t>(base)]);
      magnitude /= static_cast<uint64_t>(base);
    } while (magnitude != 0);
    if (spec.alternate && base != 10)
      body.insert(0, type == 'X' ? "0X" : type == 'x' ? "0x" : type == 'o' ? "0o" : "0b");
  } else {
    double number = value.as_double();
    negative = std::signbit(number) && !std::isnan(number);
    number = std::fabs(number);
    const int precision = spec.precision < 0 ? 6 : static_cast<int>(spec.precision);
    char conversion = type;
    if (type == '%') {
      number *= 100;
      conversion = 'f';
    }
    const char pattern[] = {'%', '.', '*', conversion, '\0'};
    char buffer[1200];
    std::snprintf(buffer, sizeof buffer, pattern, precision, number);
    body = buffer;
    if (type == '%') body += '%';
  }
  const std::string sign = negative ? "-" : spec.sign == '+' ? "+" : spec.sign == ' ' ? " " : "";
  return pad(sign, body, spec, '>');
}

Expected<std::string> format_with_spec(const Value& value, const Spec& spec, size_t max_bytes) {
  FERRUM_TRY(check_width(spec, max_bytes));
  if (spec.type == 's' || spec.type == 'r' || (spec.type == '\0' && !value.is_number())) {
    std::string text = spec.type == 'r' ? to_repr(value) : to_str(value);
    if (spec.precision >= 0) {
      FERRUM_ASSIGN_OR_RETURN(SliceBounds bounds,
                              slice_bounds(static_cast<int64_t>(code_point_count(text)), 0, spec.precision, 1));
      text = py_slice(text, bounds);
    }
    return pad("", text, spec, '<');
  }
  if (spec.type == 'c') {
    if (value.is_string()) return pad("", value.as_string(), spec, '<');
    FERRUM_CHECK(value.is_int() && value.as_int() >= 0 && value.as_int() <= 0x10FFFF, ErrorCode::kInvalidArgument,
                 "%c requires an integer in range(0x110000) or a single character");
    std::string text;
    utf8_append(text, static_cast<char32_t>(value.as_int()));
    return pad("", text, spec, '<');
  }
  if (spec.type == '\0') {
    // No type: numbers print as str() does, then pad to the right.
    std::string text = to_str(value);
    std::string sign;
    if (!text.empty() && text[0] == '-') {
      sign = "-";
      text.erase(0, 1);
    } else if (spec.sign == '+' || spec.sign == ' ') {
      sign = std::string(1, spec.sign);
    }
    return pad(sign, text, spec, '>');
  }
  return format_number(value, spec);
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int64_t read_number(std::string_view text, size_t& pos) {
  int64_t value = 0;
  while (pos < text.size() && is_digit(text[pos])) {
    value = std::min<int64_t>(value * 10 + (text[pos] - '0'), int64_t{1} << 40);
    ++pos;
  }
  return value;
}

}  // namespace

Expected<std::string> percent_format(std::string_view format, const Value& args, size_t max_bytes) {
  std::vector<Value> positional;
  if (args.is_tuple()) {
    positional = args.as_list().items;
  } else if (!args.is_dict()) {
    positional.push_back(args);
  }
  size_t next_arg = 0;
  std::string out;
  for (size_t pos = 0; pos < format.size();) {
    const size_t percent = format.find('%', pos);
    out.append(format.substr(pos, percent - pos));
    if (percent == std::string_view::npos) break;
    pos = percent + 1;
    FERRUM_CHECK(pos < format.size(), ErrorCode::kInvalidArgument, "incomplete format: '", format, "'");
    if (format[pos] == '%') {
      out.push_back('%');
      ++pos;
      continue;
    }
    const Value* argument = nullptr;
    if (format[pos] == '(') {
      const size_t close = format.find(')', pos);
      FERRUM_CHECK(close != std::string_view::npos, ErrorCode::kInvalidArgument, "incomplete format key");
      FERRUM_CHECK(args.is_dict(), ErrorCode::kInvalidArgument, "format requires a mapping");
      argument = args.as_dict().find(format.substr(pos + 1, close - pos - 1));
      FERRUM_CHECK(argument != nullptr, ErrorCode::kInvalidArgument, "format key '",
                   format.substr(pos + 1, close - pos - 1), "' not found");
      pos = close + 1;
    }
    Spec spec;
    for (; pos < format.size() && std::string_view("-+ #0").find(format[pos]) != std::string_view::npos; ++pos) {
      switch (format[pos]) {
        case '-': spec.align = '<'; break;
        case '+': spec.sign = '+'; break;
        case ' ':
          if (spec.sign != '+') spec.sign = ' ';
          break;
        case '#': spec.alternate = true; break;
        case '0': spec.zero = true; break;
      }
    }
    if (spec.align == '<') spec.zero = false;
    if (pos < format.size() && is_digit(format[pos])) spec.width = read_number(format, pos);
    if (pos < format.size() && format[pos] == '.') {
      ++pos;
      spec.precision = read_number(format, pos);
    }
    FERRUM_CHECK(pos < format.size(), ErrorCode::kInvalidArgument, "incomplete format: '", format, "'");
    spec.type = format[pos++];
    FERRUM_CHECK(std::string_view("srdiufFeEgGxXoc").find(spec.type) != std::string_view::npos,
                 ErrorCode::kInvalidArgument, "unsupported format character '", spec.type, "'");
    if (argument == nullptr) {
      FERRUM_CHECK(next_arg < positional.size(), ErrorCode::kInvalidArgument, "not enough arguments for format string");
      argument = &positional[next_arg++];
    }
    if (spec.align == '\0' && spec.type != 's' && spec.type != 'r' && spec.type != 'c')
      spec.align = spec.zero ? '=' : '>';
    if (spec.align == '\0') spec.align = '>';
    FERRUM_ASSIGN_OR_RETURN(std::string piece, format_with_spec(*argument, spec, max_bytes));
    out += piece;
    FERRUM_CHECK(out.size() <= max_bytes, ErrorCode::kLimitExceeded, "formatted string exceeds ", max_bytes, " bytes");
  }
  FERRUM_CHECK(args.is_dict() || next_arg == positional.size(), ErrorCode::kInvalidArgument,
               "not all arguments converted during string formatting");
  return out;
}

namespace {

Expected<Spec> parse_brace_spec(std::string_view text) {
  Spec spec;
  size_t pos = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (!text.empty()) {
    char32_t first = 0;
    const size_t width = utf8_decode(text, 0, first);
    if (width < text.size() && is_align(text[width])) {
      spec.fill = std::string(text.substr(0, width));
      spec.align = text[width];
      pos = width + 1;
    } else if (is_align(text[0])) {
      spec.align = text[0];
      pos = 1;
    }
  }
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-' || text[pos] == ' ')) spec.sign = text[pos++];
  if (pos < text.size() && text[pos] == '#') spec.alternate = true, ++pos;
  if (pos < text.size() && text[pos] == '0') spec.zero = true, ++pos;
  if (pos < text.size() && is_digit(text[pos])) spec.width = read_number(text, pos);
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    spec.precision = read_number(text, pos);
  }
  if (pos < text.size()) spec.type = text[pos++];
  const bool known_type =
      spec.type == '\0' || std::string_view("sdxXobcfFeEgG%").find(spec.type) != std::string_view::npos;
  FERRUM_CHECK(pos == text.size() && known_type, ErrorCode::kInvalidArgument, "unsupported format spec '", text, "'");
  return spec;
}

}  // namespace

Expected<std::string> brace_format(std::string_view format, const CallArgs& args, size_t max_bytes) {
  std::string out;
  size_t auto_index = 0;
  for (size_t pos = 0; pos < format.size();) {
    const char c = format[pos];
    if (c == '}') {
      FERRUM_CHECK(pos + 1 < format.size() && format[pos + 1] == '}', ErrorCode::kInvalidArgument,
                   "single '}' encountered in format string");
      out.push_back('}');
      pos += 2;
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      ++pos;
      continue;
    }
    if (pos + 1 < format.size() && format[pos + 1] == '{') {
      out.push_back('{');
      pos += 2;
      continue;
    }
    const size_t close = format.find('}', pos);
    FERRUM_CHECK(close != std::string_view::npos, ErrorCode::kInvalidArgument,
                 "single '{' encountered in format string");
    std::string_view field = format.substr(pos + 1, close - pos - 1);
    pos = close + 1;
    std::string_view spec_text;
    if (const size_t colon = field.find(':'); colon != std::string_view::npos) {
      spec_text = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    char conversion = '\0';
    if (const size_t bang = field.find('!'); bang != std::string_view::npos) {
      FERRUM_CHECK(bang + 2 == field.size() && (field[bang + 1] == 's' || field[bang + 1] == 'r'),
                   ErrorCode::kInvalidArgument, "unsupported conversion in format field '", field, "'");
      conversion = field[bang + 1];
      field = field.substr(0, bang);
    }
    const Value* argument = nullptr;
    if (field.empty() || is_digit(field[0])) {
      size_t index = auto_index++;
      if (!field.empty()) {
        size_t digit_pos = 0;
        index = static_cast<size_t>(read_number(field, digit_pos));
        FERRUM_CHECK(digit_pos == field.size(), ErrorCode::kInvalidArgument, "unsupported format field '", field, "'");
      }
      FERRUM_CHECK(index < args.positional.size(), ErrorCode::kInvalidArgument, "format: replacement index ", index,
                   " out of range for positional args tuple");
      argument = &args.positional[index];
    } else {
      for (const auto& [name, value] : args.keywords) {
        if (name == field) argument = &value;
      }
      FERRUM_CHECK(argument != nullptr, ErrorCode::kInvalidArgument, "format: no argument named '", field, "'");
    }
    Value converted = *argument;
    if (conversion != '\0') converted = Value::string(conversion == 'r' ? to_repr(*argument) : to_str(*argument));
    FERRUM_ASSIGN_OR_RETURN(Spec spec, parse_brace_spec(spec_text));
    FERRUM_ASSIGN_OR_RETURN(std::string piece, format_with_spec(converted, spec, max_bytes));
    out += piece;
    FERRUM_CHECK(out.size() <= max_bytes, ErrorCode::kLimitExceeded, "formatted string exceeds ", max_bytes, " bytes");
  }
  return out;
}

}  // namespace ferrum::chat
