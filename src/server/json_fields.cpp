#include "server/json_fields.h"

#include <cmath>

namespace ferrum::server {
namespace {

std::string format_bound(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) return std::to_string(static_cast<int64_t>(value));
  std::string text = std::to_string(value);
  while (text.back() == '0') text.pop_back();
  return text;
}

}  // namespace

ApiResult<Json> parse_json_object(std::string_view body) {
  Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return invalid_request("the request body is not valid JSON");
  if (!parsed.is_object()) return invalid_request("the request body must be a JSON object");
  return parsed;
}

std::string dump_json(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool FieldReader::has(const char* key) const {
  return any(key) != nullptr;
}

const Json* FieldReader::any(const char* key) const {
  const auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> FieldReader::number(const char* key, double min, double max) {
  const Json* value = any(key);
  if (error_ || !value) return std::nullopt;
  if (!value->is_number() || !std::isfinite(value->get<double>()) || value->get<double>() < min ||
      value->get<double>() > max) {
    fail(invalid_request(
        cat("'", name(key), "' must be a number in [", format_bound(min), ", ", format_bound(max), "]"), name(key)));
    return std::nullopt;
  }
  return value->get<double>();
}

std::optional<int64_t> FieldReader::integer(const char* key, int64_t min, int64_t max) {
  const Json* value = any(key);
  if (error_ || !value) return std::nullopt;
  // Whole floats (2.0) pass, as Python's clients may send them.
  const bool whole_float = value->is_number_float() && std::isfinite(value->get<double>()) &&
                           value->get<double>() == std::floor(value->get<double>()) &&
                           std::fabs(value->get<double>()) < 9e18;
  if (!value->is_number_integer() && !whole_float) {
    fail(invalid_request(cat("'", name(key), "' must be an integer"), name(key)));
    return std::nullopt;
  }
  int64_t result = 0;
  if (whole_float) {
    result = static_cast<int64_t>(value->get<double>());
  } else if (value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    result = INT64_MAX;
  } else {
    result = value->get<int64_t>();
  }
  if (result < min || result > max) {
    fail(invalid_request(cat("'", name(key), "' must be an integer in [", min, ", ", max, "]"), name(key)));
    return std::nullopt;
  }
  return result;
}

std::optional<bool> FieldReader::boolean(const char* key) {
  const Json* value = any(key);
  if (error_ || !value) return std::nullopt;
  if (!value->is_boolean()) {
    fail(invalid_request(cat("'", name(key), "' must be a boolean"), name(key)));
    return std::nullopt;
  }
  return value->get<bool>();
}

std::optional<std::string> FieldReader::string(const char* key) {
  const Json* value = any(key);
  if (error_ || !value) return std::nullopt;
  if (!value->is_string()) {
    fail(invalid_request(cat("'", name(key), "' must be a string"), name(key)));
    return std::nullopt;
  }
  return value->get<std::string>();
}

const Json* FieldReader::object(const char* key) {
  const Json* value = any(key);
  if (error_ || !value) return nullptr;
  if (!value->is_object()) {
    fail(invalid_request(cat("'", name(key), "' must be an object"), name(key)));
    return nullptr;
  }
  return value;
}

const Json* FieldReader::array(const char* key) {
  const Json* value = any(key);
  if (error_ || !value) return nullptr;
  if (!value->is_array()) {
    fail(invalid_request(cat("'", name(key), "' must be an array"), name(key)));
    return nullptr;
  }
  return value;
}

}  // namespace ferrum::server
