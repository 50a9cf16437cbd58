// Element types of tensors and buffers, including the GGUF quantized block types.
// A quantized type stores `block_elems` values in `block_bytes` bytes; plain types are blocks of one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/error.h"

namespace ferrum {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kF64,
  kF8E4M3,
  kI64,
  kI32,
  kI16,
  kI8,
  kU8,
  kBool,
  // GGUF block types (layouts identical to ggml's, so files map without conversion).
  kQ4_0,
  kQ4_1,
  kQ5_0,
  kQ5_1,
  kQ8_0,
  kQ8_1,
  kQ2_K,
  kQ3_K,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kQ8_K,
};

struct DTypeInfo {
  std::string_view name;  // "f32", "bf16", "q4_K", ...
  size_t block_elems;     // values per block (1 for plain types)
  size_t block_bytes;     // bytes per block
  bool is_quantized;
  bool is_float;  // plain floating-point type
};

const DTypeInfo& dtype_info(DType dtype);

inline std::string_view dtype_name(DType dtype) {
  return dtype_info(dtype).name;
}
inline bool is_quantized(DType dtype) {
  return dtype_info(dtype).is_quantized;
}

// Parses a name as printed by dtype_name ("f32", "q4_K"); case-insensitive.
std::optional<DType> parse_dtype(std::string_view name);

// Bytes needed for `elems` values; fails when `elems` is not a whole number of blocks
// or the byte count overflows.
Expected<size_t> dtype_bytes(DType dtype, size_t elems);

// Bytes of one row of `row_elems` values, for types where that is a whole number of blocks.
// Unchecked: callers validate with dtype_bytes first.
inline size_t row_bytes_unchecked(DType dtype, size_t row_elems) {
  const DTypeInfo& info = dtype_info(dtype);
  return row_elems / info.block_elems * info.block_bytes;
}

std::ostream& operator<<(std::ostream& out, DType dtype);

}  // namespace ferrum
