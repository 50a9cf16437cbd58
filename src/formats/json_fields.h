// Typed reads of fields of a JSON object (a config.json or one of its sub-objects) that remember the
// first error instead of returning one per call, so a config parser reads as a flat list of fields
// followed by one status() check. JSON null counts as absent, as transformers treats it.
// Messages name the source file and the full field path: `config.json: field "text_config.hidden_size"
// is a string ("64"), expected an integer`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ferrum {

class JsonFields {
 public:
  // `object` must outlive the reader. `prefix` ("text_config.") is prepended to field names in errors.
  JsonFields(const nlohmann::json& object, std::string source, std::string prefix = "");

  const std::string& source() const { return source_; }
  bool has(std::string_view key) const { return get(key) != nullptr; }
  // The raw value, or nullptr when absent or null.
  const nlohmann::json* get(std::string_view key) const;

  int64_t required_int(std::string_view key);
  int64_t int_or(std::string_view key, int64_t fallback);
  std::optional<int64_t> optional_int(std::string_view key);
  double required_number(std::string_view key);
  double number_or(std::string_view key, double fallback);
  std::optional<double> optional_number(std::string_view key);
  bool bool_or(std::string_view key, bool fallback);
  std::string required_string(std::string_view key);
  std::string string_or(std::string_view key, std::string_view fallback);
  // A single integer or a list of them (eos_token_id is either); empty when absent.
  std::vector<int64_t> int_or_int_list(std::string_view key);
  std::vector<int64_t> int_list(std::string_view key);  // empty when absent
  std::vector<double> required_number_list(std::string_view key);
  std::vector<std::string> string_list(std::string_view key);  // empty when absent
  // A sub-object reader; an absent key gives a reader over an empty object.
  JsonFields object(std::string_view key);

  // Records an error about field `key` (the first one wins).
  void fail(std::string_view key, std::string_view problem);
  void fail(Error error);
  // Takes over the first error of a sub-object reader made with object().
  void absorb(const JsonFields& child);
  Status status() const;

 private:
  std::optional<int64_t> as_int(std::string_view key, const nlohmann::json& value);
  std::optional<double> as_number(std::string_view key, const nlohmann::json& value);
  void wrong_type(std::string_view key, const nlohmann::json& value, std::string_view expected);
  void missing(std::string_view key);

  const nlohmann::json& object_;
  std::string source_;
  std::string prefix_;
  std::optional<Error> error_;
};

}  // namespace ferrum
