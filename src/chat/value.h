// The values a chat template computes with: Python's data model as Jinja2 sees it.
// Scalars are held inline; strings, lists, dicts and objects are shared, so copying a Value is cheap and
// lists behave like Python references (a namespace attribute and a variable can name the same list).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace ferrum::chat {

class Object;
class Renderer;
struct List;
class Dict;

enum class ValueKind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kObject };

class Value {
 public:
  // A default Value is Jinja2's Undefined: prints as "", is falsy, iterates as empty.
  Value() = default;
  // `hint` says why, for the error raised when the undefined value is used in a way that needs a value:
  // "'foo' is undefined", "'dict object' has no attribute 'x'".
  static Value undefined(std::string hint);
  static Value none();
  static Value boolean(bool value);
  static Value integer(int64_t value);
  static Value number(double value);
  static Value string(std::string value);
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  static Value dict(Dict dict);
  static Value object(std::shared_ptr<Object> object);

  ValueKind kind() const { return kind_; }
  bool is_undefined() const { return kind() == ValueKind::kUndefined; }
  bool is_none() const { return kind() == ValueKind::kNone; }
  bool is_bool() const { return kind() == ValueKind::kBool; }
  bool is_int() const { return kind() == ValueKind::kInt; }
  bool is_float() const { return kind() == ValueKind::kFloat; }
  // Python's numbers.Number: bool is an int subclass.
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  bool is_string() const { return kind() == ValueKind::kString; }
  bool is_list() const { return kind() == ValueKind::kList; }  // lists and tuples
  bool is_tuple() const;
  bool is_dict() const { return kind() == ValueKind::kDict; }
  bool is_object() const { return kind() == ValueKind::kObject; }

  bool as_bool() const { return scalar_.boolean; }
  int64_t as_int() const { return scalar_.integer; }
  double as_float() const { return scalar_.number; }
  // Integer value of a bool or int.
  int64_t as_integer_like() const { return is_bool() ? (as_bool() ? 1 : 0) : as_int(); }
  // Float value of a bool, int or float.
  double as_double() const;
  const std::string& as_string() const { return *static_cast<const std::string*>(ref_.get()); }
  const List& as_list() const { return *static_cast<const List*>(ref_.get()); }
  List& mutable_list() const { return *static_cast<List*>(ref_.get()); }
  const Dict& as_dict() const { return *static_cast<const Dict*>(ref_.get()); }
  Dict& mutable_dict() const { return *static_cast<Dict*>(ref_.get()); }
  Object& as_object() const { return *static_cast<Object*>(ref_.get()); }
  // Identity for `is sameas` and object equality; null for scalars.
  const void* identity() const { return kind() >= ValueKind::kString ? ref_.get() : nullptr; }
  const std::string& undefined_hint() const;

 private:
  // A tag, the scalar payload, and one owning pointer for everything on the heap (the text of a
  // string or of an Undefined's hint, a List, Dict or Object). Copies share the heap part.
  ValueKind kind_ = ValueKind::kUndefined;
  union Scalar {
    bool boolean;
    int64_t integer;
    double number;
  } scalar_{.integer = 0};
  std::shared_ptr<void> ref_;
};

// Nesting depth of containers: 0 for scalars. The renderer rejects values nested deeper than
// kMaxValueDepth, so printing, comparing and freeing values cannot exhaust the stack.
int value_depth(const Value& value);
inline constexpr int kMaxValueDepth = 256;

struct List {
  std::vector<Value> items;
  bool is_tuple = false;
  int depth = 1;
};

// A dict that keeps insertion order, like Python's. Lookup is linear: template dicts are small
// (messages, tool schemas) and a scan beats hashing at that size.
class Dict {
 public:
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Replaces the value in place when the key exists (Python keeps the first insertion position).
  void set(Value key, Value value);
  bool erase(const Value& key);
  void clear() { entries_.clear(); }
  void reserve(size_t count) { entries_.reserve(count); }
  int depth() const { return depth_; }

 private:
  std::vector<std::pair<Value, Value>> entries_;
  int depth_ = 1;
};

// Arguments of a call: f(1, 2, key=value).
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

// Callables, namespaces, loop objects, generators: anything that is not plain data.
class Object {
 public:
  virtual ~Object() = default;
  // Python's type name, used in messages ("'generator' object is not callable").
  virtual std::string_view type_name() const = 0;
  virtual std::string repr() const;
  // `obj.name`; Undefined when the object has no such attribute.
  virtual Value attribute(std::string_view name) const;
  virtual bool is_callable() const { return false; }
  virtual Expected<Value> call(Renderer& renderer, CallArgs& args);
  // Single-pass iterables (generators) return their items once, then nothing, like Python.
  virtual bool is_iterable() const { return false; }
  virtual Expected<std::vector<Value>> iterate();
  virtual int depth() const { return 1; }
  // Drops every Value the object holds; run at the end of a render to break reference cycles.
  virtual void release_references() {}
};

// Python truthiness.
bool is_truthy(const Value& value);
// Python ==: 1 == 1.0 == True, lists compare elementwise, dicts ignore order, objects by identity.
bool values_equal(const Value& a, const Value& b);
// Python's type name: 'NoneType', 'int', 'str', 'dict', ...
std::string_view python_type_name(const Value& value);
// True when the value may be a dict key (Python hashables: scalars and tuples of hashables).
bool is_hashable(const Value& value);

}  // namespace ferrum::chat
