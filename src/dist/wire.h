// Little-endian packing of the small messages ranks exchange (hello, setup, steps). Every rank runs
// the same binary on the same kind of machine, but explicit sizes keep the format independent of
// struct padding, and reads are bounds-checked so a truncated message is an error, not a crash.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.h"

namespace ferrum::dist {

class WireWriter {
 public:
  template <class T>
  requires std::is_integral_v<T> || std::is_floating_point_v<T>
  void put(T value) { append(&value, sizeof(T)); }
  void put_string(const std::string& text) {
    put<uint64_t>(text.size());
    append(text.data(), text.size());
  }
  template <class T>
  void put_array(std::span<const T> values) {
    put<uint64_t>(values.size());
    append(values.data(), values.size_bytes());
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  // GCC 12 mis-tracks the vector's size through an inlined resize and reports out-of-bounds writes
  // (-Warray-bounds / -Wstringop-overflow false positives) when it sees the callers' constant
  // sizes: kept out of line, and the warnings silenced, for that compiler only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
  [[gnu::noinline]] void append(const void* data, size_t size) {
    const size_t offset = bytes_.size();
    bytes_.resize(offset + size);
    if (size > 0) std::memcpy(bytes_.data() + offset, data, size);
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  std::vector<uint8_t> bytes_;
};

class WireReader {
 public:
  WireReader(std::span<const uint8_t> bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}

  template <class T>
  Expected<T> get() {
    FERRUM_TRY(need(sizeof(T)));
    T value;
    std::memcpy(&value, bytes_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }
  Expected<std::string> get_string() {
    FERRUM_ASSIGN_OR_RETURN(uint64_t size, get<uint64_t>());
    FERRUM_TRY(need(size));
    std::string text(reinterpret_cast<const char*>(bytes_.data() + offset_), size);
    offset_ += size;
    return text;
  }
  template <class T>
  Expected<std::vector<T>> get_array() {
    FERRUM_ASSIGN_OR_RETURN(uint64_t count, get<uint64_t>());
    FERRUM_CHECK(count <= bytes_.size() / sizeof(T), ErrorCode::kParse, what_, ": array of ", count,
                 " elements in a message of ", bytes_.size(), " bytes");
    FERRUM_TRY(need(count * sizeof(T)));
    std::vector<T> values(count);
    std::memcpy(values.data(), bytes_.data() + offset_, count * sizeof(T));
    offset_ += count * sizeof(T);
    return values;
  }
  bool at_end() const { return offset_ == bytes_.size(); }

 private:
  Status need(size_t size) const {
    FERRUM_CHECK(size <= bytes_.size() - offset_, ErrorCode::kParse, what_, " is truncated: ", size,
                 " more bytes needed at offset ", offset_, " of ", bytes_.size());
    return ok();
  }

  std::span<const uint8_t> bytes_;
  size_t offset_ = 0;
  std::string what_;
};

}  // namespace ferrum::dist
