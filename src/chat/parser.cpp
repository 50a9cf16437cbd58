#include "chat/parser.h"

#include <algorithm>
#include <initializer_list>

#include "chat/filters.h"
#include "chat/jinja_tests.h"

namespace ferrum::chat {
namespace {

constexpr std::string_view kUnsupportedTags[] = {"include", "import", "from", "extends", "block", "autoescape", "do"};

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const SourceLocator& locator) : tokens_(tokens), locator_(locator) {}

  Expected<TemplateAst> run() {
    TemplateAst ast;
    std::string terminator;
    FERRUM_ASSIGN_OR_RETURN(ast.body, parse_body({}, terminator));
    return ast;
  }

 private:
  // ---- token stream ----
  const Token& current() const { return tokens_[pos_]; }
  const Token& peek(size_t ahead = 1) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  void advance() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  int line_of(const Token& token) const { return locator_.line(token.offset); }
  int line() const { return line_of(current()); }

  static bool is_operator(const Token& token, std::string_view op) {
    return token.type == TokenType::kOperator && token.text == op;
  }
  static bool is_name(const Token& token, std::string_view name) {
    return token.type == TokenType::kName && token.text == name;
  }
  bool skip_operator(std::string_view op) {
    if (!is_operator(current(), op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(current(), name)) return false;
    advance();
    return true;
  }

  static std::string describe(const Token& token) {
    switch (token.type) {
      case TokenType::kData: return "template text";
      case TokenType::kVariableBegin: return "'{{'";
      case TokenType::kVariableEnd: return "'}}'";
      case TokenType::kBlockBegin: return "'{%'";
      case TokenType::kBlockEnd: return "'%}'";
      case TokenType::kString: return "string literal";
      case TokenType::kInteger: return "integer";
      case TokenType::kFloat: return "float";
      case TokenType::kEnd: return "end of template";
      default: return cat("'", token.text, "'");
    }
  }

  template <class... Args>
  Error error_at(const Token& token, const Args&... args) const {
    return make_error(ErrorCode::kParse, locator_.describe(token.offset), ": ", args...);
  }

  Status expect_operator(std::string_view op) {
    if (!skip_operator(op)) return error_at(current(), "expected '", op, "', got ", describe(current()));
    return ok();
  }
  Status expect_block_end(std::string_view tag) {
    if (current().type != TokenType::kBlockEnd) {
      return error_at(current(), "expected end of '", tag, "' tag ('%}'), got ", describe(current()));
    }
    advance();
    return ok();
  }
  Expected<std::string> expect_name(std::string_view what) {
    if (current().type != TokenType::kName)
      return error_at(current(), "expected ", what, ", got ", describe(current()));
    std::string name = current().text;
    advance();
    return name;
  }

  // Tracks nesting so a hostile template cannot overflow the stack.
  struct DepthGuard {
    explicit DepthGuard(int& depth) : depth_(depth) { ++depth_; }
    ~DepthGuard() { --depth_; }
    int& depth_;
  };
  Status check_nesting() const {
    if (nesting_ > kMaxParseDepth) return error_at(current(), "template nests deeper than ", kMaxParseDepth, " levels");
    return ok();
  }
  Status set_depth(Expr& node, std::initializer_list<const Expr*> children) const {
    int deepest = 0;
    for (const Expr* child : children) {
      if (child != nullptr) deepest = std::max(deepest, child->depth);
    }
    return set_depth(node, deepest);
  }
  Status set_depth(Expr& node, int deepest_child) const {
    node.depth = deepest_child + 1;
    if (node.depth > kMaxParseDepth) {
      return error_at(current(), "expression nests deeper than ", kMaxParseDepth, " levels");
    }
    return ok();
  }
  static int arguments_depth(const CallArguments& args) {
    int deepest = 0;
    for (const auto& arg : args.positional) deepest = std::max(deepest, arg->depth);
    for (const auto& [name, arg] : args.keywords) deepest = std::max(deepest, arg->depth);
    if (args.star_args) deepest = std::max(deepest, args.star_args->depth);
    if (args.star_kwargs) deepest = std::max(deepest, args.star_kwargs->depth);
    return deepest;
  }

  // ---- statements ----

  // Parses statements until a block tag whose name is one of `terminators`; consumes "{% name" and
  // reports the name. With no terminators, parses to the end of the template.
  Expected<Body> parse_body(std::initializer_list<std::string_view> terminators, std::string& terminator) {
    DepthGuard guard(nesting_);
    FERRUM_TRY(check_nesting());
    Body body;
    while (true) {
      const Token& token = current();
      switch (token.type) {
        case TokenType::kEnd:
          if (terminators.size() == 0) return body;
          return error_at(token, "unexpected end of template, expected ", list_names(terminators));
        case TokenType::kData:
          body.push_back(std::make_unique<TextStmt>(line_of(token), token.text));
          advance();
          break;
        case TokenType::kVariableBegin: {
          const int print_line = line_of(token);
          advance();
          FERRUM_ASSIGN_OR_RETURN(ExprPtr value, parse_tuple(true, {}));
          if (current().type != TokenType::kVariableEnd) {
            return error_at(current(), "expected end of print statement ('}}'), got ", describe(current()));
          }
          advance();
          body.push_back(std::make_unique<PrintStmt>(print_line, std::move(value)));
          break;
        }
        case TokenType::kBlockBegin: {
          const Token& name = peek();
          if (name.type == TokenType::kName &&
              std::find(terminators.begin(), terminators.end(), name.text) != terminators.end()) {
            terminator = name.text;
            advance();
            advance();
            return body;
          }
          advance();
          FERRUM_ASSIGN_OR_RETURN(StmtPtr statement, parse_statement(terminators));
          body.push_back(std::move(statement));
          break;
        }
        default: return error_at(token, "unexpected ", describe(token));
      }
    }
  }

  static std::string list_names(std::initializer_list<std::string_view> names) {
    std::string out;
    size_t i = 0;
    for (std::string_view name : names) {
      if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
      out += cat("'", name, "'");
      ++i;
    }
    return out;
  }

  Expected<StmtPtr> parse_statement(std::initializer_list<std::string_view> terminators) {
    const Token& tag = current();
    if (tag.type != TokenType::kName) return error_at(tag, "expected a tag name after '{%', got ", describe(tag));
    const std::string name = tag.text;
    advance();
    if (name == "if") return parse_if(line_of(tag));
    if (name == "for") return parse_for(line_of(tag));
    if (name == "set") return parse_set(line_of(tag));
    if (name == "macro") return parse_macro(line_of(tag));
    if (name == "call") return parse_call_block(line_of(tag));
    if (name == "filter") return parse_filter_block(line_of(tag));
    if (name == "with") return parse_with(line_of(tag));
    if (name == "generation") return parse_generation(line_of(tag));
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) return error_at(tag, "'", name, "' outside of a for loop");
      FERRUM_TRY(expect_block_end(name));
      return StmtPtr(
          std::make_unique<SimpleStmt>(name == "break" ? StmtKind::kBreak : StmtKind::kContinue, line_of(tag)));
    }
    if (std::find(std::begin(kUnsupportedTags), std::end(kUnsupportedTags), name) != std::end(kUnsupportedTags)) {
      return error_at(tag, "the '", name, "' tag is not supported in chat templates");
    }
    if (terminators.size() > 0) {
      return error_at(tag, "unexpected tag '", name, "', expected ", list_names(terminators));
    }
    return error_at(tag, "unknown tag '", name, "'");
  }

  Expected<StmtPtr> parse_if(int line) {
    auto statement = std::make_unique<IfStmt>(line);
    while (true) {
      FERRUM_ASSIGN_OR_RETURN(ExprPtr condition, parse_expression(true));
      FERRUM_TRY(expect_block_end("if"));
      std::string terminator;
      FERRUM_ASSIGN_OR_RETURN(Body body, parse_body({"elif", "else", "endif"}, terminator));
      statement->branches.emplace_back(std::move(condition), std::move(body));
      if (terminator == "elif") continue;
      if (terminator == "else") {
        FERRUM_TRY(expect_block_end("else"));
        FERRUM_ASSIGN_OR_RETURN(statement->else_body, parse_body({"endif"}, terminator));
      }
      FERRUM_TRY(expect_block_end("endif"));
      return StmtPtr(std::move(statement));
    }
  }

  Expected<StmtPtr> parse_for(int line) {
    auto statement = std::make_unique<ForStmt>(line);
    FERRUM_ASSIGN_OR_RETURN(statement->target, parse_target(/*allow_namespace=*/false, {"in"}));
    if (!skip_name("in")) return error_at(current(), "expected 'in' in for loop, got ", describe(current()));
    FERRUM_ASSIGN_OR_RETURN(statement->iterable, parse_tuple(false, {"recursive", "if"}));
    if (skip_name("if")) {
      FERRUM_ASSIGN_OR_RETURN(statement->filter, parse_expression(true));
    }
    statement->recursive = skip_name("recursive");
    FERRUM_TRY(expect_block_end("for"));
    std::string terminator;
    ++loop_depth_;
    auto body = parse_body({"else", "endfor"}, terminator);
    --loop_depth_;
    if (!body) return std::move(body).error();
    statement->body = std::move(*body);
    if (terminator == "else") {
      FERRUM_TRY(expect_block_end("else"));
      FERRUM_ASSIGN_OR_RETURN(statement->else_body, parse_body({"endfor"}, terminator));
    }
    FERRUM_TRY(expect_block_end("endfor"));
    return StmtPtr(std::move(statement));
  }

  Expected<StmtPtr> parse_set(int line) {
    FERRUM_ASSIGN_OR_RETURN(Target target, parse_target(/*allow_namespace=*/true, {}));
    if (skip_operator("=")) {
      auto statement = std::make_unique<SetStmt>(line);
      statement->target = std::move(target);
      FERRUM_ASSIGN_OR_RETURN(statement->value, parse_tuple(true, {}));
      FERRUM_TRY(expect_block_end("set"));
      return StmtPtr(std::move(statement));
    }
    auto statement = std::make_unique<SetBlockStmt>(line);
    statement->target = std::move(target);
    if (is_operator(current(), "|")) {
      FERRUM_ASSIGN_OR_RETURN(statement->filter, parse_filters(nullptr));
    }
    FERRUM_TRY(expect_block_end("set"));
    std::string terminator;
    FERRUM_ASSIGN_OR_RETURN(statement->body, parse_body({"endset"}, terminator));
    FERRUM_TRY(expect_block_end("endset"));
    return StmtPtr(std::move(statement));
  }

  // `(a, b=default, ...)` for macros and call blocks.
  Status parse_params(MacroDefinition& macro) {
    FERRUM_TRY(expect_operator("("));
    while (!skip_operator(")")) {
      if (!macro.params.empty()) FERRUM_TRY(expect_operator(","));
      if (skip_operator(")")) break;  // trailing comma
      FERRUM_ASSIGN_OR_RETURN(std::string name, expect_name("a parameter name"));
      const bool duplicate =
          std::any_of(macro.params.begin(), macro.params.end(), [&](const MacroParam& p) { return p.name == name; });
      if (duplicate) return error_at(current(), "duplicate parameter '", name, "' in macro '", macro.name, "'");
      MacroParam param{std::move(name), nullptr};
      if (skip_operator("=")) {
        FERRUM_ASSIGN_OR_RETURN(param.default_value, parse_expression(true));
      } else if (std::any_of(macro.params.begin(), macro.params.end(),
                             [](const MacroParam& p) { return p.default_value != nullptr; })) {
        return error_at(current(), "parameter '", param.name, "' without a default follows one with a default");
      }
      macro.params.push_back(std::move(param));
    }
    return ok();
  }

  // Parses a macro or caller body with loop controls reset and argument-name tracking on.
  Status parse_macro_body(MacroDefinition& macro, std::string_view end_tag) {
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    open_macros_.push_back(&macro);
    std::string terminator;
    auto body = parse_body({end_tag}, terminator);
    open_macros_.pop_back();
    loop_depth_ = saved_loop_depth;
    if (!body) return std::move(body).error();
    macro.body = std::move(*body);
    return expect_block_end(end_tag);
  }

  Expected<StmtPtr> parse_macro(int line) {
    auto statement = std::make_unique<MacroStmt>(line);
    statement->macro = std::make_shared<MacroDefinition>();
    FERRUM_ASSIGN_OR_RETURN(statement->macro->name, expect_name("a macro name"));
    FERRUM_TRY(parse_params(*statement->macro));
    FERRUM_TRY(expect_block_end("macro"));
    FERRUM_TRY(parse_macro_body(*statement->macro, "endmacro"));
    return StmtPtr(std::move(statement));
  }

  Expected<StmtPtr> parse_call_block(int line) {
    auto statement = std::make_unique<CallBlockStmt>(line);
    statement->caller = std::make_shared<MacroDefinition>();
    statement->caller->name = "caller";
    if (is_operator(current(), "(")) FERRUM_TRY(parse_params(*statement->caller));
    const Token& call_token = current();
    FERRUM_ASSIGN_OR_RETURN(statement->call, parse_expression(true));
    if (statement->call->kind != ExprKind::kCall) return error_at(call_token, "expected a macro call after 'call'");
    FERRUM_TRY(expect_block_end("call"));
    FERRUM_TRY(parse_macro_body(*statement->caller, "endcall"));
    return StmtPtr(std::move(statement));
  }

  Expected<StmtPtr> parse_filter_block(int line) {
    auto statement = std::make_unique<FilterBlockStmt>(line);
    FERRUM_ASSIGN_OR_RETURN(statement->filter, parse_filters(nullptr, /*leading_pipe=*/false));
    FERRUM_TRY(expect_block_end("filter"));
    std::string terminator;
    FERRUM_ASSIGN_OR_RETURN(statement->body, parse_body({"endfilter"}, terminator));
    FERRUM_TRY(expect_block_end("endfilter"));
    return StmtPtr(std::move(statement));
  }

  Expected<StmtPtr> parse_with(int line) {
    auto statement = std::make_unique<WithStmt>(line);
    while (current().type != TokenType::kBlockEnd) {
      if (!statement->assignments.empty()) FERRUM_TRY(expect_operator(","));
      FERRUM_ASSIGN_OR_RETURN(Target target, parse_target(false, {}));
      FERRUM_TRY(expect_operator("="));
      FERRUM_ASSIGN_OR_RETURN(ExprPtr value, parse_expression(true));
      statement->assignments.emplace_back(std::move(target), std::move(value));
    }
    FERRUM_TRY(expect_block_end("with"));
    std::string terminator;
    FERRUM_ASSIGN_OR_RETURN(statement->body, parse_body({"endwith"}, terminator));
    FERRUM_TRY(expect_block_end("endwith"));
    return StmtPtr(std::move(statement));
  }

  Expected<StmtPtr> parse_generation(int line) {
    auto statement = std::make_unique<SimpleStmt>(StmtKind::kGeneration, line);
    FERRUM_TRY(expect_block_end("generation"));
    std::string terminator;
    FERRUM_ASSIGN_OR_RETURN(statement->body, parse_body({"endgeneration"}, terminator));
    FERRUM_TRY(expect_block_end("endgeneration"));
    return StmtPtr(std::move(statement));
  }

  // `x`, `a, b`, `(a, b), c`, or (for set) `ns.attr`.
  Expected<Target> parse_target(bool allow_namespace, std::initializer_list<std::string_view> end_names) {
    FERRUM_ASSIGN_OR_RETURN(Target first, parse_single_target(allow_namespace));
    if (!is_operator(current(), ",")) return first;
    Target tuple;
    tuple.unpack.push_back(std::move(first));
    while (skip_operator(",")) {
      const Token& next = current();
      const bool ends = next.type == TokenType::kBlockEnd || is_operator(next, "=") || is_operator(next, ")") ||
                        (next.type == TokenType::kName &&
                         std::find(end_names.begin(), end_names.end(), next.text) != end_names.end());
      if (ends) break;
      FERRUM_ASSIGN_OR_RETURN(Target item, parse_single_target(false));
      tuple.unpack.push_back(std::move(item));
    }
    return tuple;
  }

  Expected<Target> parse_single_target(bool allow_namespace) {
    DepthGuard guard(nesting_);
    FERRUM_TRY(check_nesting());
    if (skip_operator("(")) {
      FERRUM_ASSIGN_OR_RETURN(Target inner, parse_target(false, {}));
      FERRUM_TRY(expect_operator(")"));
      return inner;
    }
    Target target;
    FERRUM_ASSIGN_OR_RETURN(target.name, expect_name("an assignment target"));
    if (allow_namespace && skip_operator(".")) {
      FERRUM_ASSIGN_OR_RETURN(target.attribute, expect_name("an attribute name"));
    }
    static constexpr std::string_view kReserved[] = {"true", "false", "none", "True", "False", "None"};
    if (std::find(std::begin(kReserved), std::end(kReserved), target.name) != std::end(kReserved)) {
      return error_at(current(), "cannot assign to '", target.name, "'");
    }
    return target;
  }

  // ---- expressions ----

  // A bare tuple `a, b` or a single expression. Stops at tag ends, ')' and `end_names`.
  Expected<ExprPtr> parse_tuple(bool with_condition, std::initializer_list<std::string_view> end_names,
                                bool explicit_parentheses = false) {
    const int start_line = line();
    std::vector<ExprPtr> items;
    bool saw_comma = false;
    while (true) {
      if (!items.empty()) {
        if (!skip_operator(",")) break;
        saw_comma = true;
      }
      const Token& next = current();
      const bool ends = next.type == TokenType::kBlockEnd || next.type == TokenType::kVariableEnd ||
                        is_operator(next, ")") ||
                        (next.type == TokenType::kName &&
                         std::find(end_names.begin(), end_names.end(), next.text) != end_names.end());
      if (ends) break;
      FERRUM_ASSIGN_OR_RETURN(ExprPtr item, parse_expression(with_condition));
      items.push_back(std::move(item));
    }
    if (!saw_comma && items.size() == 1) return std::move(items.front());
    if (items.empty() && !explicit_parentheses) {
      return error_at(current(), "expected an expression, got ", describe(current()));
    }
    auto tuple = std::make_unique<SequenceExpr>(ExprKind::kTuple, start_line);
    int deepest = 0;
    for (const auto& item : items) deepest = std::max(deepest, item->depth);
    tuple->items = std::move(items);
    FERRUM_TRY(set_depth(*tuple, deepest));
    return ExprPtr(std::move(tuple));
  }

  Expected<ExprPtr> parse_expression(bool with_condition) {
    DepthGuard guard(nesting_);
    FERRUM_TRY(check_nesting());
    FERRUM_ASSIGN_OR_RETURN(ExprPtr value, parse_or());
    if (!with_condition) return value;
    while (is_name(current(), "if")) {
      const int if_line = line();
      advance();
      auto conditional = std::make_unique<ConditionalExpr>(if_line);
      FERRUM_ASSIGN_OR_RETURN(conditional->condition, parse_or());
      if (skip_name("else")) {
        FERRUM_ASSIGN_OR_RETURN(conditional->else_value, parse_expression(true));
      }
      conditional->then_value = std::move(value);
      FERRUM_TRY(set_depth(
          *conditional, {conditional->condition.get(), conditional->then_value.get(), conditional->else_value.get()}));
      value = std::move(conditional);
    }
    return value;
  }

  Expected<ExprPtr> make_binary(BinaryOp op, int op_line, ExprPtr left, ExprPtr right) {
    auto node = std::make_unique<BinaryExpr>(op_line, op, std::move(left), std::move(right));
    FERRUM_TRY(set_depth(*node, {node->left.get(), node->right.get()}));
    return ExprPtr(std::move(node));
  }

  Expected<ExprPtr> parse_or() {
    FERRUM_ASSIGN_OR_RETURN(ExprPtr left, parse_and());
    while (is_name(current(), "or")) {
      const int op_line = line();
      advance();
      FERRUM_ASSIGN_OR_RETURN(ExprPtr right, parse_and());
      FERRUM_ASSIGN_OR_RETURN(left, make_binary(BinaryOp::kOr, op_line, std::move(left), std::move(right)));
    }
    return left;
  }

  Expected<ExprPtr> parse_and() {
    FERRUM_ASSIGN_OR_RETURN(ExprPtr left, parse_not());
    while (is_name(current(), "and")) {
      const int op_line = line();
      advance();
      FERRUM_ASSIGN_OR_RETURN(ExprPtr right, parse_not());
      FERRUM_ASSIGN_OR_RETURN(left, make_binary(BinaryOp::kAnd, op_line, std::move(left), std::move(right)));
    }
    return left;
  }

  Expected<ExprPtr> parse_not() {
    if (!is_name(current(), "not")) return parse_compare();
    const int not_line = line();
    advance();
    DepthGuard guard(nesting_);
    FERRUM_TRY(check_nesting());
    FERRUM_ASSIGN_OR_RETURN(ExprPtr operand, parse_not());
    auto node = std::make_unique<UnaryExpr>(not_line, UnaryOp::kNot, std::move(operand));
    FERRUM_TRY(set_depth(*node, {node->operand.get()}));
    return ExprPtr(std::move(node));
  }

  Expected<ExprPtr> parse_compare() {
    const int compare_line = line();
    FERRUM_ASSIGN_OR_RETURN(ExprPtr first, parse_math1());
    auto compare = std::make_unique<CompareExpr>(compare_line);
    while (true) {
      CompareOp op;
      const Token& token = current();
      if (is_operator(token, "==")) {
        op = CompareOp::kEqual;
      } else if (is_operator(token, "!=")) {
        op = CompareOp::kNotEqual;
      } else if (is_operator(token, "<")) {
        op = CompareOp::kLess;
      } else if (is_operator(token, "<=")) {
        op = CompareOp::kLessEqual;
      } else if (is_operator(token, ">")) {
        op = CompareOp::kGreater;
      } else if (is_operator(token, ">=")) {
        op = CompareOp::kGreaterEqual;
      } else if (is_name(token, "in")) {
        op = CompareOp::kIn;
      } else if (is_name(token, "not") && is_name(peek(), "in")) {
        op = CompareOp::kNotIn;
        advance();
      } else {
        break;
      }
      advance();
      FERRUM_ASSIGN_OR_RETURN(ExprPtr operand, parse_math1());
      compare->rest.emplace_back(op, std::move(operand));
    }
    if (compare->rest.empty()) return first;
    int deepest = first->depth;
    for (const auto& [op, operand] : compare->rest) deepest = std::max(deepest, operand->depth);
    compare->first = std::move(first);
    FERRUM_TRY(set_depth(*compare, deepest + static_cast<int>(compare->rest.size())));
    return ExprPtr(std::move(compare));
  }

  Expected<ExprPtr> parse_math1() {
    FERRUM_ASSIGN_OR_RETURN(ExprPtr left, parse_concat());
    while (is_operator(current(), "+") || is_operator(current(), "-")) {
      const BinaryOp op = current().text == "+" ? BinaryOp::kAdd : BinaryOp::kSubtract;
      const int op_line = line();
      advance();
      FERRUM_ASSIGN_OR_RETURN(ExprPtr right, parse_concat());
      FERRUM_ASSIGN_OR_RETURN(left, make_binary(op, op_line, std::move(left), std::move(right)));
    }
    return left;
  }

  Expected<ExprPtr> parse_concat() {
    FERRUM_ASSIGN_OR_RETURN(ExprPtr left, parse_math2());
    while (is_operator(current(), "~")) {
      const int op_line = line();
      advance();
      FERRUM_ASSIGN_OR_RETURN(ExprPtr right, parse_math2());
      FERRUM_ASSIGN_OR_RETURN(left, make_binary(BinaryOp::kConcat, op_line, std::move(left), std::move(right)));
    }
    return left;
  }

  Expected<ExprPtr> parse_math2() {
    FERRUM_ASSIGN_OR_RETURN(ExprPtr left, parse_power());
    while (true) {
      BinaryOp op;
      if (is_operator(current(), "*")) {
        op = BinaryOp::kMultiply;
      } else if (is_operator(current(), "/")) {
        op = BinaryOp::kDivide;
      } else if (is_operator(current(), "//")) {
        op = BinaryOp::kFloorDivide;
      } else if (is_operator(current(), "%")) {
        op = BinaryOp::kModulo;
      } else {
        break;
      }
      const int op_line = line();
      advance();
      FERRUM_ASSIGN_OR_RETURN(ExprPtr right, parse_power());
      FERRUM_ASSIGN_OR_RETURN(left, make_binary(op, op_line, std::move(left), std::move(right)));
    }
    return left;
  }

  // Jinja2's ** is left-associative and binds looser than unary minus: -2**2 == 4, 2**3**2 == 64.
  Expected<ExprPtr> parse_power() {
    FERRUM_ASSIGN_OR_RETURN(ExprPtr left, parse_unary(true));
    while (is_operator(current(), "**")) {
      const int op_line = line();
      advance();
      FERRUM_ASSIGN_OR_RETURN(ExprPtr right, parse_unary(true));
      FERRUM_ASSIGN_OR_RETURN(left, make_binary(BinaryOp::kPower, op_line, std::move(left), std::move(right)));
    }
    return left;
  }

  Expected<ExprPtr> parse_unary(bool with_filters) {
    DepthGuard guard(nesting_);
    FERRUM_TRY(check_nesting());
    ExprPtr node;
    const int unary_line = line();
    if (is_operator(current(), "-") || is_operator(current(), "+")) {
      const UnaryOp op = current().text == "-" ? UnaryOp::kNegate : UnaryOp::kPlus;
      advance();
      FERRUM_ASSIGN_OR_RETURN(ExprPtr operand, parse_unary(false));
      auto unary = std::make_unique<UnaryExpr>(unary_line, op, std::move(operand));
      FERRUM_TRY(set_depth(*unary, {unary->operand.get()}));
      node = std::move(unary);
    } else {
      FERRUM_ASSIGN_OR_RETURN(node, parse_primary());
    }
    FERRUM_ASSIGN_OR_RETURN(node, parse_postfix(std::move(node)));
    if (with_filters) {
      FERRUM_ASSIGN_OR_RETURN(node, parse_filters_and_tests(std::move(node)));
    }
    return node;
  }

  Expected<ExprPtr> parse_primary() {
    const Token& token = current();
    const int token_line = line_of(token);
    switch (token.type) {
      case TokenType::kName: {
        if (token.text == "true" || token.text == "True") return literal(token_line, Value::boolean(true));
        if (token.text == "false" || token.text == "False") return literal(token_line, Value::boolean(false));
        if (token.text == "none" || token.text == "None") return literal(token_line, Value::none());
        for (MacroDefinition* macro : open_macros_) {
          macro->uses_varargs |= token.text == "varargs";
          macro->uses_kwargs |= token.text == "kwargs";
          macro->uses_caller |= token.text == "caller";
        }
        advance();
        return ExprPtr(std::make_unique<NameExpr>(token_line, token.text));
      }
      case TokenType::kString: {
        std::string text;
        while (current().type == TokenType::kString) {  // adjacent literals concatenate, as in Python
          text += current().text;
          advance();
        }
        return ExprPtr(std::make_unique<LiteralExpr>(token_line, Value::string(std::move(text))));
      }
      case TokenType::kInteger: return literal(token_line, Value::integer(token.integer));
      case TokenType::kFloat: return literal(token_line, Value::number(token.number));
      case TokenType::kOperator:
        if (token.text == "(") {
          advance();
          FERRUM_ASSIGN_OR_RETURN(ExprPtr inner, parse_tuple(true, {}, /*explicit_parentheses=*/true));
          FERRUM_TRY(expect_operator(")"));
          return inner;
        }
        if (token.text == "[") return parse_list();
        if (token.text == "{") return parse_dict();
        break;
      default: break;
    }
    return error_at(token, "unexpected ", describe(token), " in expression");
  }

  Expected<ExprPtr> literal(int token_line, Value value) {
    advance();
    return ExprPtr(std::make_unique<LiteralExpr>(token_line, std::move(value)));
  }

  Expected<ExprPtr> parse_list() {
    auto list = std::make_unique<SequenceExpr>(ExprKind::kList, line());
    advance();
    int deepest = 0;
    while (!skip_operator("]")) {
      if (!list->items.empty()) {
        FERRUM_TRY(expect_operator(","));
        if (skip_operator("]")) break;
      }
      FERRUM_ASSIGN_OR_RETURN(ExprPtr item, parse_expression(true));
      deepest = std::max(deepest, item->depth);
      list->items.push_back(std::move(item));
    }
    FERRUM_TRY(set_depth(*list, deepest));
    return ExprPtr(std::move(list));
  }

  Expected<ExprPtr> parse_dict() {
    auto dict = std::make_unique<DictExpr>(line());
    advance();
    int deepest = 0;
    while (!skip_operator("}")) {
      if (!dict->items.empty()) {
        FERRUM_TRY(expect_operator(","));
        if (skip_operator("}")) break;
      }
      FERRUM_ASSIGN_OR_RETURN(ExprPtr key, parse_expression(true));
      FERRUM_TRY(expect_operator(":"));
      FERRUM_ASSIGN_OR_RETURN(ExprPtr value, parse_expression(true));
      deepest = std::max({deepest, key->depth, value->depth});
      dict->items.emplace_back(std::move(key), std::move(value));
    }
    FERRUM_TRY(set_depth(*dict, deepest));
    return ExprPtr(std::move(dict));
  }

  // `.name`, `.0`, `[key]`, `[a:b:c]` and calls, left to right.
  Expected<ExprPtr> parse_postfix(ExprPtr node) {
    while (true) {
      const int postfix_line = line();
      if (skip_operator(".")) {
        const Token& token = current();
        if (token.type == TokenType::kName) {
          advance();
          auto attribute = std::make_unique<AttributeExpr>(postfix_line, std::move(node), token.text);
          FERRUM_TRY(set_depth(*attribute, {attribute->object.get()}));
          node = std::move(attribute);
        } else if (token.type == TokenType::kInteger) {
          advance();
          auto key = std::make_unique<LiteralExpr>(postfix_line, Value::integer(token.integer));
          auto item = std::make_unique<ItemExpr>(postfix_line, std::move(node), std::move(key));
          FERRUM_TRY(set_depth(*item, {item->object.get()}));
          node = std::move(item);
        } else {
          return error_at(token, "expected an attribute name after '.', got ", describe(token));
        }
      } else if (is_operator(current(), "[")) {
        advance();
        FERRUM_ASSIGN_OR_RETURN(node, parse_subscript(postfix_line, std::move(node)));
      } else if (is_operator(current(), "(")) {
        FERRUM_ASSIGN_OR_RETURN(node, parse_call(postfix_line, std::move(node)));
      } else {
        return node;
      }
    }
  }

  Expected<ExprPtr> parse_subscript(int subscript_line, ExprPtr object) {
    ExprPtr first;
    if (!is_operator(current(), ":")) {
      FERRUM_ASSIGN_OR_RETURN(first, parse_tuple(true, {}));
    }
    if (!is_operator(current(), ":")) {
      FERRUM_TRY(expect_operator("]"));
      if (!first) return error_at(current(), "expected a subscript");
      auto item = std::make_unique<ItemExpr>(subscript_line, std::move(object), std::move(first));
      FERRUM_TRY(set_depth(*item, {item->object.get(), item->key.get()}));
      return ExprPtr(std::move(item));
    }
    auto slice = std::make_unique<SliceExpr>(subscript_line);
    slice->object = std::move(object);
    slice->start = std::move(first);
    advance();  // ':'
    auto slice_part = [&](ExprPtr& part) -> Status {
      if (is_operator(current(), ":") || is_operator(current(), "]")) return ok();
      FERRUM_ASSIGN_OR_RETURN(part, parse_expression(true));
      return ok();
    };
    FERRUM_TRY(slice_part(slice->stop));
    if (skip_operator(":")) FERRUM_TRY(slice_part(slice->step));
    FERRUM_TRY(expect_operator("]"));
    FERRUM_TRY(set_depth(*slice, {slice->object.get(), slice->start.get(), slice->stop.get(), slice->step.get()}));
    return ExprPtr(std::move(slice));
  }

  Status parse_call_arguments(CallArguments& args) {
    FERRUM_TRY(expect_operator("("));
    bool first = true;
    while (!skip_operator(")")) {
      if (!first) {
        FERRUM_TRY(expect_operator(","));
        if (skip_operator(")")) break;
      }
      first = false;
      if (skip_operator("**")) {
        FERRUM_ASSIGN_OR_RETURN(args.star_kwargs, parse_expression(true));
      } else if (skip_operator("*")) {
        FERRUM_ASSIGN_OR_RETURN(args.star_args, parse_expression(true));
      } else if (current().type == TokenType::kName && is_operator(peek(), "=")) {
        std::string name = current().text;
        advance();
        advance();
        FERRUM_ASSIGN_OR_RETURN(ExprPtr value, parse_expression(true));
        args.keywords.emplace_back(std::move(name), std::move(value));
      } else {
        if (!args.keywords.empty() || args.star_kwargs) {
          return error_at(current(), "positional argument follows keyword argument");
        }
        FERRUM_ASSIGN_OR_RETURN(ExprPtr value, parse_expression(true));
        args.positional.push_back(std::move(value));
      }
    }
    return ok();
  }

  Expected<ExprPtr> parse_call(int call_line, ExprPtr callee) {
    auto call = std::make_unique<CallExpr>(call_line);
    call->callee = std::move(callee);
    FERRUM_TRY(parse_call_arguments(call->args));
    FERRUM_TRY(set_depth(*call, std::max(call->callee->depth, arguments_depth(call->args))));
    return ExprPtr(std::move(call));
  }

  // `| name(args)` repeated; `operand` is null for filter blocks. Without a leading pipe the first
  // filter name comes directly ({% filter upper %}).
  Expected<ExprPtr> parse_filters(ExprPtr operand, bool leading_pipe = true) {
    bool first = true;
    while ((first && !leading_pipe) || skip_operator("|")) {
      first = false;
      auto filter = std::make_unique<FilterExpr>(line());
      const Token& name_token = current();
      FERRUM_ASSIGN_OR_RETURN(filter->name, expect_name("a filter name"));
      if (find_filter(filter->name) == nullptr) return error_at(name_token, "no filter named '", filter->name, "'");
      if (is_operator(current(), "(")) FERRUM_TRY(parse_call_arguments(filter->args));
      filter->operand = std::move(operand);
      FERRUM_TRY(
          set_depth(*filter, std::max(filter->operand ? filter->operand->depth : 0, arguments_depth(filter->args))));
      operand = std::move(filter);
    }
    return operand;
  }

  Expected<ExprPtr> parse_filters_and_tests(ExprPtr node) {
    while (true) {
      if (is_operator(current(), "|")) {
        FERRUM_ASSIGN_OR_RETURN(node, parse_filters(std::move(node)));
      } else if (is_name(current(), "is")) {
        FERRUM_ASSIGN_OR_RETURN(node, parse_test(std::move(node)));
      } else if (is_operator(current(), "(")) {
        FERRUM_ASSIGN_OR_RETURN(node, parse_call(line(), std::move(node)));
      } else {
        return node;
      }
    }
  }

  Expected<ExprPtr> parse_test(ExprPtr operand) {
    auto test = std::make_unique<TestExpr>(line());
    advance();  // 'is'
    test->negated = skip_name("not");
    const Token& name_token = current();
    FERRUM_ASSIGN_OR_RETURN(test->name, expect_name("a test name"));
    if (find_test(test->name) == nullptr) return error_at(name_token, "no test named '", test->name, "'");
    const Token& next = current();
    if (is_operator(next, "(")) {
      FERRUM_TRY(parse_call_arguments(test->args));
    } else {
      // `x is divisibleby 3`: one argument without parentheses.
      const bool starts_primary = next.type == TokenType::kName || next.type == TokenType::kString ||
                                  next.type == TokenType::kInteger || next.type == TokenType::kFloat ||
                                  is_operator(next, "[") || is_operator(next, "{");
      const bool keyword = is_name(next, "else") || is_name(next, "or") || is_name(next, "and");
      if (starts_primary && !keyword) {
        if (is_name(next, "is")) return error_at(next, "tests cannot be chained with 'is'");
        FERRUM_ASSIGN_OR_RETURN(ExprPtr argument, parse_primary());
        FERRUM_ASSIGN_OR_RETURN(argument, parse_postfix(std::move(argument)));
        test->args.positional.push_back(std::move(argument));
      }
    }
    test->operand = std::move(operand);
    FERRUM_TRY(set_depth(*test, std::max(test->operand->depth, arguments_depth(test->args))));
    return ExprPtr(std::move(test));
  }

  const std::vector<Token>& tokens_;
  const SourceLocator& locator_;
  size_t pos_ = 0;
  int nesting_ = 0;
  int loop_depth_ = 0;
  std::vector<MacroDefinition*> open_macros_;
};

}  // namespace

Expected<TemplateAst> parse_template(const std::vector<Token>& tokens, const SourceLocator& locator) {
  return Parser(tokens, locator).run();
}

}  // namespace ferrum::chat
