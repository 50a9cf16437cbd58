#include "chat/objects.h"

#include <algorithm>

#include "chat/printing.h"

namespace ferrum::chat {

std::string Namespace::repr() const {
  return "<Namespace " + to_repr(Value::dict(attributes_)) + ">";
}

Value Namespace::attribute(std::string_view name) const {
  if (const Value* value = attributes_.find(name)) return *value;
  return Value::undefined(cat("'Namespace object' has no attribute '", name, "'"));
}

Value make_function(std::string name, NativeCallable callable) {
  return Value::object(std::make_shared<NativeFunction>(std::move(name), std::move(callable)));
}

OneShotIterator::OneShotIterator(std::string type_name, std::vector<Value> items)
    : type_name_(std::move(type_name)), items_(std::move(items)) {
  for (const Value& item : items_) depth_ = std::max(depth_, value_depth(item) + 1);
}

Expected<std::vector<Value>> OneShotIterator::iterate() {
  return std::exchange(items_, {});
}

Value make_generator(std::vector<Value> items, std::string type_name) {
  return Value::object(std::make_shared<OneShotIterator>(std::move(type_name), std::move(items)));
}

Cycler::Cycler(std::vector<Value> items) : state_(std::make_shared<State>()) {
  state_->items = std::move(items);
}

int Cycler::depth() const {
  int deepest = 0;
  for (const Value& item : state_->items) deepest = std::max(deepest, value_depth(item));
  return deepest + 1;
}

Value Cycler::attribute(std::string_view name) const {
  std::shared_ptr<State> state = state_;
  if (name == "current") {
    return state->items.empty() ? Value::none() : state->items[state->position];
  }
  if (name == "next") {
    return make_function("next", [state](Renderer&, CallArgs& args) -> Expected<Value> {
      FERRUM_CHECK(args.positional.empty() && args.keywords.empty(), ErrorCode::kInvalidArgument,
                   "cycler.next() takes no arguments");
      FERRUM_CHECK(!state->items.empty(), ErrorCode::kInvalidArgument, "cycler.next() on an empty cycler");
      Value item = state->items[state->position];
      state->position = (state->position + 1) % state->items.size();
      return item;
    });
  }
  if (name == "reset") {
    return make_function("reset", [state](Renderer&, CallArgs&) -> Expected<Value> {
      state->position = 0;
      return Value::none();
    });
  }
  return Object::attribute(name);
}

Expected<Value> Joiner::call(Renderer&, CallArgs& args) {
  FERRUM_CHECK(args.positional.empty() && args.keywords.empty(), ErrorCode::kInvalidArgument,
               "joiner() takes no arguments");
  if (!used_) {
    used_ = true;
    return Value::string("");
  }
  return Value::string(separator_);
}

}  // namespace ferrum::chat
