// The parsed form of a template: expressions and statements as plain data. The renderer walks it.
// Every node keeps its source line for runtime error messages.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace ferrum::chat {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  kLiteral,      // 1, 'text', true, none
  kName,         // messages
  kList,         // [a, b]
  kTuple,        // (a, b) or a, b
  kDict,         // {'k': v}
  kUnary,        // -x, +x, not x
  kBinary,       // arithmetic, ~, and, or
  kCompare,      // a < b <= c, a in b
  kConditional,  // a if cond else b
  kAttribute,    // obj.name
  kItem,         // obj[key]
  kSlice,        // obj[start:stop:step]
  kCall,         // f(a, k=v, *args, **kwargs)
  kFilter,       // value | name(args)
  kTest,         // value is [not] name(args)
};

enum class UnaryOp { kNegate, kPlus, kNot };
enum class BinaryOp { kAdd, kSubtract, kMultiply, kDivide, kFloorDivide, kModulo, kPower, kConcat, kAnd, kOr };
enum class CompareOp { kEqual, kNotEqual, kLess, kLessEqual, kGreater, kGreaterEqual, kIn, kNotIn };

struct CallArguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  ExprPtr star_args;    // *args
  ExprPtr star_kwargs;  // **kwargs
};

struct Expr {
  ExprKind kind;
  int line = 0;
  int depth = 1;  // height of the subtree; the parser bounds it (kMaxParseDepth)
  explicit Expr(ExprKind k, int l) : kind(k), line(l) {}
  virtual ~Expr() = default;
};

struct LiteralExpr : Expr {
  Value value;
  LiteralExpr(int l, Value v) : Expr(ExprKind::kLiteral, l), value(std::move(v)) {}
};

struct NameExpr : Expr {
  std::string name;
  NameExpr(int l, std::string n) : Expr(ExprKind::kName, l), name(std::move(n)) {}
};

// kList and kTuple.
struct SequenceExpr : Expr {
  std::vector<ExprPtr> items;
  SequenceExpr(ExprKind k, int l) : Expr(k, l) {}
};

struct DictExpr : Expr {
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
  explicit DictExpr(int l) : Expr(ExprKind::kDict, l) {}
};

struct UnaryExpr : Expr {
  UnaryOp op;
  ExprPtr operand;
  UnaryExpr(int l, UnaryOp o, ExprPtr e) : Expr(ExprKind::kUnary, l), op(o), operand(std::move(e)) {}
};

struct BinaryExpr : Expr {
  BinaryOp op;
  ExprPtr left;
  ExprPtr right;
  BinaryExpr(int l, BinaryOp o, ExprPtr a, ExprPtr b)
      : Expr(ExprKind::kBinary, l), op(o), left(std::move(a)), right(std::move(b)) {}
};

// Python chains comparisons: a < b < c means a < b and b < c, with b evaluated once.
struct CompareExpr : Expr {
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
  explicit CompareExpr(int l) : Expr(ExprKind::kCompare, l) {}
};

struct ConditionalExpr : Expr {
  ExprPtr condition;
  ExprPtr then_value;
  ExprPtr else_value;  // null: Undefined when the condition is false
  explicit ConditionalExpr(int l) : Expr(ExprKind::kConditional, l) {}
};

struct AttributeExpr : Expr {
  ExprPtr object;
  std::string name;
  AttributeExpr(int l, ExprPtr o, std::string n)
      : Expr(ExprKind::kAttribute, l), object(std::move(o)), name(std::move(n)) {}
};

struct ItemExpr : Expr {
  ExprPtr object;
  ExprPtr key;
  ItemExpr(int l, ExprPtr o, ExprPtr k) : Expr(ExprKind::kItem, l), object(std::move(o)), key(std::move(k)) {}
};

struct SliceExpr : Expr {
  ExprPtr object;
  ExprPtr start;  // each may be null
  ExprPtr stop;
  ExprPtr step;
  explicit SliceExpr(int l) : Expr(ExprKind::kSlice, l) {}
};

struct CallExpr : Expr {
  ExprPtr callee;
  CallArguments args;
  explicit CallExpr(int l) : Expr(ExprKind::kCall, l) {}
};

