// Builds the AST from tokens, following Jinja2's grammar and operator precedence.
#pragma once

#include <string_view>
#include <vector>

#include "chat/ast.h"
#include "chat/lexer.h"
#include "core/error.h"

namespace ferrum::chat {

// Deeper nesting than this (of expressions, or of blocks inside blocks) is rejected at parse time, so
// rendering and freeing a template never recurse without bound.
inline constexpr int kMaxParseDepth = 128;

// Errors are kParse and name the line and column of the offending token.
Expected<TemplateAst> parse_template(const std::vector<Token>& tokens, const SourceLocator& locator);

}  // namespace ferrum::chat
