#include "chat/printing.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "chat/utf8.h"

namespace ferrum::chat {
namespace {

// Objects such as namespaces can contain themselves; printing stops descending here.
constexpr int kMaxPrintDepth = kMaxValueDepth;

void append_repr(std::string& out, const Value& value);

// Nesting and size are tracked per thread rather than passed down, because printing continues
// through Object::repr (a namespace printing its attributes, which may include the namespace itself).
thread_local int print_depth = 0;
thread_local size_t printed_bytes = 0;  // text produced since the outermost append_repr began

void append_hex_escape(std::string& out, char32_t c) {
  char buffer[16];
  if (c <= 0xFF) {
    std::snprintf(buffer, sizeof buffer, "\\x%02x", static_cast<unsigned>(c));
  } else if (c <= 0xFFFF) {
    std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
  } else {
    std::snprintf(buffer, sizeof buffer, "\\U%08x", static_cast<unsigned>(c));
  }
  out += buffer;
}

void append_quoted(std::string& out, std::string_view text) {
  // Python prefers single quotes and switches to double quotes only to avoid escaping a single quote.
  const bool has_single = text.find('\'') != std::string_view::npos;
  const bool has_double = text.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out.push_back(quote);
  for (size_t pos = 0; pos < text.size();) {
    char32_t c = 0;
    const size_t length = utf8_decode(text, pos, c);
    if (c == static_cast<char32_t>(quote) || c == U'\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == U'\n') {
      out += "\\n";
    } else if (c == U'\r') {
      out += "\\r";
    } else if (c == U'\t') {
      out += "\\t";
    } else if (c >= 0xDC80 && c <= 0xDCFF) {
      append_hex_escape(out, c);  // an undecodable byte: Python shows the lone surrogate
    } else if (!is_python_printable(c)) {
      append_hex_escape(out, c);
    } else {
      out.append(text.substr(pos, length));
    }
    pos += length;
  }
  out.push_back(quote);
}

void append_sequence(std::string& out, const List& list) {
  out.push_back(list.is_tuple ? '(' : '[');
  for (size_t i = 0; i < list.items.size() && printed_bytes <= kMaxPrintBytes; ++i) {
    if (i > 0) out += ", ";
    append_repr(out, list.items[i]);
  }
  if (list.is_tuple && list.items.size() == 1) out.push_back(',');
  out.push_back(list.is_tuple ? ')' : ']');
}

void append_dict(std::string& out, const Dict& dict) {
  out.push_back('{');
  bool first = true;
  for (const auto& [key, value] : dict.entries()) {
    if (printed_bytes > kMaxPrintBytes) break;
    if (!first) out += ", ";
    first = false;
    append_repr(out, key);
    out += ": ";
    append_repr(out, value);
  }
  out.push_back('}');
}

void append_repr(std::string& out, const Value& value) {
  if (print_depth == 0) printed_bytes = 0;
  if (print_depth >= kMaxPrintDepth || printed_bytes > kMaxPrintBytes) {
    out += "...";
    return;
  }
  ++print_depth;
  const size_t before = out.size();
  switch (value.kind()) {
    case ValueKind::kList: append_sequence(out, value.as_list()); break;
    case ValueKind::kDict: append_dict(out, value.as_dict()); break;
    case ValueKind::kString: append_quoted(out, value.as_string()); break;
    case ValueKind::kObject: out += value.as_object().repr(); break;
    case ValueKind::kUndefined: out += "Undefined"; break;
    default: out += to_str(value); break;
  }
  // Containers count through their elements; everything else counts its own text.
  if (!value.is_list() && !value.is_dict()) printed_bytes += out.size() - before;
  --print_depth;
}

}  // namespace

std::string format_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // to_chars gives the shortest round-tripping digits; Python then picks fixed or exponent notation.
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string_view scientific(buffer, static_cast<size_t>(end - buffer));
  const bool negative = scientific.front() == '-';
  if (negative) scientific.remove_prefix(1);
  const size_t e_pos = scientific.find('e');
  std::string digits;
  for (char c : scientific.substr(0, e_pos)) {
    if (c != '.') digits.push_back(c);
  }
  const int exponent = std::atoi(std::string(scientific.substr(e_pos + 1)).c_str());
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0.";
      out.append(static_cast<size_t>(-exponent - 1), '0');
      out += digits;
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      out += digits;
      out.append(static_cast<size_t>(exponent) + 1 - digits.size(), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(exponent) + 1);
      out += '.';
      out += digits.substr(static_cast<size_t>(exponent) + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  char exponent_text[16];
  std::snprintf(exponent_text, sizeof exponent_text, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  out += exponent_text;
  return out;
}

std::string quote_string(std::string_view text) {
  std::string out;
  append_quoted(out, text);
  return out;
}

std::string to_str(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kUndefined: return "";
    case ValueKind::kNone: return "None";
    case ValueKind::kBool: return value.as_bool() ? "True" : "False";
    case ValueKind::kInt: return std::to_string(value.as_int());
    case ValueKind::kFloat: return format_float(value.as_float());
    case ValueKind::kString: return value.as_string();
    default: return to_repr(value);
  }
}

std::string to_repr(const Value& value) {
  std::string out;
  append_repr(out, value);
  return out;
}

}  // namespace ferrum::chat
