// Expression evaluation: the Renderer members declared under "Expressions" in renderer.h.
#include "chat/operators.h"
#include "chat/printing.h"
#include "chat/renderer.h"

namespace ferrum::chat {

Expected<Value> Renderer::evaluate(const Expr& expr, const FramePtr& frame) {
  NestingGuard guard(recursion_depth_);
  FERRUM_TRY(check_recursion());
  line_ = expr.line;
  const bool mutable_allowed = options_.allow_mutating_methods;
  switch (expr.kind) {
    case ExprKind::kLiteral: return static_cast<const LiteralExpr&>(expr).value;
    case ExprKind::kName: return lookup(static_cast<const NameExpr&>(expr).name, *frame);
    case ExprKind::kList:
    case ExprKind::kTuple: return evaluate_sequence(static_cast<const SequenceExpr&>(expr), frame);
    case ExprKind::kDict: return evaluate_dict(static_cast<const DictExpr&>(expr), frame);
    case ExprKind::kUnary: {
      const auto& unary = static_cast<const UnaryExpr&>(expr);
      FERRUM_ASSIGN_OR_RETURN(Value operand, evaluate(*unary.operand, frame));
      line_ = expr.line;
      return unary_operation(unary.op, operand);
    }
    case ExprKind::kBinary: return evaluate_binary(static_cast<const BinaryExpr&>(expr), frame);
    case ExprKind::kCompare: return evaluate_compare(static_cast<const CompareExpr&>(expr), frame);
    case ExprKind::kConditional: {
      const auto& conditional = static_cast<const ConditionalExpr&>(expr);
      FERRUM_ASSIGN_OR_RETURN(Value condition, evaluate(*conditional.condition, frame));
      if (is_truthy(condition)) return evaluate(*conditional.then_value, frame);
      if (conditional.else_value) return evaluate(*conditional.else_value, frame);
      return Value::undefined(
          cat("the inline if-expression on line ", expr.line, " evaluated to false and no else section was defined"));
    }
    case ExprKind::kAttribute: {
      const auto& attribute = static_cast<const AttributeExpr&>(expr);
      FERRUM_ASSIGN_OR_RETURN(Value object, evaluate(*attribute.object, frame));
      line_ = expr.line;
      FERRUM_TRY(charge(object));  // dict lookups scan; methods go on to process the receiver
      return get_attribute(object, attribute.name, mutable_allowed);
    }
    case ExprKind::kItem: {
      const auto& item = static_cast<const ItemExpr&>(expr);
      FERRUM_ASSIGN_OR_RETURN(Value object, evaluate(*item.object, frame));
      FERRUM_ASSIGN_OR_RETURN(Value key, evaluate(*item.key, frame));
      line_ = expr.line;
      if (!object.is_list()) FERRUM_TRY(charge(object));  // list indexing is O(1); dict and str are not
      return get_item(object, key, mutable_allowed);
    }
    case ExprKind::kSlice: return evaluate_slice(static_cast<const SliceExpr&>(expr), frame);
    case ExprKind::kCall: {
      const auto& call = static_cast<const CallExpr&>(expr);
      FERRUM_ASSIGN_OR_RETURN(Value callee, evaluate(*call.callee, frame));
      FERRUM_ASSIGN_OR_RETURN(CallArgs args, evaluate_arguments(call.args, frame));
      line_ = expr.line;
      return this->call(callee, args);
    }
    case ExprKind::kFilter: return evaluate_filter(static_cast<const FilterExpr&>(expr), frame);
    case ExprKind::kTest: return evaluate_test(static_cast<const TestExpr&>(expr), frame);
  }
  return make_error(ErrorCode::kInternal, "unknown expression kind");
}

Expected<Value> Renderer::evaluate_sequence(const SequenceExpr& expr, const FramePtr& frame) {
  std::vector<Value> items;
  items.reserve(expr.items.size());
  for (const ExprPtr& item : expr.items) {
    FERRUM_ASSIGN_OR_RETURN(Value value, evaluate(*item, frame));
    items.push_back(std::move(value));
  }
  Value result = expr.kind == ExprKind::kTuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  FERRUM_TRY(check_value_depth(result));
  return result;
}

Expected<Value> Renderer::evaluate_dict(const DictExpr& expr, const FramePtr& frame) {
  Dict dict;
  for (const auto& [key_expr, value_expr] : expr.items) {
    FERRUM_ASSIGN_OR_RETURN(Value key, evaluate(*key_expr, frame));
    FERRUM_ASSIGN_OR_RETURN(Value value, evaluate(*value_expr, frame));
    FERRUM_CHECK(is_hashable(key) && !key.is_undefined(), ErrorCode::kInvalidArgument, "unhashable type: '",
                 python_type_name(key), "'");
    dict.set(std::move(key), std::move(value));
  }
  Value result = Value::dict(std::move(dict));
  FERRUM_TRY(check_value_depth(result));
  return result;
}

Expected<Value> Renderer::evaluate_binary(const BinaryExpr& expr, const FramePtr& frame) {
  FERRUM_ASSIGN_OR_RETURN(Value left, evaluate(*expr.left, frame));
  // `and` / `or` short-circuit and return an operand, as in Python: {{ name or 'anonymous' }}.
  if (expr.op == BinaryOp::kAnd) return is_truthy(left) ? evaluate(*expr.right, frame) : Expected<Value>(left);
  if (expr.op == BinaryOp::kOr) return is_truthy(left) ? Expected<Value>(left) : evaluate(*expr.right, frame);
  FERRUM_ASSIGN_OR_RETURN(Value right, evaluate(*expr.right, frame));
  line_ = expr.line;
  FERRUM_TRY(charge(left));
  FERRUM_TRY(charge(right));
  FERRUM_ASSIGN_OR_RETURN(Value result, binary_operation(expr.op, left, right, limits()));
  FERRUM_TRY(charge(result));
  return result;
}

Expected<Value> Renderer::evaluate_compare(const CompareExpr& expr, const FramePtr& frame) {
  FERRUM_ASSIGN_OR_RETURN(Value left, evaluate(*expr.first, frame));
  for (const auto& [op, operand] : expr.rest) {
    FERRUM_ASSIGN_OR_RETURN(Value right, evaluate(*operand, frame));
    line_ = expr.line;
    FERRUM_TRY(charge(left));
    FERRUM_TRY(charge(right));
    FERRUM_ASSIGN_OR_RETURN(bool holds, compare_values(op, left, right));
    if (!holds) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Expected<Value> Renderer::evaluate_slice(const SliceExpr& expr, const FramePtr& frame) {
  FERRUM_ASSIGN_OR_RETURN(Value object, evaluate(*expr.object, frame));
  Value parts[3];
  const ExprPtr* part_exprs[3] = {&expr.start, &expr.stop, &expr.step};
  for (int i = 0; i < 3; ++i) {
    if (*part_exprs[i]) {
      FERRUM_ASSIGN_OR_RETURN(parts[i], evaluate(**part_exprs[i], frame));
    }
  }
  line_ = expr.line;
  return get_slice(object, parts[0], parts[1], parts[2]);
}

Expected<CallArgs> Renderer::evaluate_arguments(const CallArguments& arguments, const FramePtr& frame) {
  CallArgs args;
  for (const ExprPtr& arg : arguments.positional) {
    FERRUM_ASSIGN_OR_RETURN(Value value, evaluate(*arg, frame));
    args.positional.push_back(std::move(value));
  }
  if (arguments.star_args) {
    FERRUM_ASSIGN_OR_RETURN(Value extra, evaluate(*arguments.star_args, frame));
    FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(extra));
    args.positional.insert(args.positional.end(), items.begin(), items.end());
  }
  for (const auto& [name, arg] : arguments.keywords) {
    FERRUM_ASSIGN_OR_RETURN(Value value, evaluate(*arg, frame));
    args.keywords.emplace_back(name, std::move(value));
  }
  if (arguments.star_kwargs) {
    FERRUM_ASSIGN_OR_RETURN(Value extra, evaluate(*arguments.star_kwargs, frame));
    FERRUM_CHECK(extra.is_dict(), ErrorCode::kInvalidArgument, "argument after ** must be a mapping, not ",
                 python_type_name(extra));
    for (const auto& [key, value] : extra.as_dict().entries()) {
      FERRUM_CHECK(key.is_string(), ErrorCode::kInvalidArgument, "keywords must be strings");
      args.keywords.emplace_back(key.as_string(), value);
    }
  }
  return args;
}

Expected<Value> Renderer::evaluate_filter(const FilterExpr& expr, const FramePtr& frame) {
  Value input;
  if (expr.operand) {
    FERRUM_ASSIGN_OR_RETURN(input, evaluate(*expr.operand, frame));
  } else {
    FERRUM_CHECK(block_input_ != nullptr, ErrorCode::kInternal, "filter '", expr.name, "' has no input");
    input = *block_input_;
  }
  FERRUM_ASSIGN_OR_RETURN(CallArgs args, evaluate_arguments(expr.args, frame));
  line_ = expr.line;
  return apply_filter(expr.name, input, args);
}

Expected<Value> Renderer::evaluate_test(const TestExpr& expr, const FramePtr& frame) {
  FERRUM_ASSIGN_OR_RETURN(Value input, evaluate(*expr.operand, frame));
  FERRUM_ASSIGN_OR_RETURN(CallArgs args, evaluate_arguments(expr.args, frame));
  line_ = expr.line;
  FERRUM_ASSIGN_OR_RETURN(bool passed, apply_test(expr.name, input, args));
  return Value::boolean(passed != expr.negated);
}

Expected<Value> Renderer::apply_block_filters(const Expr& chain, std::string block_output, const FramePtr& frame) {
  const Value input = Value::string(std::move(block_output));
  const Value* saved = std::exchange(block_input_, &input);
  auto result = evaluate(chain, frame);
  block_input_ = saved;
  return result;
}

}  // namespace ferrum::chat
