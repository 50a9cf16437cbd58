// The enumerations of the GGUF format: metadata value types and ggml tensor type ids, and how the
// tensor type ids map to ferrum's DType.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/dtype.h"

namespace ferrum {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr uint32_t kGgufMaxDims = 4;  // the format allows at most 4 dimensions per tensor

// Metadata value type ids, as stored in the file.
enum class GgufValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// "u32", "string", "array", ...; "unknown" for ids outside the enumeration.
std::string_view gguf_value_type_name(GgufValueType type);
bool is_valid_gguf_value_type(uint32_t id);
// Bytes of one value for the fixed-size types; 0 for string and array.
size_t gguf_value_type_size(GgufValueType type);
bool is_gguf_integer_type(GgufValueType type);
bool is_gguf_float_type(GgufValueType type);

// ggml tensor type id -> DType; nullopt for ids ferrum cannot hold (IQ*, TQ*, MXFP4, removed ids).
std::optional<DType> dtype_from_ggml_type(uint32_t ggml_type);
// DType -> ggml tensor type id; nullopt for DTypes GGUF cannot store (f8_e4m3, u8, bool).
std::optional<uint32_t> ggml_type_from_dtype(DType dtype);
// "Q4_K", "IQ2_XXS", ... for any known id, "unknown" otherwise; used to name unsupported types in errors.
std::string_view ggml_type_name(uint32_t ggml_type);

}  // namespace ferrum
