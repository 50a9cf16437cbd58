#include "chat/renderer.h"

#include "chat/filters.h"
#include "chat/globals.h"
#include "chat/jinja_tests.h"
#include "chat/macro_and_loop.h"
#include "chat/objects.h"
#include "chat/operators.h"
#include "chat/printing.h"

namespace ferrum::chat {

const Value* Frame::find(std::string_view name) const {
  for (const Frame* frame = this; frame != nullptr; frame = frame->parent.get()) {
    for (const auto& [key, value] : frame->variables) {
      if (key == name) return &value;
    }
  }
  return nullptr;
}

void Frame::set(std::string_view name, Value value) {
  for (auto& [key, existing] : variables) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  variables.emplace_back(std::string(name), std::move(value));
}

Renderer::Renderer(const RenderOptions& options) : options_(options), globals_(make_globals()) {}

Renderer::~Renderer() {
  // Empty everything that may take part in a cycle before the last references go.
  for (const Value& value : adopted_) {
    if (value.is_object()) value.as_object().release_references();
    if (value.is_list()) value.mutable_list().items.clear();
    if (value.is_dict()) value.mutable_dict().clear();
  }
  for (const FramePtr& frame : closure_frames_) frame->variables.clear();
}

Expected<std::string> Renderer::render(const TemplateAst& ast, const Dict& context) {
  stack_base_ = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  auto root = std::make_shared<Frame>(nullptr);
  for (const auto& [key, value] : context.entries()) {
    FERRUM_CHECK(key.is_string(), ErrorCode::kInvalidArgument, "template variable names must be strings, got ",
                 to_repr(key));
    FERRUM_TRY(check_value_depth(value));
    root->set(key.as_string(), value);
  }
  closure_frames_.push_back(root);
  std::string output;
  out_ = &output;
  auto flow = execute(ast.body, root);
  out_ = nullptr;
  if (!flow) {
    Error error = std::move(flow).error();
    return Error(error.code(), cat("line ", line_, ": ", error.message()));
  }
  return output;
}

Status Renderer::check_recursion() const {
  FERRUM_CHECK(recursion_depth_ <= limits().max_recursion_depth, ErrorCode::kLimitExceeded,
               "template evaluation nests deeper than max_recursion_depth=", limits().max_recursion_depth);
  // The stack grows down; the distance from the render's entry frame is what this render has used.
  const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  const uintptr_t used = stack_base_ > here ? stack_base_ - here : 0;
  FERRUM_CHECK(used <= limits().max_stack_bytes, ErrorCode::kLimitExceeded, "template evaluation at nesting depth ",
               recursion_depth_, " used more than max_stack_bytes=", limits().max_stack_bytes, " of stack");
  return ok();
}

Status Renderer::check_string_size(size_t bytes) const {
  FERRUM_CHECK(bytes <= limits().max_output_bytes, ErrorCode::kLimitExceeded, "a string of ", bytes,
               " bytes exceeds max_output_bytes=", limits().max_output_bytes);
  return ok();
}

Status Renderer::check_sequence_length(size_t count) const {
  FERRUM_CHECK(count <= limits().max_sequence_length, ErrorCode::kLimitExceeded, "a sequence of ", count,
               " items exceeds max_sequence_length=", limits().max_sequence_length);
  return ok();
}

Status Renderer::check_value_depth(const Value& value) const {
  FERRUM_CHECK(value_depth(value) <= kMaxValueDepth, ErrorCode::kLimitExceeded, "a value nested deeper than ",
               kMaxValueDepth, " levels");
  return ok();
}

Status Renderer::charge(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kString: work_ += value.as_string().size(); break;
    case ValueKind::kList: work_ += value.as_list().items.size(); break;
    case ValueKind::kDict: work_ += value.as_dict().size(); break;
    default: work_ += 1; break;
  }
  FERRUM_CHECK(work_ <= limits().max_work, ErrorCode::kLimitExceeded,
               "template did more than max_work=", limits().max_work, " units of work (elements and bytes processed)");
  return ok();
}

void Renderer::adopt(Value value) {
  adopted_.push_back(std::move(value));
}

Status Renderer::emit(std::string_view text) {
  FERRUM_CHECK(out_->size() + text.size() <= limits().max_output_bytes, ErrorCode::kLimitExceeded,
               "rendered output exceeds max_output_bytes=", limits().max_output_bytes);
  out_->append(text);
  return ok();
}

Status Renderer::count_iteration() {
  FERRUM_CHECK(++iterations_ <= limits().max_loop_iterations, ErrorCode::kLimitExceeded,
               "template loops ran more than max_loop_iterations=", limits().max_loop_iterations, " times");
  return ok();
}

