// Bounds-checked little-endian reads from a byte span, for the binary headers of GGUF and
// safetensors. Every read checks what is left first, so malformed files produce an error that names
// the byte offset and what was being read, never an out-of-bounds access. Callers add the file name
// (and key or tensor) as context.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>

#include "core/error.h"

namespace ferrum {

static_assert(std::endian::native == std::endian::little, "ferrum's file readers assume a little-endian host");

class ByteCursor {
 public:
  explicit ByteCursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  size_t offset() const { return offset_; }
  size_t remaining() const { return bytes_.size() - offset_; }

  template <class T>
  requires std::is_arithmetic_v<T> Expected<T> read(const char* what) {
    FERRUM_TRY(require(sizeof(T), what));
    T value;
    std::memcpy(&value, bytes_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  Expected<std::span<const uint8_t>> read_bytes(uint64_t count, const char* what) {
    FERRUM_TRY(require(count, what));
    std::span<const uint8_t> out = bytes_.subspan(offset_, static_cast<size_t>(count));
    offset_ += static_cast<size_t>(count);
    return out;
  }

  // A string stored as a u64 byte length followed by the bytes (no terminator), as GGUF does.
  Expected<std::string_view> read_string(const char* what) {
    FERRUM_ASSIGN_OR_RETURN(const uint64_t length, read<uint64_t>(what));
    FERRUM_ASSIGN_OR_RETURN(std::span<const uint8_t> text, read_bytes(length, what));
    return std::string_view(reinterpret_cast<const char*>(text.data()), text.size());
  }

  Status skip(uint64_t count, const char* what) {
    FERRUM_TRY(require(count, what));
    offset_ += static_cast<size_t>(count);
    return ok();
  }

 private:
  Status require(uint64_t count, const char* what) const {
    if (count <= remaining()) return ok();
    return make_error(ErrorCode::kParse, "truncated: ", what, " needs ", count, " bytes at byte ", offset_,
                      " but only ", remaining(), " remain");
  }

  std::span<const uint8_t> bytes_;
  size_t offset_ = 0;
};

}  // namespace ferrum
