#include "chat/sequence_filters.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "chat/call_args.h"
#include "chat/objects.h"
#include "chat/operators.h"
#include "chat/printing.h"
#include "chat/python_str.h"
#include "chat/renderer.h"
#include "chat/utf8.h"

namespace ferrum::chat {

Expected<Value> lookup_attribute_path(Renderer& renderer, const Value& item, std::string_view path) {
  Value current = item;
  const bool allow = renderer.options().allow_mutating_methods;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string_view part =
        path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    // Numeric parts index sequences: "items.0".
    const bool numeric = !part.empty() && part.size() < 18 &&
                         std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    const Value key = numeric ? Value::integer(std::stoll(std::string(part))) : Value::string(std::string(part));
    FERRUM_ASSIGN_OR_RETURN(current, get_item(current, key, allow));
    if (dot == std::string_view::npos) return current;
    start = dot + 1;
  }
}

namespace {

// The value an item is sorted, grouped or compared by: an attribute path if given, lower-cased
// strings unless case_sensitive.
Expected<Value> sort_key(Renderer& renderer, const Value& item, const Value& attribute, bool case_sensitive) {
  Value key = item;
  if (!attribute.is_none() && !attribute.is_undefined()) {
    FERRUM_ASSIGN_OR_RETURN(key, lookup_attribute_path(renderer, item, to_str(attribute)));
  }
  if (!case_sensitive && key.is_string()) key = Value::string(py_lower(key.as_string()));
  return key;
}

// A string equal for exactly the hashable values Python's == equates (1, 1.0 and True collide).
std::string hash_key(const Value& value) {
  std::string key;
  if (value.is_number()) {
    const double number = value.as_double();
    if (!value.is_float() || (number == std::floor(number) && std::fabs(number) < 9e15)) {
      key = 'n';
      key += std::to_string(value.is_float() ? static_cast<int64_t>(number) : value.as_integer_like());
    } else {
      key = 'f';
      key += format_float(number);
    }
  } else if (value.is_string()) {
    key = 's';
    key += std::to_string(value.as_string().size());
    key += ':';
    key += value.as_string();
  } else if (value.is_list()) {
    key = "t(";
    for (const Value& item : value.as_list().items) {
      key += hash_key(item);
      key += ',';
    }
    key += ')';
  } else {
    key = value.is_none() ? "N" : "U";
  }
  return key;
}

// Stable sort by precomputed keys; the first comparison error (mixed types) fails the sort.
Status sort_by_keys(std::vector<Value>& items, std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Status failure = ok();
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (!failure) return false;
    auto compared = reverse ? order_values(keys[b], keys[a]) : order_values(keys[a], keys[b]);
    if (!compared) {
      failure = std::move(compared).error();
      return false;
    }
    return *compared < 0;
  });
  FERRUM_TRY(std::move(failure));
  std::vector<Value> sorted;
  sorted.reserve(items.size());
  for (size_t index : order) sorted.push_back(std::move(items[index]));
  items = std::move(sorted);
  return ok();
}

// select / reject / selectattr / rejectattr share this: keep items whose (attribute's) test result
// equals `keep`.
Expected<Value> select_items(Renderer& renderer, const Value& input, CallArgs& args, bool by_attribute, bool keep) {
  std::vector<Value> rest = args.positional;
  Value attribute;
  if (by_attribute) {
    FERRUM_CHECK(!rest.empty(), ErrorCode::kInvalidArgument, "selectattr/rejectattr need an attribute name");
    attribute = rest.front();
    rest.erase(rest.begin());
  }
  std::string test_name;
  if (!rest.empty()) {
    FERRUM_ASSIGN_OR_RETURN(test_name, string_arg("select", "test", rest.front()));
    rest.erase(rest.begin());
  }
  CallArgs test_args{rest, args.keywords};
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  std::vector<Value> selected;
  for (Value& item : items) {
    Value subject = item;
    if (by_attribute) {
      FERRUM_ASSIGN_OR_RETURN(subject, lookup_attribute_path(renderer, item, to_str(attribute)));
    }
    bool passed = is_truthy(subject);
    if (!test_name.empty()) {
      CallArgs call_args = test_args;
      FERRUM_ASSIGN_OR_RETURN(passed, renderer.apply_test(test_name, subject, call_args));
    }
    if (passed == keep) selected.push_back(std::move(item));
  }
  return make_generator(std::move(selected));
}

