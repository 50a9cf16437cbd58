#include "chat/json_value.h"

#include <limits>

namespace ferrum::chat {
namespace {

template <class Json>
Expected<Value> convert(const Json& json, int depth) {
  FERRUM_CHECK(depth <= kMaxValueDepth, ErrorCode::kLimitExceeded, "chat template context nests deeper than ",
               kMaxValueDepth, " levels");
  switch (json.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value::boolean(json.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::integer(json.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto value = json.template get<uint64_t>();
      FERRUM_CHECK(value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), ErrorCode::kUnsupported,
                   "integer ", value, " in the chat template context does not fit 64-bit signed");
      return Value::integer(static_cast<int64_t>(value));
    }
    case nlohmann::json::value_t::number_float: return Value::number(json.template get<double>());
    case nlohmann::json::value_t::string: return Value::string(json.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& element : json) {
        FERRUM_ASSIGN_OR_RETURN(Value item, convert(element, depth + 1));
        items.push_back(std::move(item));
      }
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Dict dict;
      dict.reserve(json.size());
      for (const auto& [key, element] : json.items()) {
        FERRUM_ASSIGN_OR_RETURN(Value item, convert(element, depth + 1));
        dict.set(Value::string(key), std::move(item));
      }
      return Value::dict(std::move(dict));
    }
    default:
      return make_error(ErrorCode::kInvalidArgument, "chat template context holds an unsupported JSON value (",
                        json.type_name(), ")");
  }
}

}  // namespace

Expected<Value> value_from_json(const nlohmann::ordered_json& json) {
  return convert(json, 0);
}

Expected<Value> value_from_json(const nlohmann::json& json) {
  return convert(json, 0);
}

}  // namespace ferrum::chat
