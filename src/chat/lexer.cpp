#include "chat/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "chat/utf8.h"

namespace ferrum::chat {

SourceLocator::SourceLocator(std::string_view source) : source_(source) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\n') line_starts_.push_back(static_cast<uint32_t>(i + 1));
  }
}

int SourceLocator::line(uint32_t offset) const {
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  return static_cast<int>(it - line_starts_.begin());
}

int SourceLocator::column(uint32_t offset) const {
  const uint32_t start = line_starts_[static_cast<size_t>(line(offset) - 1)];
  const size_t end = std::min<size_t>(offset, source_.size());
  return static_cast<int>(code_point_count(source_.substr(start, end - start))) + 1;
}

std::string SourceLocator::describe(uint32_t offset) const {
  return cat("line ", line(offset), ", column ", column(offset));
}

std::string normalize_template_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

namespace {

enum class TagKind { kVariable, kBlock, kComment };

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

bool is_space_at(std::string_view text, size_t pos, size_t& length) {
  char32_t c = 0;
  length = utf8_decode(text, pos, c);
  return is_python_space(c);
}

size_t skip_spaces(std::string_view text, size_t pos) {
  size_t length = 0;
  while (pos < text.size() && is_space_at(text, pos, length)) pos += length;
  return pos;
}

// Python's str.rstrip() with no arguments.
std::string_view rstrip_spaces(std::string_view text) {
  size_t end = 0;
  size_t length = 0;
  for (size_t pos = 0; pos < text.size(); pos += length) {
    if (!is_space_at(text, pos, length)) end = pos + length;
  }
  return text.substr(0, end);
}

bool all_spaces(std::string_view text) {
  return skip_spaces(text, 0) == text.size();
}

class Lexer {
 public:
  Lexer(std::string_view source, const SourceLocator& locator) : src_(source), locator_(locator) {}

  Expected<std::vector<Token>> run() {
    while (pos_ < src_.size()) {
      const size_t open = find_tag_open(pos_);
      if (open == std::string_view::npos) {
        emit_data(src_.substr(pos_), pos_);
        break;
      }
      const TagKind kind = src_[open + 1] == '{'   ? TagKind::kVariable
                           : src_[open + 1] == '%' ? TagKind::kBlock
                                                   : TagKind::kComment;
      const char modifier = marker_at(open + 2);
      size_t raw_body = 0;
      bool raw_strips_body = false;
      const bool raw = kind == TagKind::kBlock && match_raw_begin(open, raw_body, raw_strips_body);
      emit_data(control_text_before_tag(src_.substr(pos_, open - pos_), kind, modifier), pos_);
      line_starting_ = false;
      if (raw) {
        FERRUM_TRY(lex_raw(open, raw_body, raw_strips_body));
      } else if (kind == TagKind::kComment) {
        FERRUM_TRY(lex_comment(open, modifier));
      } else {
        FERRUM_TRY(lex_tag(open, kind, modifier));
      }
    }
    tokens_.push_back(Token{TokenType::kEnd, "", 0, 0, static_cast<uint32_t>(src_.size())});
    return std::move(tokens_);
  }

 private:
  template <class... Args>
  Error syntax_error(size_t offset, const Args&... args) const {
    return make_error(ErrorCode::kParse, locator_.describe(static_cast<uint32_t>(offset)), ": ", args...);
  }

  size_t find_tag_open(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string_view::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string_view::npos;
  }

  char marker_at(size_t pos) const {
    return pos < src_.size() && (src_[pos] == '-' || src_[pos] == '+') ? src_[pos] : '\0';
  }

  bool starts_with_at(size_t pos, std::string_view prefix) const { return src_.substr(pos).starts_with(prefix); }

  void emit_data(std::string_view text, size_t offset) {
    if (!text.empty())
      tokens_.push_back(Token{TokenType::kData, std::string(text), 0, 0, static_cast<uint32_t>(offset)});
  }

  // "{%-" strips all whitespace before the tag. Otherwise lstrip_blocks removes the spaces and tabs that
  // precede a block or comment tag on its line, when nothing else precedes it on that line ("{%+"
  // opts out). The text continues a line started by an earlier tag unless that tag ended a line.
  std::string_view control_text_before_tag(std::string_view text, TagKind kind, char modifier) const {
    if (modifier == '-') return rstrip_spaces(text);
    if (modifier == '+' || kind == TagKind::kVariable) return text;
    const size_t line_start = text.rfind('\n') + 1;  // npos + 1 == 0
    if ((line_start > 0 || line_starting_) && all_spaces(text.substr(line_start))) return text.substr(0, line_start);
    return text;
  }

