// Walks a parsed template and produces its output. One Renderer serves one render call: it holds the
// output buffer, the scopes, the counters behind the limits, and the objects to free at the end.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/ast.h"
#include "chat/render_options.h"
#include "chat/value.h"
#include "core/error.h"

namespace ferrum::chat {

// A scope. Jinja2 gives each loop iteration, macro call, {% with %} and {% filter %} block its own
// scope; {% if %} does not. Lookup walks to the parents, assignment always writes here.
struct Frame {
  explicit Frame(std::shared_ptr<Frame> parent_frame) : parent(std::move(parent_frame)) {}
  const Value* find(std::string_view name) const;
  void set(std::string_view name, Value value);

  std::shared_ptr<Frame> parent;
  std::vector<std::pair<std::string, Value>> variables;  // few per scope: a scan beats hashing
};

class Renderer {
 public:
  explicit Renderer(const RenderOptions& options);
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // Renders `ast` with `context` as its variables. Runtime errors name the template line.
  Expected<std::string> render(const TemplateAst& ast, const Dict& context);

  // ---- services for filters, tests, methods and global functions ----
  const RenderOptions& options() const { return options_; }
  const RenderLimits& limits() const { return options_.limits; }
  Status check_string_size(size_t bytes) const;
  Status check_sequence_length(size_t count) const;
  Status check_value_depth(const Value& value) const;
  // Adds the size of a value (string bytes, list or dict entries) to the render's work, against
  // limits().max_work.
  Status charge(const Value& value);
  // Keeps a mutable value (namespace, list appended to) until the render ends, then empties it, so
  // reference cycles such as a namespace holding itself are freed.
  void adopt(Value value);
  Expected<Value> call(const Value& callee, CallArgs& args);
  Expected<Value> apply_filter(std::string_view name, const Value& input, CallArgs& args);
  Expected<bool> apply_test(std::string_view name, const Value& input, CallArgs& args);

  // ---- for macro and loop objects ----
  Expected<Value> call_macro(const MacroDefinition& macro, const std::shared_ptr<Frame>& closure, CallArgs& args);
  // `loop(children)` in a recursive for loop: renders the loop body again over `iterable`.
  Expected<Value> render_recursive_loop(const ForStmt& loop, const std::shared_ptr<Frame>& frame, const Value& iterable,
                                        int depth0);

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  using FramePtr = std::shared_ptr<Frame>;

  // Counts nesting of evaluation against limits().max_recursion_depth.
  class NestingGuard {
   public:
    explicit NestingGuard(int& depth) : depth_(++depth) {}
    ~NestingGuard() { --depth_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;

   private:
    int& depth_;
  };
  Status check_recursion() const;

  // Statements (renderer.cpp).
  Expected<Flow> execute(const Body& body, const FramePtr& frame);
  Expected<Flow> execute(const Stmt& statement, const FramePtr& frame);
  Expected<Flow> execute_if(const IfStmt& statement, const FramePtr& frame);
  Status execute_for(const ForStmt& statement, const FramePtr& frame, const Value& iterable, int depth0);
  Status execute_call_block(const CallBlockStmt& statement, const FramePtr& frame);
  Expected<Flow> execute_with(const WithStmt& statement, const FramePtr& frame);
  // Renders `body` into a string instead of the output (macros, {% set %} and {% filter %} blocks).
  Expected<std::pair<std::string, Flow>> capture(const Body& body, const FramePtr& frame);
  Status assign(const Target& target, const Value& value, Frame& frame);
  Status emit(std::string_view text);
  Status count_iteration();
  Value lookup(std::string_view name, const Frame& frame) const;

  // Expressions (evaluate.cpp).
  Expected<Value> evaluate(const Expr& expr, const FramePtr& frame);
  Expected<Value> evaluate_sequence(const SequenceExpr& expr, const FramePtr& frame);
  Expected<Value> evaluate_dict(const DictExpr& expr, const FramePtr& frame);
  Expected<Value> evaluate_binary(const BinaryExpr& expr, const FramePtr& frame);
  Expected<Value> evaluate_compare(const CompareExpr& expr, const FramePtr& frame);
  Expected<Value> evaluate_slice(const SliceExpr& expr, const FramePtr& frame);
  Expected<Value> evaluate_filter(const FilterExpr& expr, const FramePtr& frame);
  Expected<Value> evaluate_test(const TestExpr& expr, const FramePtr& frame);
  Expected<CallArgs> evaluate_arguments(const CallArguments& arguments, const FramePtr& frame);
  // A filter chain applied to the output of a {% filter %} or {% set x | f %} block.
  Expected<Value> apply_block_filters(const Expr& chain, std::string block_output, const FramePtr& frame);

  const RenderOptions& options_;
  Dict globals_;
  std::string* out_ = nullptr;
  const Value* block_input_ = nullptr;  // the block output a filter chain with no operand reads
  uint64_t iterations_ = 0;
  uint64_t work_ = 0;
  int recursion_depth_ = 0;
  int macro_depth_ = 0;
  int line_ = 0;              // line of the node being run: runtime errors report it
  uintptr_t stack_base_ = 0;  // frame address at render(), for the stack budget
  std::vector<Value> adopted_;
  std::vector<FramePtr> closure_frames_;  // scopes captured by macros (a scope holding its own macro is a cycle)
};

}  // namespace ferrum::chat
