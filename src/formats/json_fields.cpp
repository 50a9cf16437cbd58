#include "formats/json_fields.h"

#include <cmath>

#include "formats/json_file.h"

namespace ferrum {
namespace {

const nlohmann::json& empty_object() {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  return kEmpty;
}

}  // namespace

JsonFields::JsonFields(const nlohmann::json& object, std::string source, std::string prefix)
    : object_(object.is_object() ? object : empty_object()), source_(std::move(source)), prefix_(std::move(prefix)) {
  if (!object.is_object()) {
    error_ = make_error(ErrorCode::kParse, source_, ": ", prefix_.empty() ? "top level" : prefix_, " is a JSON ",
                        json_type_name(object), ", expected an object");
  }
}

const nlohmann::json* JsonFields::get(std::string_view key) const {
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

void JsonFields::fail(std::string_view key, std::string_view problem) {
  if (!error_) error_ = make_error(ErrorCode::kParse, source_, ": field \"", prefix_, key, "\" ", problem);
}

void JsonFields::fail(Error error) {
  if (!error_) error_ = std::move(error);
}

void JsonFields::missing(std::string_view key) {
  if (!error_) error_ = make_error(ErrorCode::kNotFound, source_, ": missing required field \"", prefix_, key, "\"");
}

void JsonFields::wrong_type(std::string_view key, const nlohmann::json& value, std::string_view expected) {
  fail(key, cat("is a ", json_type_name(value), " (", json_snippet(value, 40), "), expected ", expected));
}

void JsonFields::absorb(const JsonFields& child) {
  if (child.error_) fail(*child.error_);
}

Status JsonFields::status() const {
  if (error_) return *error_;
  return ok();
}

std::optional<int64_t> JsonFields::as_int(std::string_view key, const nlohmann::json& value) {
  if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    wrong_type(key, value, "an integer that fits 64 bits");
    return std::nullopt;
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  // 8192.0 appears in some configs; accept floats with integral values.
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (std::isfinite(number) && std::trunc(number) == number && std::fabs(number) < 9.0e18) {
      return static_cast<int64_t>(number);
    }
  }
  wrong_type(key, value, "an integer");
  return std::nullopt;
}

std::optional<double> JsonFields::as_number(std::string_view key, const nlohmann::json& value) {
  if (value.is_number()) return value.get<double>();
  wrong_type(key, value, "a number");
  return std::nullopt;
}

int64_t JsonFields::required_int(std::string_view key) {
  const nlohmann::json* value = get(key);
  if (value == nullptr) {
    missing(key);
    return 0;
  }
  return as_int(key, *value).value_or(0);
}

int64_t JsonFields::int_or(std::string_view key, int64_t fallback) {
  const nlohmann::json* value = get(key);
  return value == nullptr ? fallback : as_int(key, *value).value_or(fallback);
}

std::optional<int64_t> JsonFields::optional_int(std::string_view key) {
  const nlohmann::json* value = get(key);
  return value == nullptr ? std::nullopt : as_int(key, *value);
}

double JsonFields::required_number(std::string_view key) {
  const nlohmann::json* value = get(key);
  if (value == nullptr) {
    missing(key);
    return 0;
  }
  return as_number(key, *value).value_or(0);
}

double JsonFields::number_or(std::string_view key, double fallback) {
  const nlohmann::json* value = get(key);
  return value == nullptr ? fallback : as_number(key, *value).value_or(fallback);
}

std::optional<double> JsonFields::optional_number(std::string_view key) {
  const nlohmann::json* value = get(key);
  return value == nullptr ? std::nullopt : as_number(key, *value);
}

bool JsonFields::bool_or(std::string_view key, bool fallback) {
  const nlohmann::json* value = get(key);
  if (value == nullptr) return fallback;
  if (value->is_boolean()) return value->get<bool>();
  wrong_type(key, *value, "true or false");
  return fallback;
}

std::string JsonFields::required_string(std::string_view key) {
  const nlohmann::json* value = get(key);
  if (value == nullptr) {
    missing(key);
    return "";
  }
  if (value->is_string()) return value->get<std::string>();
  wrong_type(key, *value, "a string");
  return "";
}

std::string JsonFields::string_or(std::string_view key, std::string_view fallback) {
  const nlohmann::json* value = get(key);
  if (value == nullptr) return std::string(fallback);
  if (value->is_string()) return value->get<std::string>();
  wrong_type(key, *value, "a string");
  return std::string(fallback);
}

std::vector<int64_t> JsonFields::int_or_int_list(std::string_view key) {
  const nlohmann::json* value = get(key);
  if (value == nullptr) return {};
  if (!value->is_array()) {
    std::optional<int64_t> single = as_int(key, *value);
    return single ? std::vector<int64_t>{*single} : std::vector<int64_t>{};
  }
  return int_list(key);
}

std::vector<int64_t> JsonFields::int_list(std::string_view key) {
  const nlohmann::json* value = get(key);
  if (value == nullptr) return {};
  if (!value->is_array()) {
    wrong_type(key, *value, "a list of integers");
    return {};
  }
  std::vector<int64_t> out;
  for (const nlohmann::json& element : *value) {
    std::optional<int64_t> number = as_int(key, element);
    if (!number) return {};
    out.push_back(*number);
  }
  return out;
}

std::vector<double> JsonFields::required_number_list(std::string_view key) {
  const nlohmann::json* value = get(key);
  if (value == nullptr) {
    missing(key);
    return {};
  }
  if (!value->is_array()) {
    wrong_type(key, *value, "a list of numbers");
    return {};
  }
  std::vector<double> out;
  for (const nlohmann::json& element : *value) {
    std::optional<double> number = as_number(key, element);
    if (!number) return {};
    out.push_back(*number);
  }
  return out;
}

std::vector<std::string> JsonFields::string_list(std::string_view key) {
  const nlohmann::json* value = get(key);
  if (value == nullptr) return {};
  if (!value->is_array()) {
    wrong_type(key, *value, "a list of strings");
    return {};
  }
  std::vector<std::string> out;
  for (const nlohmann::json& element : *value) {
    if (!element.is_string()) {
      wrong_type(key, element, "a string");
      return {};
    }
    out.push_back(element.get<std::string>());
  }
  return out;
}

JsonFields JsonFields::object(std::string_view key) {
  const nlohmann::json* value = get(key);
  if (value != nullptr && !value->is_object()) wrong_type(key, *value, "an object");
  return JsonFields(value != nullptr && value->is_object() ? *value : empty_object(), source_,
                    prefix_ + std::string(key) + ".");
}

}  // namespace ferrum