  // After a tag: "-%}" strips all following whitespace; trim_blocks drops one newline after a block or
  // comment tag unless it ends with "+%}".
  size_t control_text_after_tag(size_t pos, char modifier, bool trims) {
    if (modifier == '-') return skip_spaces(src_, pos);
    if (trims && modifier != '+' && pos < src_.size() && src_[pos] == '\n') {
      line_starting_ = true;
      return pos + 1;
    }
    return pos;
  }

  // {% raw %} or {%- raw -%}; sets where the raw text starts and whether "-%}" strips its start.
  bool match_raw_begin(size_t open, size_t& body, bool& strips_body) const {
    size_t p = open + 2;
    if (marker_at(p) != '\0') ++p;
    p = skip_spaces(src_, p);
    if (!starts_with_at(p, "raw")) return false;
    p = skip_spaces(src_, p + 3);
    strips_body = starts_with_at(p, "-%}");
    if (strips_body) {
      body = p + 3;
      return true;
    }
    if (!starts_with_at(p, "%}")) return false;
    body = p + 2;
    return true;
  }

  // Finds {% endraw %} from `from`; sets its opening, modifiers and the position after it.
  bool match_raw_end(size_t from, size_t& open, char& begin_modifier, char& end_modifier, size_t& after) const {
    for (size_t i = src_.find("{%", from); i != std::string_view::npos; i = src_.find("{%", i + 1)) {
      size_t p = i + 2;
      begin_modifier = marker_at(p);
      if (begin_modifier != '\0') ++p;
      p = skip_spaces(src_, p);
      if (!starts_with_at(p, "endraw")) continue;
      p = skip_spaces(src_, p + 6);
      end_modifier = marker_at(p);
      if (end_modifier != '\0') ++p;
      if (!starts_with_at(p, "%}")) continue;
      open = i;
      after = p + 2;
      return true;
    }
    return false;
  }

  Status lex_raw(size_t open, size_t body, bool strips_body) {
    size_t end_open = 0;
    size_t after = 0;
    char begin_modifier = '\0';
    char end_modifier = '\0';
    if (!match_raw_end(body, end_open, begin_modifier, end_modifier, after)) {
      return syntax_error(open, "missing end of raw directive ({% endraw %})");
    }
    size_t text_start = strips_body ? skip_spaces(src_, body) : body;
    text_start = std::min(text_start, end_open);
    emit_data(control_text_before_tag(src_.substr(text_start, end_open - text_start), TagKind::kBlock, begin_modifier),
              text_start);
    line_starting_ = false;
    pos_ = control_text_after_tag(after, end_modifier, /*trims=*/true);
    return ok();
  }

  Status lex_comment(size_t open, char modifier) {
    const size_t body = open + 2 + (modifier != '\0' ? 1 : 0);
    const size_t close = src_.find("#}", body);
    if (close == std::string_view::npos) return syntax_error(open, "missing end of comment tag '#}'");
    const char end_modifier = close > body ? marker_at(close - 1) : '\0';
    pos_ = control_text_after_tag(close + 2, end_modifier, /*trims=*/true);
    return ok();
  }

  Status lex_tag(size_t open, TagKind kind, char modifier) {
    const bool block = kind == TagKind::kBlock;
    tokens_.push_back(
        Token{block ? TokenType::kBlockBegin : TokenType::kVariableBegin, "", 0, 0, static_cast<uint32_t>(open)});
    size_t p = open + 2 + (modifier != '\0' ? 1 : 0);
    brackets_.clear();
    while (true) {
      p = skip_spaces(src_, p);
      if (p >= src_.size()) {
        return syntax_error(open, "unexpected end of template: '", block ? "{%" : "{{", "' is never closed");
      }
      if (brackets_.empty()) {
        size_t end_length = 0;
        char end_modifier = '\0';
        if (match_tag_end(p, block, end_length, end_modifier)) {
          tokens_.push_back(
              Token{block ? TokenType::kBlockEnd : TokenType::kVariableEnd, "", 0, 0, static_cast<uint32_t>(p)});
          pos_ = control_text_after_tag(p + end_length, end_modifier, block);
          return ok();
        }
      }
      FERRUM_ASSIGN_OR_RETURN(p, lex_expression_token(p));
    }
  }