// `operand` is null inside {% filter %} and {% set x | f %} blocks, where the block's output is the input.
struct FilterExpr : Expr {
  ExprPtr operand;
  std::string name;
  CallArguments args;
  explicit FilterExpr(int l) : Expr(ExprKind::kFilter, l) {}
};

struct TestExpr : Expr {
  ExprPtr operand;
  std::string name;
  CallArguments args;
  bool negated = false;
  explicit TestExpr(int l) : Expr(ExprKind::kTest, l) {}
};

// Assignment targets: `x`, `a, (b, c)` for unpacking, or `ns.attr` (set only).
struct Target {
  std::string name;            // a plain name, or the namespace for `ns.attr`
  std::string attribute;       // non-empty for `ns.attr`
  std::vector<Target> unpack;  // non-empty for tuple targets
  bool is_tuple() const { return !unpack.empty(); }
};

enum class StmtKind {
  kText,   // template data
  kPrint,  // {{ expr }}
  kIf,
  kFor,
  kSet,       // {% set target = expr %}
  kSetBlock,  // {% set target | filters %}...{% endset %}
  kMacro,
  kCallBlock,    // {% call(args) macro(...) %}...{% endcall %}
  kFilterBlock,  // {% filter f %}...{% endfilter %}
  kWith,
  kBreak,
  kContinue,
  kGeneration,  // transformers' {% generation %}: renders its body unchanged
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  explicit Stmt(StmtKind k, int l) : kind(k), line(l) {}
  virtual ~Stmt() = default;
};

struct TextStmt : Stmt {
  std::string text;
  TextStmt(int l, std::string t) : Stmt(StmtKind::kText, l), text(std::move(t)) {}
};

struct PrintStmt : Stmt {
  ExprPtr value;
  PrintStmt(int l, ExprPtr v) : Stmt(StmtKind::kPrint, l), value(std::move(v)) {}
};

struct IfStmt : Stmt {
  std::vector<std::pair<ExprPtr, Body>> branches;  // if and elif
  Body else_body;
  explicit IfStmt(int l) : Stmt(StmtKind::kIf, l) {}
};

struct ForStmt : Stmt {
  Target target;
  ExprPtr iterable;
  ExprPtr filter;  // `for x in y if cond`; may be null
  Body body;
  Body else_body;
  bool recursive = false;
  explicit ForStmt(int l) : Stmt(StmtKind::kFor, l) {}
};

struct SetStmt : Stmt {
  Target target;
  ExprPtr value;
  explicit SetStmt(int l) : Stmt(StmtKind::kSet, l) {}
};

struct SetBlockStmt : Stmt {
  Target target;
  ExprPtr filter;  // a FilterExpr chain over the block output, or null
  Body body;
  explicit SetBlockStmt(int l) : Stmt(StmtKind::kSetBlock, l) {}
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

// A macro's signature and body; shared by {% macro %} and the caller of {% call %}.
struct MacroDefinition {
  std::string name;
  std::vector<MacroParam> params;
  Body body;
  // Whether the body reads varargs / kwargs / caller; Jinja2 rejects surplus arguments otherwise.
  bool uses_varargs = false;
  bool uses_kwargs = false;
  bool uses_caller = false;
};

struct MacroStmt : Stmt {
  std::shared_ptr<MacroDefinition> macro;
  explicit MacroStmt(int l) : Stmt(StmtKind::kMacro, l) {}
};

struct CallBlockStmt : Stmt {
  ExprPtr call;                             // a CallExpr
  std::shared_ptr<MacroDefinition> caller;  // the block body, named "caller"
  explicit CallBlockStmt(int l) : Stmt(StmtKind::kCallBlock, l) {}
};

struct FilterBlockStmt : Stmt {
  ExprPtr filter;  // a FilterExpr chain whose innermost operand is null (the body)
  Body body;
  explicit FilterBlockStmt(int l) : Stmt(StmtKind::kFilterBlock, l) {}
};

struct WithStmt : Stmt {
  std::vector<std::pair<Target, ExprPtr>> assignments;
  Body body;
  explicit WithStmt(int l) : Stmt(StmtKind::kWith, l) {}
};

// kBreak, kContinue, kGeneration (generation has a body).
struct SimpleStmt : Stmt {
  Body body;
  SimpleStmt(StmtKind k, int l) : Stmt(k, l) {}
};

struct TemplateAst {
  Body body;
};

}  // namespace ferrum::chat
