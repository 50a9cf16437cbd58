#include "chat/call_args.h"

namespace ferrum::chat {

Expected<std::vector<Value>> bind_args(std::string_view function, const CallArgs& args,
                                       std::initializer_list<Param> params) {
  FERRUM_CHECK(args.positional.size() <= params.size(), ErrorCode::kInvalidArgument, function, "() takes at most ",
               params.size(), " argument(s), got ", args.positional.size());
  std::vector<Value> bound(params.size());
  std::vector<bool> given(params.size(), false);
  for (size_t i = 0; i < args.positional.size(); ++i) {
    bound[i] = args.positional[i];
    given[i] = true;
  }
  for (const auto& [name, value] : args.keywords) {
    size_t index = 0;
    for (const Param& param : params) {
      if (param.name == name) break;
      ++index;
    }
    FERRUM_CHECK(index < params.size(), ErrorCode::kInvalidArgument, function,
                 "() got an unexpected keyword argument '", name, "'");
    FERRUM_CHECK(!given[index], ErrorCode::kInvalidArgument, function, "() got multiple values for argument '", name,
                 "'");
    bound[index] = value;
    given[index] = true;
  }
  size_t index = 0;
  for (const Param& param : params) {
    if (!given[index]) {
      FERRUM_CHECK(!param.required, ErrorCode::kInvalidArgument, function, "() missing required argument '", param.name,
                   "'");
      bound[index] = param.default_value;
    }
    ++index;
  }
  return bound;
}

Expected<int64_t> int_arg(std::string_view function, std::string_view param, const Value& value) {
  if (value.is_int() || value.is_bool()) return value.as_integer_like();
  return make_error(ErrorCode::kInvalidArgument, function, "(): '", param, "' must be an integer, got ",
                    python_type_name(value));
}

Expected<std::string> string_arg(std::string_view function, std::string_view param, const Value& value) {
  if (value.is_string()) return value.as_string();
  return make_error(ErrorCode::kInvalidArgument, function, "(): '", param, "' must be a string, got ",
                    python_type_name(value));
}

}  // namespace ferrum::chat
