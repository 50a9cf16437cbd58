// GGUF metadata values as read from a file. Strings are views into the file mapping (never copied),
// and numeric arrays stay as their packed little-endian bytes in the mapping until a caller converts
// them, which keeps a 150k-token vocabulary's metadata parse to one pass over the string lengths.
// Values are only valid while the GgufFile (or a copy of its mapping) that produced them is alive.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.h"
#include "formats/gguf_types.h"

namespace ferrum {

class GgufValue;

class GgufArray {
 public:
  GgufValueType element_type() const { return element_type_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Elements of a string array (element_type() == kString), views into the mapping.
  std::span<const std::string_view> strings() const { return strings_; }
  // Elements of an array of arrays (element_type() == kArray).
  std::span<const GgufArray> arrays() const { return arrays_; }
  // Elements of a fixed-size type (numbers, bools): size() * gguf_value_type_size(element_type())
  // packed little-endian bytes, with no alignment guarantee.
  std::span<const uint8_t> raw_bytes() const { return raw_; }

  // Element `index` (< size()) as a value; copies a nested array.
  GgufValue element_at(size_t index) const;

  // Converts every element of a numeric or bool array to T. Fails when the elements are strings or
  // arrays, or when a value does not fit T (a negative i32 into u32, 300 into u8, 1e40 into float).
  template <class T>
  Expected<std::vector<T>> to_vector() const;

 private:
  friend class GgufParser;

  GgufValueType element_type_ = GgufValueType::kU8;
  size_t size_ = 0;
  std::span<const uint8_t> raw_;
  std::vector<std::string_view> strings_;
  std::vector<GgufArray> arrays_;
};

class GgufValue {
 public:
  GgufValue() = default;
  static GgufValue from_uint(GgufValueType type, uint64_t value) { return GgufValue(type, value); }
  static GgufValue from_int(GgufValueType type, int64_t value) { return GgufValue(type, value); }
  static GgufValue from_float(GgufValueType type, double value) { return GgufValue(type, value); }
  static GgufValue from_bool(bool value) { return GgufValue(GgufValueType::kBool, value); }
  static GgufValue from_string(std::string_view value) { return GgufValue(GgufValueType::kString, value); }
  static GgufValue from_array(GgufArray value) { return GgufValue(GgufValueType::kArray, std::move(value)); }

  GgufValueType type() const { return type_; }

  // Lenient accessors: any integer type whose value fits, any float type (or integer) as double.
  // nullopt when the stored type does not convert.
  std::optional<uint64_t> as_uint() const;
  std::optional<int64_t> as_int() const;
  std::optional<double> as_double() const;
  std::optional<bool> as_bool() const;
  std::optional<std::string_view> as_string() const;
  const GgufArray* as_array() const { return std::get_if<GgufArray>(&storage_); }

  // Human-readable rendering for `ferrum inspect`: strings quoted, arrays cut after `max_elements`.
  std::string to_display_string(size_t max_elements = 8) const;

 private:
  template <class T>
  GgufValue(GgufValueType type, T value) : type_(type), storage_(std::move(value)) {}

  GgufValueType type_ = GgufValueType::kU8;
  // Unsigned types are held as uint64_t, signed as int64_t, f32/f64 as double (exact for both).
  std::variant<uint64_t, int64_t, double, bool, std::string_view, GgufArray> storage_;
};

struct GgufKeyValue {
  std::string_view key;  // view into the mapping
  GgufValue value;
};

}  // namespace ferrum