Expected<Value> min_or_max(Renderer& renderer, const Value& input, CallArgs& args, bool want_max) {
  FERRUM_ASSIGN_OR_RETURN(auto bound,
                          bind_args(want_max ? "max" : "min", args,
                                    {{"case_sensitive", Value::boolean(false)}, {"attribute", Value::none()}}));
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  FERRUM_ASSIGN_OR_RETURN(Value best_key, sort_key(renderer, items[0], bound[1], is_truthy(bound[0])));
  for (size_t i = 1; i < items.size(); ++i) {
    FERRUM_ASSIGN_OR_RETURN(Value key, sort_key(renderer, items[i], bound[1], is_truthy(bound[0])));
    FERRUM_ASSIGN_OR_RETURN(int order, order_values(key, best_key));
    if (want_max ? order > 0 : order < 0) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}

}  // namespace

Expected<Value> filter_batch(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("batch", args, {required("linecount"), {"fill_with", Value::none()}}));
  FERRUM_ASSIGN_OR_RETURN(int64_t size, int_arg("batch", "linecount", bound[0]));
  FERRUM_CHECK(size > 0, ErrorCode::kInvalidArgument, "batch(): linecount must be positive");
  FERRUM_TRY(renderer.check_sequence_length(static_cast<size_t>(size)));
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  std::vector<Value> batches;
  for (size_t start = 0; start < items.size(); start += static_cast<size_t>(size)) {
    const size_t end = std::min(items.size(), start + static_cast<size_t>(size));
    std::vector<Value> batch(items.begin() + static_cast<std::ptrdiff_t>(start),
                             items.begin() + static_cast<std::ptrdiff_t>(end));
    if (!bound[1].is_none()) batch.resize(static_cast<size_t>(size), bound[1]);
    batches.push_back(Value::list(std::move(batch)));
  }
  return make_generator(std::move(batches));
}

Expected<Value> filter_dictsort(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("dictsort", args,
                                                {{"case_sensitive", Value::boolean(false)},
                                                 {"by", Value::string("key")},
                                                 {"reverse", Value::boolean(false)}}));
  FERRUM_CHECK(input.is_dict(), ErrorCode::kInvalidArgument, "dictsort(): expected a dict, got ",
               python_type_name(input));
  const std::string by = to_str(bound[1]);
  FERRUM_CHECK(by == "key" || by == "value", ErrorCode::kInvalidArgument,
               "dictsort(): you can only sort by either 'key' or 'value'");
  std::vector<Value> pairs;
  std::vector<Value> keys;
  for (const auto& [key, value] : input.as_dict().entries()) {
    pairs.push_back(Value::tuple({key, value}));
    FERRUM_ASSIGN_OR_RETURN(Value sort_by,
                            sort_key(renderer, by == "key" ? key : value, Value::none(), is_truthy(bound[0])));
    keys.push_back(std::move(sort_by));
  }
  FERRUM_TRY(sort_by_keys(pairs, keys, is_truthy(bound[2])));
  return Value::list(std::move(pairs));
}

Expected<Value> filter_first(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(bind_args("first", args, {}));
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Expected<Value> filter_items(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(bind_args("items", args, {}));
  if (input.is_undefined()) return make_generator({});
  FERRUM_CHECK(input.is_dict(), ErrorCode::kInvalidArgument, "items(): can only get item pairs from a mapping, got ",
               python_type_name(input));
  std::vector<Value> pairs;
  for (const auto& [key, value] : input.as_dict().entries()) pairs.push_back(Value::tuple({key, value}));
  return make_generator(std::move(pairs));
}

Expected<Value> filter_join(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound,
                          bind_args("join", args, {{"d", Value::string("")}, {"attribute", Value::none()}}));
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  const std::string separator = to_str(bound[0]);
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    Value item = items[i];
    if (!bound[1].is_none()) {
      FERRUM_ASSIGN_OR_RETURN(item, lookup_attribute_path(renderer, item, to_str(bound[1])));
    }
    if (i > 0) out += separator;
    out += to_str(item);
    FERRUM_TRY(renderer.check_string_size(out.size()));
  }
  return Value::string(std::move(out));
}

