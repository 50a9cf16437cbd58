#include "chat/value.h"

#include <algorithm>

namespace ferrum::chat {
namespace {

// Comparisons stop descending here; deeper values are rejected when built (see value_depth).
constexpr int kMaxCompareDepth = 2 * kMaxValueDepth;

bool equal_at_depth(const Value& a, const Value& b, int depth);

bool lists_equal(const List& a, const List& b, int depth) {
  if (a.is_tuple != b.is_tuple || a.items.size() != b.items.size()) return false;
  for (size_t i = 0; i < a.items.size(); ++i) {
    if (!equal_at_depth(a.items[i], b.items[i], depth + 1)) return false;
  }
  return true;
}

bool dicts_equal(const Dict& a, const Dict& b, int depth) {
  if (a.size() != b.size()) return false;
  for (const auto& [key, value] : a.entries()) {
    const Value* other = b.find(key);
    if (other == nullptr || !equal_at_depth(value, *other, depth + 1)) return false;
  }
  return true;
}

bool equal_at_depth(const Value& a, const Value& b, int depth) {
  if (depth > kMaxCompareDepth) return false;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_integer_like() == b.as_integer_like();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone: return true;
    case ValueKind::kString: return a.as_string() == b.as_string();
    case ValueKind::kList: return lists_equal(a.as_list(), b.as_list(), depth);
    case ValueKind::kDict: return dicts_equal(a.as_dict(), b.as_dict(), depth);
    case ValueKind::kObject: return a.identity() == b.identity();
    default: return false;
  }
}

}  // namespace

Value Value::undefined(std::string hint) {
  Value value;
  if (!hint.empty()) value.ref_ = std::make_shared<std::string>(std::move(hint));
  return value;
}

Value Value::none() {
  Value value;
  value.kind_ = ValueKind::kNone;
  return value;
}

Value Value::boolean(bool b) {
  Value value;
  value.kind_ = ValueKind::kBool;
  value.scalar_.boolean = b;
  return value;
}

Value Value::integer(int64_t i) {
  Value value;
  value.kind_ = ValueKind::kInt;
  value.scalar_.integer = i;
  return value;
}

Value Value::number(double d) {
  Value value;
  value.kind_ = ValueKind::kFloat;
  value.scalar_.number = d;
  return value;
}

Value Value::string(std::string s) {
  Value value;
  value.kind_ = ValueKind::kString;
  value.ref_ = std::make_shared<std::string>(std::move(s));
  return value;
}

namespace {

int items_depth(const std::vector<Value>& items) {
  int deepest = 0;
  for (const Value& item : items) deepest = std::max(deepest, value_depth(item));
  return deepest + 1;
}

}  // namespace

Value Value::list(std::vector<Value> items) {
  auto list = std::make_shared<List>();
  list->depth = items_depth(items);
  list->items = std::move(items);
  Value value;
  value.kind_ = ValueKind::kList;
  value.ref_ = std::move(list);
  return value;
}

Value Value::tuple(std::vector<Value> items) {
  Value value = list(std::move(items));
  value.mutable_list().is_tuple = true;
  return value;
}

Value Value::dict(Dict dict) {
  Value value;
  value.kind_ = ValueKind::kDict;
  value.ref_ = std::make_shared<Dict>(std::move(dict));
  return value;
}

Value Value::object(std::shared_ptr<Object> object) {
  Value value;
  value.kind_ = ValueKind::kObject;
  value.ref_ = std::move(object);
  return value;
}

bool Value::is_tuple() const {
  return is_list() && as_list().is_tuple;
}

double Value::as_double() const {
  if (is_float()) return as_float();
  return static_cast<double>(as_integer_like());
}

const std::string& Value::undefined_hint() const {
  static const std::string kNoHint;
  return is_undefined() && ref_ ? *static_cast<const std::string*>(ref_.get()) : kNoHint;
}

int value_depth(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kList: return value.as_list().depth;
    case ValueKind::kDict: return value.as_dict().depth();
    case ValueKind::kObject: return value.as_object().depth();
    default: return 0;
  }
}

const Value* Dict::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.as_string()));
  for (const auto& entry : entries_) {
    if (values_equal(entry.first, key)) return &entry.second;
  }
  return nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& entry : entries_) {
    if (entry.first.is_string() && entry.first.as_string() == key) return &entry.second;
  }
  return nullptr;
}

void Dict::set(Value key, Value value) {
  depth_ = std::max(depth_, value_depth(value) + 1);
  for (auto& entry : entries_) {
    if (values_equal(entry.first, key)) {
      entry.second = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

bool Dict::erase(const Value& key) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return values_equal(e.first, key); });
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

std::string Object::repr() const {
  return cat("<", type_name(), " object>");
}

Value Object::attribute(std::string_view name) const {
  return Value::undefined(cat("'", type_name(), " object' has no attribute '", name, "'"));
}

Expected<Value> Object::call(Renderer&, CallArgs&) {
  return make_error(ErrorCode::kInvalidArgument, "'", type_name(), "' object is not callable");
}

Expected<std::vector<Value>> Object::iterate() {
  return make_error(ErrorCode::kInvalidArgument, "'", type_name(), "' object is not iterable");
}

bool is_truthy(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone: return false;
    case ValueKind::kBool: return value.as_bool();
    case ValueKind::kInt: return value.as_int() != 0;
    case ValueKind::kFloat: return value.as_float() != 0.0;
    case ValueKind::kString: return !value.as_string().empty();
    case ValueKind::kList: return !value.as_list().items.empty();
    case ValueKind::kDict: return !value.as_dict().empty();
    case ValueKind::kObject: return true;
  }
  return false;
}

bool values_equal(const Value& a, const Value& b) {
  return equal_at_depth(a, b, 0);
}

std::string_view python_type_name(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kUndefined: return "Undefined";
    case ValueKind::kNone: return "NoneType";
    case ValueKind::kBool: return "bool";
    case ValueKind::kInt: return "int";
    case ValueKind::kFloat: return "float";
    case ValueKind::kString: return "str";
    case ValueKind::kList: return value.is_tuple() ? "tuple" : "list";
    case ValueKind::kDict: return "dict";
    case ValueKind::kObject: return value.as_object().type_name();
  }
  return "object";
}

bool is_hashable(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kList:
      if (!value.is_tuple()) return false;
      return std::all_of(value.as_list().items.begin(), value.as_list().items.end(), is_hashable);
    case ValueKind::kDict: return false;
    default: return true;
  }
}

}  // namespace ferrum::chat
