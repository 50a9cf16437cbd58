// GGUF version 3 writer: metadata of every value type (arrays of arrays included) and tensors placed
// at the file's alignment. Shapes are given outermost-first, as everywhere in ferrum; the writer
// stores them innermost-first as GGUF requires.
//
// Metadata setters do not return errors one by one: a duplicate key or bad alignment is remembered
// and reported by write() / to_bytes(), so building a file reads as a flat list of set_* calls.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "core/error.h"
#include "core/tensor_view.h"
#include "formats/byte_sink.h"
#include "formats/gguf_types.h"
#include "formats/gguf_value.h"

namespace ferrum {

// GgufValueType of a C++ number type (uint8_t -> kU8, float -> kF32, ...).
template <class T>
constexpr GgufValueType gguf_type_of() {
  if constexpr (std::is_same_v<T, uint8_t>) return GgufValueType::kU8;
  if constexpr (std::is_same_v<T, int8_t>) return GgufValueType::kI8;
  if constexpr (std::is_same_v<T, uint16_t>) return GgufValueType::kU16;
  if constexpr (std::is_same_v<T, int16_t>) return GgufValueType::kI16;
  if constexpr (std::is_same_v<T, uint32_t>) return GgufValueType::kU32;
  if constexpr (std::is_same_v<T, int32_t>) return GgufValueType::kI32;
  if constexpr (std::is_same_v<T, uint64_t>) return GgufValueType::kU64;
  if constexpr (std::is_same_v<T, int64_t>) return GgufValueType::kI64;
  if constexpr (std::is_same_v<T, float>) return GgufValueType::kF32;
  if constexpr (std::is_same_v<T, double>) return GgufValueType::kF64;
  if constexpr (std::is_same_v<T, bool>) return GgufValueType::kBool;
}

// The encoded elements of one array value. Arrays of arrays are built from inner builders.
class GgufArrayBuilder {
 public:
  template <class T>
  static GgufArrayBuilder of(std::span<const T> values) {
    GgufArrayBuilder array(gguf_type_of<T>());
    array.size_ = values.size();
    for (const T& value : values) {
      const auto stored = static_cast<std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>>(value);
      array.append(&stored, sizeof stored);
    }
    return array;
  }
  static GgufArrayBuilder of_strings(std::span<const std::string> values);
  static GgufArrayBuilder of_strings(std::span<const std::string_view> values);
  static GgufArrayBuilder of_arrays(std::span<const GgufArrayBuilder> values);
  // The same elements as an array read from a GGUF file.
  static GgufArrayBuilder of_gguf(const GgufArray& array);

  GgufValueType element_type() const { return element_type_; }
  uint64_t size() const { return size_; }
  // The elements as they appear in the file after the element type and count.
  const std::vector<uint8_t>& encoded() const { return encoded_; }

 private:
  explicit GgufArrayBuilder(GgufValueType element_type) : element_type_(element_type) {}
  void append(const void* data, size_t bytes);

  GgufValueType element_type_;
  uint64_t size_ = 0;
  std::vector<uint8_t> encoded_;
};

class GgufWriter {
 public:
  GgufWriter() = default;

  // Writes general.alignment and places tensor data at multiples of `alignment` (a power of two).
  void set_alignment(uint32_t alignment);

  void set_u8(std::string_view key, uint8_t value) { set_scalar(key, value); }
  void set_i8(std::string_view key, int8_t value) { set_scalar(key, value); }
  void set_u16(std::string_view key, uint16_t value) { set_scalar(key, value); }
  void set_i16(std::string_view key, int16_t value) { set_scalar(key, value); }
  void set_u32(std::string_view key, uint32_t value) { set_scalar(key, value); }
  void set_i32(std::string_view key, int32_t value) { set_scalar(key, value); }
  void set_u64(std::string_view key, uint64_t value) { set_scalar(key, value); }
  void set_i64(std::string_view key, int64_t value) { set_scalar(key, value); }
  void set_f32(std::string_view key, float value) { set_scalar(key, value); }
  void set_f64(std::string_view key, double value) { set_scalar(key, value); }
  void set_bool(std::string_view key, bool value) { set_scalar(key, value); }
  void set_string(std::string_view key, std::string_view value);
  void set_array(std::string_view key, const GgufArrayBuilder& array);
  // Any value read from a GGUF file, with its own type (copies metadata from one file to another).
  void set_value(std::string_view key, const GgufValue& value);
  template <class T>
  void set_array(std::string_view key, std::span<const T> values) {
    set_array(key, GgufArrayBuilder::of(values));
  }
  void set_string_array(std::string_view key, std::span<const std::string> values) {
    set_array(key, GgufArrayBuilder::of_strings(values));
  }

  // Adds a tensor whose bytes the caller keeps alive until write() / to_bytes() returns.
  Status add_tensor(std::string_view name, const TensorView& view);
  // Adds a tensor that owns its bytes.
  Status add_tensor(std::string_view name, DType dtype, const Shape& shape, std::vector<uint8_t> bytes);

  // Adds a tensor whose bytes `produce` writes into the sink when the file is written, so a converter
  // holds one tensor (or one piece of it) at a time. It must write exactly the tensor's size.
  using TensorProducer = std::function<Status(ByteSink& sink)>;
  Status add_tensor(std::string_view name, DType dtype, const Shape& shape, TensorProducer produce);

  Status write(const std::filesystem::path& path) const;
  Expected<std::vector<uint8_t>> to_bytes() const;

 private:
  struct PendingTensor {
    std::string name;
    DType dtype;
    Shape shape;
    std::span<const uint8_t> external;  // the caller's bytes, when not owned
    std::vector<uint8_t> owned;
    bool is_owned = false;
    TensorProducer produce;  // set for tensors written by a producer
    size_t produced_bytes = 0;
    std::span<const uint8_t> bytes() const { return is_owned ? std::span<const uint8_t>(owned) : external; }
    size_t size() const { return produce ? produced_bytes : bytes().size(); }
  };

  template <class T>
  void set_scalar(std::string_view key, T value) {
    if (!begin_key(key, gguf_type_of<T>())) return;
    const auto stored = static_cast<std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>>(value);
    append_metadata(&stored, sizeof stored);
  }
  // Writes the key and value type; false (with the error remembered) for a duplicate key.
  bool begin_key(std::string_view key, GgufValueType type);
  void append_metadata(const void* data, size_t bytes);
  Status add_pending(PendingTensor tensor);
  Status emit(ByteSink& sink) const;

  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t metadata_count_ = 0;
  std::vector<uint8_t> metadata_;  // encoded key/value pairs in insertion order
  std::unordered_set<std::string> keys_;
  std::vector<PendingTensor> tensors_;
  std::unordered_set<std::string> tensor_names_;
  std::vector<Error> errors_;  // remembered from the metadata setters; write() reports the first
};

}  // namespace ferrum
