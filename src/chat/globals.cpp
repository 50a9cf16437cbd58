#include "chat/globals.h"

#include <chrono>
#include <ctime>

#include "chat/call_args.h"
#include "chat/objects.h"
#include "chat/printing.h"
#include "chat/renderer.h"

namespace ferrum::chat {
namespace {

// Jinja2's sandbox refuses ranges longer than this (MAX_RANGE).
constexpr int64_t kMaxRange = 100000;

Expected<Value> range_function(Renderer&, CallArgs& args) {
  FERRUM_CHECK(args.keywords.empty(), ErrorCode::kInvalidArgument, "range() takes no keyword arguments");
  const size_t count = args.positional.size();
  FERRUM_CHECK(count >= 1 && count <= 3, ErrorCode::kInvalidArgument, "range() takes 1 to 3 arguments, got ", count);
  int64_t bounds[3] = {0, 0, 1};
  for (size_t i = 0; i < count; ++i) {
    FERRUM_ASSIGN_OR_RETURN(bounds[count == 1 ? 1 : i], int_arg("range", "argument", args.positional[i]));
  }
  const auto [start, stop, step] = bounds;
  FERRUM_CHECK(step != 0, ErrorCode::kInvalidArgument, "range() arg 3 must not be zero");
  // Computed in floating point so extreme bounds cannot overflow.
  const double span = (static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step);
  FERRUM_CHECK(span <= static_cast<double>(kMaxRange), ErrorCode::kLimitExceeded,
               "range too big: the sandbox allows at most ", kMaxRange, " items");
  std::vector<Value> items;
  for (int64_t value = start; step > 0 ? value < stop : value > stop; value += step) {
    items.push_back(Value::integer(value));
  }
  return Value::list(std::move(items));
}

Expected<Dict> keyword_dict(const CallArgs& args, std::string_view function) {
  Dict dict;
  FERRUM_CHECK(args.positional.size() <= 1, ErrorCode::kInvalidArgument, function,
               "() takes at most one positional argument");
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    FERRUM_CHECK(source.is_dict(), ErrorCode::kInvalidArgument, function, "() positional argument must be a dict, got ",
                 python_type_name(source));
    for (const auto& [key, value] : source.as_dict().entries()) dict.set(key, value);
  }
  for (const auto& [name, value] : args.keywords) dict.set(Value::string(name), value);
  return dict;
}

Expected<Value> dict_function(Renderer&, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(Dict dict, keyword_dict(args, "dict"));
  return Value::dict(std::move(dict));
}

Expected<Value> namespace_function(Renderer& renderer, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(Dict attributes, keyword_dict(args, "namespace"));
  auto ns = std::make_shared<Namespace>();
  for (const auto& [key, value] : attributes.entries()) {
    FERRUM_CHECK(key.is_string(), ErrorCode::kInvalidArgument, "namespace() attribute names must be strings");
    ns->set(key.as_string(), value);
  }
  Value result = Value::object(std::move(ns));
  FERRUM_TRY(renderer.check_value_depth(result));
  renderer.adopt(result);
  return result;
}

// transformers: raise_exception(message) raises jinja2.TemplateError(message).
Expected<Value> raise_exception_function(Renderer&, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> bound, bind_args("raise_exception", args, {required("message")}));
  return make_error(ErrorCode::kInvalidArgument, to_str(bound[0]));
}

// transformers: strftime_now(format) formats datetime.now().
Expected<Value> strftime_now_function(Renderer& renderer, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> bound, bind_args("strftime_now", args, {required("format")}));
  FERRUM_ASSIGN_OR_RETURN(std::string format, string_arg("strftime_now", "format", bound[0]));
  FERRUM_CHECK(format.size() <= 256, ErrorCode::kInvalidArgument, "strftime_now(): format longer than 256 bytes");
  std::tm now{};
  if (renderer.options().now) {
    now = renderer.options().now();
  } else {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    localtime_r(&seconds, &now);
  }
  if (format.empty()) return Value::string("");
  // strftime returns 0 both for "too small" and for an empty result; a generous buffer settles it.
  std::string buffer(format.size() * 64 + 64, '\0');
  const size_t written = std::strftime(buffer.data(), buffer.size(), format.c_str(), &now);
  buffer.resize(written);
  return Value::string(std::move(buffer));
}

Expected<Value> cycler_function(Renderer& renderer, CallArgs& args) {
  FERRUM_CHECK(args.keywords.empty(), ErrorCode::kInvalidArgument, "cycler() takes no keyword arguments");
  Value result = Value::object(std::make_shared<Cycler>(args.positional));
  FERRUM_TRY(renderer.check_value_depth(result));
  renderer.adopt(result);
  return result;
}

Expected<Value> joiner_function(Renderer&, CallArgs& args) {
  FERRUM_ASSIGN_OR_RETURN(std::vector<Value> bound, bind_args("joiner", args, {{"sep", Value::string(", ")}}));
  return Value::object(std::make_shared<Joiner>(to_str(bound[0])));
}

}  // namespace

Dict make_globals() {
  Dict globals;
  auto add = [&](std::string name, NativeCallable function) {
    globals.set(Value::string(name), make_function(name, std::move(function)));
  };
  add("range", range_function);
  add("dict", dict_function);
  add("namespace", namespace_function);
  add("raise_exception", raise_exception_function);
  add("strftime_now", strftime_now_function);
  add("cycler", cycler_function);
  add("joiner", joiner_function);
  return globals;
}

}  // namespace ferrum::chat
