#include "chat/macro_and_loop.h"

#include "chat/objects.h"

namespace ferrum::chat {

Value Macro::attribute(std::string_view name) const {
  if (name == "name") return Value::string(definition_->name);
  if (name == "arguments") {
    std::vector<Value> names;
    for (const MacroParam& param : definition_->params) names.push_back(Value::string(param.name));
    return Value::tuple(std::move(names));
  }
  if (name == "catch_varargs") return Value::boolean(definition_->uses_varargs);
  if (name == "catch_kwargs") return Value::boolean(definition_->uses_kwargs);
  if (name == "caller") return Value::boolean(definition_->uses_caller);
  return Object::attribute(name);
}

Expected<Value> Macro::call(Renderer& renderer, CallArgs& args) {
  FERRUM_CHECK(closure_ != nullptr, ErrorCode::kInternal, "macro '", definition_->name, "' called after its render");
  return renderer.call_macro(*definition_, closure_, args);
}

LoopInfo::LoopInfo(std::vector<Value> items, int depth0, const ForStmt* recursive_loop, std::shared_ptr<Frame> frame)
    : items_(std::move(items)), depth0_(depth0), recursive_loop_(recursive_loop), frame_(std::move(frame)) {}

std::string LoopInfo::repr() const {
  return cat("<LoopContext ", index_ + 1, "/", items_.size(), ">");
}

Value LoopInfo::attribute(std::string_view name) const {
  const auto length = static_cast<int64_t>(items_.size());
  const auto index0 = static_cast<int64_t>(index_);
  if (name == "index") return Value::integer(index0 + 1);
  if (name == "index0") return Value::integer(index0);
  if (name == "revindex") return Value::integer(length - index0);
  if (name == "revindex0") return Value::integer(length - index0 - 1);
  if (name == "first") return Value::boolean(index0 == 0);
  if (name == "last") return Value::boolean(index0 + 1 == length);
  if (name == "length") return Value::integer(length);
  if (name == "depth") return Value::integer(depth0_ + 1);
  if (name == "depth0") return Value::integer(depth0_);
  if (name == "previtem") {
    if (index_ == 0) return Value::undefined("there is no previous item");
    return items_[index_ - 1];
  }
  if (name == "nextitem") {
    if (index_ + 1 >= items_.size()) return Value::undefined("there is no next item");
    return items_[index_ + 1];
  }
  if (name == "cycle") {
    return make_function("cycle", [index0](Renderer&, CallArgs& args) -> Expected<Value> {
      FERRUM_CHECK(!args.positional.empty(), ErrorCode::kInvalidArgument, "loop.cycle() needs at least one item");
      return args.positional[static_cast<size_t>(index0) % args.positional.size()];
    });
  }
  if (name == "changed") {
    std::shared_ptr<ChangedState> state = changed_;
    return make_function("changed", [state](Renderer&, CallArgs& args) -> Expected<Value> {
      const std::vector<Value>& values = args.positional;
      bool same = state->has_last && state->last.size() == values.size();
      for (size_t i = 0; same && i < values.size(); ++i) same = values_equal(values[i], state->last[i]);
      state->has_last = true;
      state->last = values;
      return Value::boolean(!same);
    });
  }
  return Object::attribute(name);
}

Expected<Value> LoopInfo::call(Renderer& renderer, CallArgs& args) {
  FERRUM_CHECK(recursive_loop_ != nullptr, ErrorCode::kInvalidArgument,
               "loop() can only be called in a loop marked 'recursive'");
  FERRUM_CHECK(args.positional.size() == 1 && args.keywords.empty(), ErrorCode::kInvalidArgument,
               "loop() takes exactly one iterable");
  FERRUM_CHECK(frame_ != nullptr, ErrorCode::kInternal, "loop() called after its render");
  return renderer.render_recursive_loop(*recursive_loop_, frame_, args.positional[0], depth0_ + 1);
}

void LoopInfo::release_references() {
  items_.clear();
  frame_.reset();
  changed_->last.clear();
}

}  // namespace ferrum::chat
