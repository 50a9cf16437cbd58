// The callables a template defines for itself: macros (and the caller of a {% call %} block), and
// the `loop` object of a for loop.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chat/ast.h"
#include "chat/renderer.h"
#include "chat/value.h"

namespace ferrum::chat {

class Macro : public Object {
 public:
  // `closure` is the scope the macro was defined in: the body sees its variables at call time.
  Macro(std::shared_ptr<const MacroDefinition> definition, std::shared_ptr<Frame> closure)
      : definition_(std::move(definition)), closure_(std::move(closure)) {}
  std::string_view type_name() const override { return "Macro"; }
  std::string repr() const override { return "<Macro '" + definition_->name + "'>"; }
  Value attribute(std::string_view name) const override;
  bool is_callable() const override { return true; }
  Expected<Value> call(Renderer& renderer, CallArgs& args) override;
  void release_references() override { closure_.reset(); }

 private:
  std::shared_ptr<const MacroDefinition> definition_;
  std::shared_ptr<Frame> closure_;
};

// loop.index, loop.first, loop.previtem, loop.cycle(...), and loop(children) in recursive loops.
class LoopInfo : public Object {
 public:
  LoopInfo(std::vector<Value> items, int depth0, const ForStmt* recursive_loop, std::shared_ptr<Frame> frame);
  void set_index(size_t index) { index_ = index; }
  std::string_view type_name() const override { return "LoopContext"; }
  std::string repr() const override;
  Value attribute(std::string_view name) const override;
  bool is_callable() const override { return recursive_loop_ != nullptr; }
  Expected<Value> call(Renderer& renderer, CallArgs& args) override;
  void release_references() override;

 private:
  struct ChangedState {
    bool has_last = false;
    std::vector<Value> last;
  };
  std::vector<Value> items_;
  size_t index_ = 0;
  int depth0_ = 0;
  const ForStmt* recursive_loop_;
  std::shared_ptr<Frame> frame_;
  std::shared_ptr<ChangedState> changed_ = std::make_shared<ChangedState>();
};

}  // namespace ferrum::chat
