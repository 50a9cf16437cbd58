// Splits a template into text and tag tokens the way Jinja2's lexer does with the settings transformers
// uses: trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False, default delimiters.
// Whitespace control is resolved here, so data tokens carry exactly the text the template prints.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ferrum::chat {

enum class TokenType : uint8_t {
  kData,           // literal template text (including {% raw %} content)
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEnd,  // end of the template
};

struct Token {
  TokenType type;
  std::string text;  // data text, name, operator, or the unescaped string literal
  int64_t integer = 0;
  double number = 0;
  uint32_t offset = 0;  // byte offset in the normalized source, for line/column in messages
};

// Maps byte offsets of the normalized source to 1-based lines and columns (columns count code points).
class SourceLocator {
 public:
  explicit SourceLocator(std::string_view source);
  int line(uint32_t offset) const;
  int column(uint32_t offset) const;
  // "line 3, column 14"
  std::string describe(uint32_t offset) const;

 private:
  std::string_view source_;
  std::vector<uint32_t> line_starts_;
};

// Jinja2 reads templates with universal newlines: "\r\n" and "\r" become "\n", and (without
// keep_trailing_newline) one final newline is dropped. Offsets in tokens refer to this text.
std::string normalize_template_source(std::string_view source);

// Tokenizes normalized source. Errors are kParse and name the line and column.
Expected<std::vector<Token>> tokenize_template(std::string_view normalized_source, const SourceLocator& locator);

}  // namespace ferrum::chat
