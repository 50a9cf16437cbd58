// Typed reads of request fields with OpenAI-style errors: a wrong type or an out-of-range value
// gives 400 naming the parameter ("'temperature' must be a number in [0, 2]"). JSON null counts as
// absent, as the SDKs send null for unset optional fields.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "server/api_error.h"

namespace ferrum::server {

using Json = nlohmann::ordered_json;

// Parses a request body; malformed JSON and non-objects are 400s.
ApiResult<Json> parse_json_object(std::string_view body);

// Serializes without throwing on invalid UTF-8 (replaced by U+FFFD).
std::string dump_json(const Json& value);

class FieldReader {
 public:
  explicit FieldReader(const Json& object, std::string prefix = "") : object_(object), prefix_(std::move(prefix)) {}

  // The first error any read met; reads after it return nullopt.
  const std::optional<ApiError>& error() const { return error_; }

  bool has(const char* key) const;
  std::optional<double> number(const char* key, double min, double max);
  std::optional<int64_t> integer(const char* key, int64_t min, int64_t max);
  std::optional<bool> boolean(const char* key);
  std::optional<std::string> string(const char* key);
  const Json* object(const char* key);
  const Json* array(const char* key);
  // The raw field (any type), or nullptr when absent or null.
  const Json* any(const char* key) const;

  std::string name(const char* key) const { return prefix_ + key; }
  void fail(ApiError error) {
    if (!error_) error_ = std::move(error);
  }

 private:
  const Json& object_;
  std::string prefix_;
  std::optional<ApiError> error_;
};

}  // namespace ferrum::server