Value Renderer::lookup(std::string_view name, const Frame& frame) const {
  if (const Value* value = frame.find(name)) return *value;
  if (const Value* value = globals_.find(name)) return *value;
  return Value::undefined(cat("'", name, "' is undefined"));
}

Expected<Renderer::Flow> Renderer::execute(const Body& body, const FramePtr& frame) {
  for (const StmtPtr& statement : body) {
    FERRUM_ASSIGN_OR_RETURN(Flow flow, execute(*statement, frame));
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Expected<Renderer::Flow> Renderer::execute(const Stmt& statement, const FramePtr& frame) {
  NestingGuard guard(recursion_depth_);
  FERRUM_TRY(check_recursion());
  line_ = statement.line;
  switch (statement.kind) {
    case StmtKind::kText: FERRUM_TRY(emit(static_cast<const TextStmt&>(statement).text)); break;
    case StmtKind::kPrint: {
      FERRUM_ASSIGN_OR_RETURN(Value value, evaluate(*static_cast<const PrintStmt&>(statement).value, frame));
      FERRUM_TRY(emit(to_str(value)));
      break;
    }
    case StmtKind::kIf: return execute_if(static_cast<const IfStmt&>(statement), frame);
    case StmtKind::kFor: {
      const auto& loop = static_cast<const ForStmt&>(statement);
      FERRUM_ASSIGN_OR_RETURN(Value iterable, evaluate(*loop.iterable, frame));
      FERRUM_TRY(execute_for(loop, frame, iterable, 0));
      break;
    }
    case StmtKind::kSet: {
      const auto& set = static_cast<const SetStmt&>(statement);
      FERRUM_ASSIGN_OR_RETURN(Value value, evaluate(*set.value, frame));
      FERRUM_TRY(assign(set.target, value, *frame));
      break;
    }
    case StmtKind::kSetBlock: {
      const auto& set = static_cast<const SetBlockStmt&>(statement);
      FERRUM_ASSIGN_OR_RETURN(auto captured, capture(set.body, std::make_shared<Frame>(frame)));
      Value value = Value::string(std::move(captured.first));
      if (set.filter) {
        FERRUM_ASSIGN_OR_RETURN(value, apply_block_filters(*set.filter, value.as_string(), frame));
      }
      FERRUM_TRY(assign(set.target, value, *frame));
      return captured.second;
    }
    case StmtKind::kMacro: {
      const auto& macro = static_cast<const MacroStmt&>(statement);
      frame->set(macro.macro->name, Value::object(std::make_shared<Macro>(macro.macro, frame)));
      if (closure_frames_.empty() || closure_frames_.back() != frame) closure_frames_.push_back(frame);
      break;
    }
    case StmtKind::kCallBlock:
      FERRUM_TRY(execute_call_block(static_cast<const CallBlockStmt&>(statement), frame));
      break;
    case StmtKind::kFilterBlock: {
      const auto& block = static_cast<const FilterBlockStmt&>(statement);
      FERRUM_ASSIGN_OR_RETURN(auto captured, capture(block.body, std::make_shared<Frame>(frame)));
      FERRUM_ASSIGN_OR_RETURN(Value value, apply_block_filters(*block.filter, std::move(captured.first), frame));
      FERRUM_TRY(emit(to_str(value)));
      return captured.second;
    }
    case StmtKind::kWith: return execute_with(static_cast<const WithStmt&>(statement), frame);
    case StmtKind::kBreak: return Flow::kBreak;
    case StmtKind::kContinue: return Flow::kContinue;
    case StmtKind::kGeneration: return execute(static_cast<const SimpleStmt&>(statement).body, frame);
  }
  return Flow::kNormal;
}

Expected<Renderer::Flow> Renderer::execute_if(const IfStmt& statement, const FramePtr& frame) {
  for (const auto& [condition, body] : statement.branches) {
    FERRUM_ASSIGN_OR_RETURN(Value value, evaluate(*condition, frame));
    if (is_truthy(value)) return execute(body, frame);
  }
  return execute(statement.else_body, frame);
}

Status Renderer::execute_for(const ForStmt& statement, const FramePtr& frame, const Value& iterable, int depth0) {
  line_ = statement.line;
  FERRUM_TRY(charge(iterable));
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(iterable));
  if (statement.filter) {
    // `for x in xs if cond`: filtered before the loop starts, so loop.length counts only kept items.
    std::vector<Value> kept;
    for (Value& item : items) {
      FERRUM_TRY(count_iteration());
      auto scope = std::make_shared<Frame>(frame);
      FERRUM_TRY(assign(statement.target, item, *scope));
      FERRUM_ASSIGN_OR_RETURN(Value keep, evaluate(*statement.filter, scope));
      if (is_truthy(keep)) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    FERRUM_ASSIGN_OR_RETURN(Flow flow, execute(statement.else_body, std::make_shared<Frame>(frame)));
    (void)flow;  // break/continue in a for-else belong to an enclosing loop, which the parser rules out
    return ok();
  }
  auto loop = std::make_shared<LoopInfo>(items, depth0, statement.recursive ? &statement : nullptr, frame);
  const Value loop_value = Value::object(loop);
  for (size_t i = 0; i < items.size(); ++i) {
    FERRUM_TRY(count_iteration());
    loop->set_index(i);
    auto scope = std::make_shared<Frame>(frame);
    FERRUM_TRY(assign(statement.target, items[i], *scope));
    scope->set("loop", loop_value);
    FERRUM_ASSIGN_OR_RETURN(Flow flow, execute(statement.body, scope));
    if (flow == Flow::kBreak) break;
  }
  return ok();
}

Expected<Value> Renderer::render_recursive_loop(const ForStmt& loop, const FramePtr& frame, const Value& iterable,
                                                int depth0) {
  FERRUM_CHECK(macro_depth_ < limits().max_macro_call_depth, ErrorCode::kLimitExceeded,
               "recursive loop nests deeper than max_macro_call_depth=", limits().max_macro_call_depth);
  ++macro_depth_;
  std::string output;
  std::string* saved = std::exchange(out_, &output);
  Status status = execute_for(loop, frame, iterable, depth0);
  out_ = saved;
  --macro_depth_;
  FERRUM_TRY(std::move(status));
  return Value::string(std::move(output));
}

Status Renderer::execute_call_block(const CallBlockStmt& statement, const FramePtr& frame) {
  const auto& call = static_cast<const CallExpr&>(*statement.call);
  FERRUM_ASSIGN_OR_RETURN(Value callee, evaluate(*call.callee, frame));
  FERRUM_ASSIGN_OR_RETURN(CallArgs args, evaluate_arguments(call.args, frame));
  args.keywords.emplace_back("caller", Value::object(std::make_shared<Macro>(statement.caller, frame)));
  line_ = statement.line;
  FERRUM_ASSIGN_OR_RETURN(Value result, this->call(callee, args));
  return emit(to_str(result));
}

Expected<Renderer::Flow> Renderer::execute_with(const WithStmt& statement, const FramePtr& frame) {
  auto scope = std::make_shared<Frame>(frame);
  for (const auto& [target, expr] : statement.assignments) {
    FERRUM_ASSIGN_OR_RETURN(Value value, evaluate(*expr, frame));
    FERRUM_TRY(assign(target, value, *scope));
  }
  return execute(statement.body, scope);
}

Expected<std::pair<std::string, Renderer::Flow>> Renderer::capture(const Body& body, const FramePtr& frame) {
  std::string output;
  std::string* saved = std::exchange(out_, &output);
  auto flow = execute(body, frame);
  out_ = saved;
  if (!flow) return std::move(flow).error();
  return std::make_pair(std::move(output), *flow);
}

Status Renderer::assign(const Target& target, const Value& value, Frame& frame) {
  if (!target.attribute.empty()) {
    const Value holder = lookup(target.name, frame);
    auto* ns = holder.is_object() ? dynamic_cast<Namespace*>(&holder.as_object()) : nullptr;
    FERRUM_CHECK(ns != nullptr, ErrorCode::kInvalidArgument, "cannot assign attribute on non-namespace object '",
                 target.name, "' (", python_type_name(holder), ")");
    ns->set(target.attribute, value);
    return check_value_depth(holder);
  }
  if (!target.is_tuple()) {
    frame.set(target.name, value);
    return ok();
  }
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(value));
  const size_t expected = target.unpack.size();
  FERRUM_CHECK(items.size() <= expected, ErrorCode::kInvalidArgument, "too many values to unpack (expected ", expected,
               ")");
  FERRUM_CHECK(items.size() >= expected, ErrorCode::kInvalidArgument, "not enough values to unpack (expected ",
               expected, ", got ", items.size(), ")");
  for (size_t i = 0; i < expected; ++i) FERRUM_TRY(assign(target.unpack[i], items[i], frame));
  return ok();
}

Expected<Value> Renderer::call_macro(const MacroDefinition& macro, const FramePtr& closure, CallArgs& args) {
  FERRUM_CHECK(macro_depth_ < limits().max_macro_call_depth, ErrorCode::kLimitExceeded, "macro '", macro.name,
               "' called with ", macro_depth_,
               " macro calls already active (max_macro_call_depth=", limits().max_macro_call_depth,
               "): runaway recursion?");
  auto scope = std::make_shared<Frame>(closure);
  const size_t param_count = macro.params.size();
  std::vector<bool> bound(param_count, false);
  for (size_t i = 0; i < args.positional.size() && i < param_count; ++i) {
    scope->set(macro.params[i].name, args.positional[i]);
    bound[i] = true;
  }
  std::vector<Value> extra_positional;
  for (size_t i = param_count; i < args.positional.size(); ++i) extra_positional.push_back(args.positional[i]);
  FERRUM_CHECK(extra_positional.empty() || macro.uses_varargs, ErrorCode::kInvalidArgument, "macro '", macro.name,
               "' takes not more than ", param_count, " argument(s)");
  Dict extra_keywords;
  for (auto& [name, value] : args.keywords) {
    size_t index = 0;
    while (index < param_count && macro.params[index].name != name) ++index;
    if (index < param_count) {
      FERRUM_CHECK(!bound[index], ErrorCode::kInvalidArgument, "macro '", macro.name,
                   "' got multiple values for argument '", name, "'");
      scope->set(name, value);
      bound[index] = true;
    } else if (name == "caller" && macro.uses_caller) {
      scope->set("caller", value);
    } else {
      FERRUM_CHECK(macro.uses_kwargs, ErrorCode::kInvalidArgument, "macro '", macro.name,
                   "' takes no keyword argument '", name, "'");
      extra_keywords.set(Value::string(name), value);
    }
  }
  for (size_t i = 0; i < param_count; ++i) {
    if (bound[i]) continue;
    const MacroParam& param = macro.params[i];
    if (param.default_value) {
      FERRUM_ASSIGN_OR_RETURN(Value value, evaluate(*param.default_value, scope));
      scope->set(param.name, value);
    } else {
      scope->set(param.name, Value::undefined(cat("parameter '", param.name, "' was not provided")));
    }
  }
  if (macro.uses_varargs) scope->set("varargs", Value::tuple(std::move(extra_positional)));
  if (macro.uses_kwargs) scope->set("kwargs", Value::dict(std::move(extra_keywords)));
  ++macro_depth_;
  auto captured = capture(macro.body, scope);
  --macro_depth_;
  if (!captured) return std::move(captured).error();
  return Value::string(std::move(captured->first));
}

Expected<Value> Renderer::call(const Value& callee, CallArgs& args) {
  NestingGuard guard(recursion_depth_);
  FERRUM_TRY(check_recursion());
  if (callee.is_undefined()) return undefined_error(callee);
  FERRUM_CHECK(callee.is_object() && callee.as_object().is_callable(), ErrorCode::kInvalidArgument, "'",
               python_type_name(callee), "' object is not callable");
  for (const Value& arg : args.positional) FERRUM_TRY(charge(arg));
  FERRUM_ASSIGN_OR_RETURN(Value result, callee.as_object().call(*this, args));
  FERRUM_TRY(charge(result));
  return result;
}

// Filters and tests can call each other (map('map', ...)), so they count towards the nesting limits.
Expected<Value> Renderer::apply_filter(std::string_view name, const Value& input, CallArgs& args) {
  NestingGuard guard(recursion_depth_);
  FERRUM_TRY(check_recursion());
  const FilterFunction filter = find_filter(name);
  FERRUM_CHECK(filter != nullptr, ErrorCode::kInvalidArgument, "no filter named '", name, "'");
  FERRUM_TRY(charge(input));
  for (const Value& arg : args.positional) FERRUM_TRY(charge(arg));
  FERRUM_ASSIGN_OR_RETURN(Value result, filter(*this, input, args));
  FERRUM_TRY(charge(result));
  return result;
}

Expected<bool> Renderer::apply_test(std::string_view name, const Value& input, CallArgs& args) {
  NestingGuard guard(recursion_depth_);
  FERRUM_TRY(check_recursion());
  const TestFunction test = find_test(name);
  FERRUM_CHECK(test != nullptr, ErrorCode::kInvalidArgument, "no test named '", name, "'");
  FERRUM_TRY(charge(input));
  for (const Value& arg : args.positional) FERRUM_TRY(charge(arg));
  return test(*this, input, args);
}

}  // namespace ferrum::chat