  bool match_tag_end(size_t p, bool block, size_t& length, char& modifier) const {
    const std::string_view close = block ? "%}" : "}}";
    modifier = marker_at(p);
    if (modifier == '+' && !block) modifier = '\0';
    const size_t start = modifier != '\0' ? p + 1 : p;
    if (!starts_with_at(start, close)) return false;
    length = start - p + 2;
    return true;
  }

  Expected<size_t> lex_expression_token(size_t p) {
    const char c = src_[p];
    if (is_digit(c)) return lex_number(p);
    if (is_name_start(c)) {
      size_t end = p;
      while (end < src_.size() && is_name_char(src_[end])) ++end;
      tokens_.push_back(Token{TokenType::kName, std::string(src_.substr(p, end - p)), 0, 0, static_cast<uint32_t>(p)});
      return end;
    }
    if (c == '\'' || c == '"') return lex_string(p);
    return lex_operator(p);
  }

  Expected<size_t> lex_operator(size_t p) {
    static constexpr std::string_view kTwoChar[] = {"//", "**", "==", "!=", "<=", ">="};
    for (std::string_view op : kTwoChar) {
      if (starts_with_at(p, op)) {
        tokens_.push_back(Token{TokenType::kOperator, std::string(op), 0, 0, static_cast<uint32_t>(p)});
        return p + 2;
      }
    }
    const char c = src_[p];
    if (std::string_view("+-/*%~[](){}<>=.:|,;").find(c) == std::string_view::npos) {
      char32_t code_point = 0;
      const size_t length = utf8_decode(src_, p, code_point);
      return syntax_error(p, "unexpected character '", src_.substr(p, length), "' in tag");
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets_.push_back(c);
    } else if (c == ')' || c == ']' || c == '}') {
      const char expected_open = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (brackets_.empty()) return syntax_error(p, "unexpected '", c, "'");
      if (brackets_.back() != expected_open) {
        const char expected_close = brackets_.back() == '(' ? ')' : brackets_.back() == '[' ? ']' : '}';
        return syntax_error(p, "unexpected '", c, "', expected '", expected_close, "'");
      }
      brackets_.pop_back();
    }
    tokens_.push_back(Token{TokenType::kOperator, std::string(1, c), 0, 0, static_cast<uint32_t>(p)});
    return p + 1;
  }

  // Digits with single underscores between them, as Python writes 1_000; returns the end.
  size_t scan_digits(size_t p, bool (*digit)(char)) const {
    if (p >= src_.size() || !digit(src_[p])) return p;
    size_t end = p + 1;
    while (end < src_.size()) {
      if (digit(src_[end])) {
        ++end;
      } else if (src_[end] == '_' && end + 1 < src_.size() && digit(src_[end + 1])) {
        end += 2;
      } else {
        break;
      }
    }
    return end;
  }

  Expected<size_t> lex_number(size_t p) {
    // A float cannot follow '.', so "x.0.1" is x . 0 . 1 (item access), as in Jinja2.
    const bool float_allowed = p == 0 || src_[p - 1] != '.';
    size_t end = scan_digits(p, is_digit);
    bool is_float = false;
    if (float_allowed) {
      if (end + 1 < src_.size() && src_[end] == '.' && is_digit(src_[end + 1])) {
        end = scan_digits(end + 1, is_digit);
        is_float = true;
      }
      if (end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
        size_t exponent = end + 1;
        if (exponent < src_.size() && (src_[exponent] == '+' || src_[exponent] == '-')) ++exponent;
        if (exponent < src_.size() && is_digit(src_[exponent])) {
          end = scan_digits(exponent, is_digit);
          is_float = true;
        }
      }
    }
    if (is_float) {
      std::string text;
      for (char c : src_.substr(p, end - p)) {
        if (c != '_') text.push_back(c);
      }
      tokens_.push_back(
          Token{TokenType::kFloat, text, 0, std::strtod(text.c_str(), nullptr), static_cast<uint32_t>(p)});
      return end;
    }
    return lex_integer(p);
  }

