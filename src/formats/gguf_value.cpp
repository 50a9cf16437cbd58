#include "formats/gguf_value.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <utility>

namespace ferrum {
namespace {

template <class Stored>
Stored load(const uint8_t* bytes) {
  Stored value;
  std::memcpy(&value, bytes, sizeof value);
  return value;
}

// Converts one stored element to T, or returns nullopt when it does not fit.
template <class T, class Stored>
std::optional<T> convert(Stored value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value != Stored{};
  } else if constexpr (std::is_floating_point_v<T>) {
    if constexpr (std::is_floating_point_v<Stored>) {
      // Narrowing a finite double past float's range would be undefined; inf and NaN pass through.
      if (std::isfinite(value) && std::fabs(static_cast<double>(value)) > std::numeric_limits<T>::max()) {
        return std::nullopt;
      }
    }
    return static_cast<T>(value);
  } else if constexpr (std::is_floating_point_v<Stored>) {
    return std::nullopt;  // no silent float -> integer truncation
  } else {
    if (!std::in_range<T>(value)) return std::nullopt;
    return static_cast<T>(value);
  }
}

template <class T, class Stored>
Expected<std::vector<T>> convert_all(std::span<const uint8_t> raw, size_t count, GgufValueType type) {
  std::vector<T> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    std::optional<T> converted = convert<T>(load<Stored>(raw.data() + i * sizeof(Stored)));
    if (!converted) {
      return make_error(ErrorCode::kOutOfRange, "array element ", i, " (", gguf_value_type_name(type),
                        ") does not fit the requested type");
    }
    out.push_back(*converted);
  }
  return out;
}

}  // namespace

template <class T>
Expected<std::vector<T>> GgufArray::to_vector() const {
  switch (element_type_) {
    case GgufValueType::kU8: return convert_all<T, uint8_t>(raw_, size_, element_type_);
    case GgufValueType::kI8: return convert_all<T, int8_t>(raw_, size_, element_type_);
    case GgufValueType::kU16: return convert_all<T, uint16_t>(raw_, size_, element_type_);
    case GgufValueType::kI16: return convert_all<T, int16_t>(raw_, size_, element_type_);
    case GgufValueType::kU32: return convert_all<T, uint32_t>(raw_, size_, element_type_);
    case GgufValueType::kI32: return convert_all<T, int32_t>(raw_, size_, element_type_);
    case GgufValueType::kU64: return convert_all<T, uint64_t>(raw_, size_, element_type_);
    case GgufValueType::kI64: return convert_all<T, int64_t>(raw_, size_, element_type_);
    case GgufValueType::kF32: return convert_all<T, float>(raw_, size_, element_type_);
    case GgufValueType::kF64: return convert_all<T, double>(raw_, size_, element_type_);
    case GgufValueType::kBool: return convert_all<T, uint8_t>(raw_, size_, element_type_);
    case GgufValueType::kString:
    case GgufValueType::kArray: break;
  }
  return make_error(ErrorCode::kInvalidArgument, "array of ", gguf_value_type_name(element_type_),
                    " cannot be converted to numbers");
}

template Expected<std::vector<bool>> GgufArray::to_vector<bool>() const;
template Expected<std::vector<uint8_t>> GgufArray::to_vector<uint8_t>() const;
template Expected<std::vector<int8_t>> GgufArray::to_vector<int8_t>() const;
template Expected<std::vector<uint16_t>> GgufArray::to_vector<uint16_t>() const;
template Expected<std::vector<int16_t>> GgufArray::to_vector<int16_t>() const;
template Expected<std::vector<uint32_t>> GgufArray::to_vector<uint32_t>() const;
template Expected<std::vector<int32_t>> GgufArray::to_vector<int32_t>() const;
template Expected<std::vector<uint64_t>> GgufArray::to_vector<uint64_t>() const;
template Expected<std::vector<int64_t>> GgufArray::to_vector<int64_t>() const;
template Expected<std::vector<float>> GgufArray::to_vector<float>() const;
template Expected<std::vector<double>> GgufArray::to_vector<double>() const;

std::optional<uint64_t> GgufValue::as_uint() const {
  if (const uint64_t* value = std::get_if<uint64_t>(&storage_)) return *value;
  if (const int64_t* value = std::get_if<int64_t>(&storage_)) {
    if (*value >= 0) return static_cast<uint64_t>(*value);
  }
  return std::nullopt;
}

