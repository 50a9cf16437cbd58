// The non-data objects templates see: namespace(), builtin functions and bound methods, the one-shot
// iterators that map/select/reverse return, cycler() and joiner().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chat/value.h"

namespace ferrum::chat {

// namespace(a=1): the one mutable object in a sandboxed template ({% set ns.a = 2 %}).
class Namespace : public Object {
 public:
  std::string_view type_name() const override { return "Namespace"; }
  std::string repr() const override;
  Value attribute(std::string_view name) const override;
  int depth() const override { return attributes_.depth(); }
  void release_references() override { attributes_.clear(); }
  void set(std::string name, Value value) { attributes_.set(Value::string(std::move(name)), std::move(value)); }

 private:
  Dict attributes_;
};

using NativeCallable = std::function<Expected<Value>(Renderer&, CallArgs&)>;

// A builtin function or a bound method ('abc'.upper).
class NativeFunction : public Object {
 public:
  NativeFunction(std::string name, NativeCallable callable) : name_(std::move(name)), callable_(std::move(callable)) {}
  std::string_view type_name() const override { return "builtin_function_or_method"; }
  std::string repr() const override { return "<built-in function " + name_ + ">"; }
  bool is_callable() const override { return true; }
  Expected<Value> call(Renderer& renderer, CallArgs& args) override { return callable_(renderer, args); }

 private:
  std::string name_;
  NativeCallable callable_;
};

Value make_function(std::string name, NativeCallable callable);

// Python iterators (generator objects, list_reverseiterator): iterable once, with no len(), no
// indexing and not JSON serializable. `x|map(...)|tojson` fails in transformers for this reason.
class OneShotIterator : public Object {
 public:
  OneShotIterator(std::string type_name, std::vector<Value> items);
  std::string_view type_name() const override { return type_name_; }
  std::string repr() const override { return "<" + type_name_ + " object>"; }
  bool is_iterable() const override { return true; }
  Expected<std::vector<Value>> iterate() override;
  int depth() const override { return depth_; }
  void release_references() override { items_.clear(); }

 private:
  std::string type_name_;
  std::vector<Value> items_;
  int depth_ = 1;
};

Value make_generator(std::vector<Value> items, std::string type_name = "generator");

// cycler('a', 'b'): .next() returns the items in turn, .current the upcoming one, .reset() restarts.
class Cycler : public Object {
 public:
  explicit Cycler(std::vector<Value> items);
  std::string_view type_name() const override { return "Cycler"; }
  Value attribute(std::string_view name) const override;
  int depth() const override;
  void release_references() override { state_->items.clear(); }

 private:
  struct State {
    std::vector<Value> items;
    size_t position = 0;
  };
  std::shared_ptr<State> state_;
};

// joiner(', '): returns '' on the first call and the separator afterwards.
class Joiner : public Object {
 public:
  explicit Joiner(std::string separator) : separator_(std::move(separator)) {}
  std::string_view type_name() const override { return "Joiner"; }
  bool is_callable() const override { return true; }
  Expected<Value> call(Renderer& renderer, CallArgs& args) override;

 private:
  std::string separator_;
  bool used_ = false;
};

}  // namespace ferrum::chat