Expected<Value> filter_last(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(bind_args("last", args, {}));
  FERRUM_CHECK(!input.is_object(), ErrorCode::kInvalidArgument, "'", python_type_name(input),
               "' object is not reversible");
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Expected<Value> filter_length(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(bind_args("length", args, {}));
  FERRUM_ASSIGN_OR_RETURN(int64_t length, length_of(input));
  return Value::integer(length);
}

Expected<Value> filter_list(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(bind_args("list", args, {}));
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  return Value::list(std::move(items));
}

// map('filter', args...) applies a filter to each item; map(attribute='a.b', default=x) looks up an
// attribute path. Like Jinja2 it returns a generator, which tojson cannot serialize.
Expected<Value> filter_map(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  std::vector<Value> mapped;
  mapped.reserve(items.size());
  if (args.positional.empty()) {
    Value attribute;
    Value fallback;
    for (const auto& [name, value] : args.keywords) {
      if (name == "attribute") {
        attribute = value;
      } else if (name == "default") {
        fallback = value;
      } else {
        return make_error(ErrorCode::kInvalidArgument, "map(): unexpected keyword argument '", name, "'");
      }
    }
    FERRUM_CHECK(!attribute.is_undefined(), ErrorCode::kInvalidArgument, "map() needs a filter name or attribute=...");
    for (const Value& item : items) {
      FERRUM_ASSIGN_OR_RETURN(Value value, lookup_attribute_path(renderer, item, to_str(attribute)));
      mapped.push_back(value.is_undefined() && !fallback.is_undefined() ? fallback : value);
    }
    return make_generator(std::move(mapped));
  }
  FERRUM_ASSIGN_OR_RETURN(std::string filter_name, string_arg("map", "filter", args.positional.front()));
  CallArgs filter_args{std::vector<Value>(args.positional.begin() + 1, args.positional.end()), args.keywords};
  for (const Value& item : items) {
    CallArgs call_args = filter_args;
    FERRUM_ASSIGN_OR_RETURN(Value value, renderer.apply_filter(filter_name, item, call_args));
    mapped.push_back(std::move(value));
  }
  return make_generator(std::move(mapped));
}

Expected<Value> filter_max(Renderer& renderer, const Value& input, CallArgs& args) {
  return min_or_max(renderer, input, args, true);
}

Expected<Value> filter_min(Renderer& renderer, const Value& input, CallArgs& args) {
  return min_or_max(renderer, input, args, false);
}

Expected<Value> filter_reject(Renderer& renderer, const Value& input, CallArgs& args) {
  return select_items(renderer, input, args, false, false);
}

Expected<Value> filter_rejectattr(Renderer& renderer, const Value& input, CallArgs& args) {
  return select_items(renderer, input, args, true, false);
}

Expected<Value> filter_select(Renderer& renderer, const Value& input, CallArgs& args) {
  return select_items(renderer, input, args, false, true);
}

Expected<Value> filter_selectattr(Renderer& renderer, const Value& input, CallArgs& args) {
  return select_items(renderer, input, args, true, true);
}

// Strings reverse to strings; lists and dicts give Python's reverse iterators; a generator is read
// into a reversed list (Jinja2's fallback).
Expected<Value> filter_reverse(Renderer&, const Value& input, CallArgs& args) {
  FERRUM_TRY(bind_args("reverse", args, {}));
  if (input.is_string()) {
    std::u32string text = utf8_to_code_points(input.as_string());
    std::reverse(text.begin(), text.end());
    return Value::string(code_points_to_utf8(text));
  }
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  std::reverse(items.begin(), items.end());
  if (input.is_object()) return Value::list(std::move(items));
  return make_generator(std::move(items), input.is_dict() ? "dict_reversekeyiterator" : "list_reverseiterator");
}

Expected<Value> filter_sort(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound, bind_args("sort", args,
                                                {{"reverse", Value::boolean(false)},
                                                 {"case_sensitive", Value::boolean(false)},
                                                 {"attribute", Value::none()}}));
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  std::vector<Value> keys;
  keys.reserve(items.size());
  for (const Value& item : items) {
    FERRUM_ASSIGN_OR_RETURN(Value key, sort_key(renderer, item, bound[2], is_truthy(bound[1])));
    keys.push_back(std::move(key));
  }
  FERRUM_TRY(sort_by_keys(items, keys, is_truthy(bound[0])));
  return Value::list(std::move(items));
}

Expected<Value> filter_sum(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(auto bound,
                          bind_args("sum", args, {{"attribute", Value::none()}, {"start", Value::integer(0)}}));
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  Value total = bound[1];
  for (const Value& item : items) {
    Value addend = item;
    if (!bound[0].is_none()) {
      FERRUM_ASSIGN_OR_RETURN(addend, lookup_attribute_path(renderer, item, to_str(bound[0])));
    }
    FERRUM_ASSIGN_OR_RETURN(total, binary_operation(BinaryOp::kAdd, total, addend, renderer.limits()));
  }
  return total;
}

Expected<Value> filter_unique(Renderer& renderer, const Value& input, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(
      auto bound, bind_args("unique", args, {{"case_sensitive", Value::boolean(false)}, {"attribute", Value::none()}}));
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(input));
  std::unordered_set<std::string> seen;
  std::vector<Value> unique;
  for (const Value& item : items) {
    FERRUM_ASSIGN_OR_RETURN(Value key, sort_key(renderer, item, bound[1], is_truthy(bound[0])));
    FERRUM_CHECK(is_hashable(key), ErrorCode::kInvalidArgument, "unhashable type: '", python_type_name(key), "'");
    if (seen.insert(hash_key(key)).second) unique.push_back(item);
  }
  return make_generator(std::move(unique));
}

}  // namespace ferrum::chat