std::optional<int64_t> GgufValue::as_int() const {
  if (const int64_t* value = std::get_if<int64_t>(&storage_)) return *value;
  if (const uint64_t* value = std::get_if<uint64_t>(&storage_)) {
    if (std::in_range<int64_t>(*value)) return static_cast<int64_t>(*value);
  }
  return std::nullopt;
}

std::optional<double> GgufValue::as_double() const {
  if (const double* value = std::get_if<double>(&storage_)) return *value;
  if (const uint64_t* value = std::get_if<uint64_t>(&storage_)) return static_cast<double>(*value);
  if (const int64_t* value = std::get_if<int64_t>(&storage_)) return static_cast<double>(*value);
  return std::nullopt;
}

std::optional<bool> GgufValue::as_bool() const {
  if (const bool* value = std::get_if<bool>(&storage_)) return *value;
  return std::nullopt;
}

std::optional<std::string_view> GgufValue::as_string() const {
  if (const std::string_view* value = std::get_if<std::string_view>(&storage_)) return *value;
  return std::nullopt;
}

GgufValue GgufArray::element_at(size_t index) const {
  const uint8_t* at = raw_.data() + index * gguf_value_type_size(element_type_);
  switch (element_type_) {
    case GgufValueType::kU8: return GgufValue::from_uint(element_type_, load<uint8_t>(at));
    case GgufValueType::kU16: return GgufValue::from_uint(element_type_, load<uint16_t>(at));
    case GgufValueType::kU32: return GgufValue::from_uint(element_type_, load<uint32_t>(at));
    case GgufValueType::kU64: return GgufValue::from_uint(element_type_, load<uint64_t>(at));
    case GgufValueType::kI8: return GgufValue::from_int(element_type_, load<int8_t>(at));
    case GgufValueType::kI16: return GgufValue::from_int(element_type_, load<int16_t>(at));
    case GgufValueType::kI32: return GgufValue::from_int(element_type_, load<int32_t>(at));
    case GgufValueType::kI64: return GgufValue::from_int(element_type_, load<int64_t>(at));
    case GgufValueType::kF32: return GgufValue::from_float(element_type_, load<float>(at));
    case GgufValueType::kF64: return GgufValue::from_float(element_type_, load<double>(at));
    case GgufValueType::kBool: return GgufValue::from_bool(*at != 0);
    case GgufValueType::kString: return GgufValue::from_string(strings_[index]);
    case GgufValueType::kArray: return GgufValue::from_array(arrays_[index]);
  }
  return GgufValue();
}

namespace {

void append_quoted(std::ostringstream& out, std::string_view text, size_t max_chars) {
  out << '"';
  size_t shown = 0;
  for (char c : text) {
    if (shown++ == max_chars) {
      out << "...";
      break;
    }
    switch (c) {
      case '"': out << "\\\""; break;
      case '\\': out << "\\\\"; break;
      case '\n': out << "\\n"; break;
      case '\t': out << "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out << "\\x"
              << "0123456789abcdef"[(c >> 4) & 0xf] << "0123456789abcdef"[c & 0xf];
        } else {
          out << c;
        }
    }
  }
  out << '"';
}

void append_array(std::ostringstream& out, const GgufArray& array, size_t max_elements) {
  out << "[";
  const size_t shown = std::min(array.size(), max_elements);
  for (size_t i = 0; i < shown; ++i) {
    if (i > 0) out << ", ";
    switch (array.element_type()) {
      case GgufValueType::kString: append_quoted(out, array.strings()[i], 40); break;
      case GgufValueType::kArray: append_array(out, array.arrays()[i], max_elements); break;
      default: out << array.element_at(i).to_display_string(); break;
    }
  }
  if (array.size() > shown) out << ", ... (" << array.size() << " total)";
  out << "]";
}

}  // namespace

std::string GgufValue::to_display_string(size_t max_elements) const {
  std::ostringstream out;
  if (const uint64_t* value = std::get_if<uint64_t>(&storage_)) {
    out << *value;
  } else if (const int64_t* value = std::get_if<int64_t>(&storage_)) {
    out << *value;
  } else if (const double* value = std::get_if<double>(&storage_)) {
    out << *value;
  } else if (const bool* value = std::get_if<bool>(&storage_)) {
    out << (*value ? "true" : "false");
  } else if (const std::string_view* value = std::get_if<std::string_view>(&storage_)) {
    append_quoted(out, *value, 200);
  } else if (const GgufArray* value = std::get_if<GgufArray>(&storage_)) {
    append_array(out, *value, max_elements);
  }
  return out.str();
}

}  // namespace ferrum