  Expected<size_t> lex_integer(size_t p) {
    int base = 10;
    size_t digits_start = p;
    size_t end = 0;
    const char prefix = p + 1 < src_.size() ? static_cast<char>(src_[p + 1] | 0x20) : '\0';
    if (src_[p] == '0' && (prefix == 'b' || prefix == 'o' || prefix == 'x')) {
      base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : 16;
      auto digit = base == 2 ? +[](char c) { return c == '0' || c == '1'; }
                   : base == 8
                       ? +[](char c) { return c >= '0' && c <= '7'; }
                       : +[](char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); };
      // Python allows one underscore right after the prefix: 0x_ff.
      digits_start = p + 2;
      if (digits_start < src_.size() && src_[digits_start] == '_') ++digits_start;
      end = scan_digits(digits_start, digit);
      if (end == digits_start) return syntax_error(p, "invalid number literal");
    } else if (src_[p] == '0') {
      end = scan_digits(
          p, +[](char c) { return c == '0'; });
    } else {
      end = scan_digits(p, is_digit);
    }
    std::string digits;
    for (char c : src_.substr(digits_start, end - digits_start)) {
      if (c != '_') digits.push_back(c);
    }
    errno = 0;
    const long long value = std::strtoll(digits.c_str(), nullptr, base);
    if (errno == ERANGE) return syntax_error(p, "integer literal ", src_.substr(p, end - p), " does not fit 64 bits");
    tokens_.push_back(
        Token{TokenType::kInteger, std::string(src_.substr(p, end - p)), value, 0, static_cast<uint32_t>(p)});
    return end;
  }

  Expected<size_t> lex_string(size_t p) {
    const char quote = src_[p];
    std::string value;
    size_t i = p + 1;
    while (true) {
      if (i >= src_.size()) return syntax_error(p, "unterminated string literal");
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) return syntax_error(p, "unterminated string literal");
      FERRUM_ASSIGN_OR_RETURN(i, unescape(i, value));
    }
    tokens_.push_back(Token{TokenType::kString, std::move(value), 0, 0, static_cast<uint32_t>(p)});
    return i + 1;
  }

  // Python's unicode-escape rules for the escape at `p` (a backslash); appends and returns the end.
  Expected<size_t> unescape(size_t p, std::string& out) const {
    const char c = src_[p + 1];
    switch (c) {
      case '\n': return p + 2;  // line continuation
      case '\\': out.push_back('\\'); return p + 2;
      case '\'': out.push_back('\''); return p + 2;
      case '"': out.push_back('"'); return p + 2;
      case 'a': out.push_back('\a'); return p + 2;
      case 'b': out.push_back('\b'); return p + 2;
      case 'f': out.push_back('\f'); return p + 2;
      case 'n': out.push_back('\n'); return p + 2;
      case 'r': out.push_back('\r'); return p + 2;
      case 't': out.push_back('\t'); return p + 2;
      case 'v': out.push_back('\v'); return p + 2;
      case 'x': return unescape_hex(p, 2, out);
      case 'u': return unescape_hex(p, 4, out);
      case 'U': return unescape_hex(p, 8, out);
      case 'N': return syntax_error(p, "named unicode escapes (\\N{...}) are not supported");
      default: break;
    }
    if (c >= '0' && c <= '7') {
      size_t end = p + 1;
      char32_t code = 0;
      while (end < src_.size() && end < p + 4 && src_[end] >= '0' && src_[end] <= '7') {
        code = code * 8 + static_cast<char32_t>(src_[end] - '0');
        ++end;
      }
      utf8_append(out, code);
      return end;
    }
    out.push_back('\\');  // unknown escapes keep their backslash
    return p + 1;
  }

  Expected<size_t> unescape_hex(size_t p, size_t digits, std::string& out) const {
    char32_t code = 0;
    for (size_t i = 0; i < digits; ++i) {
      const size_t at = p + 2 + i;
      const char c = at < src_.size() ? src_[at] : '\0';
      int digit = -1;
      if (is_digit(c)) digit = c - '0';
      if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      if (digit < 0) return syntax_error(p, "truncated \\", src_[p + 1], " escape");
      code = code * 16 + static_cast<char32_t>(digit);
    }
    if (code > 0x10FFFF) return syntax_error(p, "illegal Unicode character in escape");
    utf8_append(out, code);
    return p + 2 + digits;
  }

  std::string_view src_;
  const SourceLocator& locator_;
  size_t pos_ = 0;
  bool line_starting_ = true;  // the next data text starts a line (template start, or after a trimmed newline)
  std::vector<char> brackets_;
  std::vector<Token> tokens_;
};

}  // namespace

Expected<std::vector<Token>> tokenize_template(std::string_view normalized_source, const SourceLocator& locator) {
  return Lexer(normalized_source, locator).run();
}

}  // namespace ferrum::chat
