#include "formats/gguf_types.h"

#include <array>

namespace ferrum {
namespace {

struct GgmlTypeEntry {
  uint32_t id;
  std::string_view name;
  std::optional<DType> dtype;  // nullopt: a type ferrum knows by name but cannot hold
};

// Ids from the GGUF specification's type table. Ids 4 and 5 (Q4_2, Q4_3) were removed from the format.
constexpr std::array<GgmlTypeEntry, 32> kGgmlTypes = {{
    {0, "F32", DType::kF32},      {1, "F16", DType::kF16},       {2, "Q4_0", DType::kQ4_0},
    {3, "Q4_1", DType::kQ4_1},    {6, "Q5_0", DType::kQ5_0},     {7, "Q5_1", DType::kQ5_1},
    {8, "Q8_0", DType::kQ8_0},    {9, "Q8_1", DType::kQ8_1},     {10, "Q2_K", DType::kQ2_K},
    {11, "Q3_K", DType::kQ3_K},   {12, "Q4_K", DType::kQ4_K},    {13, "Q5_K", DType::kQ5_K},
    {14, "Q6_K", DType::kQ6_K},   {15, "Q8_K", DType::kQ8_K},    {16, "IQ2_XXS", std::nullopt},
    {17, "IQ2_XS", std::nullopt}, {18, "IQ3_XXS", std::nullopt}, {19, "IQ1_S", std::nullopt},
    {20, "IQ4_NL", std::nullopt}, {21, "IQ3_S", std::nullopt},   {22, "IQ2_S", std::nullopt},
    {23, "IQ4_XS", std::nullopt}, {24, "I8", DType::kI8},        {25, "I16", DType::kI16},
    {26, "I32", DType::kI32},     {27, "I64", DType::kI64},      {28, "F64", DType::kF64},
    {29, "IQ1_M", std::nullopt},  {30, "BF16", DType::kBF16},    {34, "TQ1_0", std::nullopt},
    {35, "TQ2_0", std::nullopt},  {39, "MXFP4", std::nullopt},
}};

const GgmlTypeEntry* find_ggml_type(uint32_t id) {
  for (const GgmlTypeEntry& entry : kGgmlTypes) {
    if (entry.id == id) return &entry;
  }
  return nullptr;
}

}  // namespace

std::string_view gguf_value_type_name(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8: return "u8";
    case GgufValueType::kI8: return "i8";
    case GgufValueType::kU16: return "u16";
    case GgufValueType::kI16: return "i16";
    case GgufValueType::kU32: return "u32";
    case GgufValueType::kI32: return "i32";
    case GgufValueType::kF32: return "f32";
    case GgufValueType::kBool: return "bool";
    case GgufValueType::kString: return "string";
    case GgufValueType::kArray: return "array";
    case GgufValueType::kU64: return "u64";
    case GgufValueType::kI64: return "i64";
    case GgufValueType::kF64: return "f64";
  }
  return "unknown";
}

bool is_valid_gguf_value_type(uint32_t id) {
  return id <= static_cast<uint32_t>(GgufValueType::kF64);
}

size_t gguf_value_type_size(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8:
    case GgufValueType::kI8:
    case GgufValueType::kBool: return 1;
    case GgufValueType::kU16:
    case GgufValueType::kI16: return 2;
    case GgufValueType::kU32:
    case GgufValueType::kI32:
    case GgufValueType::kF32: return 4;
    case GgufValueType::kU64:
    case GgufValueType::kI64:
    case GgufValueType::kF64: return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray: return 0;
  }
  return 0;
}

bool is_gguf_integer_type(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8:
    case GgufValueType::kI8:
    case GgufValueType::kU16:
    case GgufValueType::kI16:
    case GgufValueType::kU32:
    case GgufValueType::kI32:
    case GgufValueType::kU64:
    case GgufValueType::kI64: return true;
    default: return false;
  }
}

bool is_gguf_float_type(GgufValueType type) {
  return type == GgufValueType::kF32 || type == GgufValueType::kF64;
}

std::optional<DType> dtype_from_ggml_type(uint32_t ggml_type) {
  const GgmlTypeEntry* entry = find_ggml_type(ggml_type);
  return entry ? entry->dtype : std::nullopt;
}

std::optional<uint32_t> ggml_type_from_dtype(DType dtype) {
  for (const GgmlTypeEntry& entry : kGgmlTypes) {
    if (entry.dtype == dtype) return entry.id;
  }
  return std::nullopt;
}

std::string_view ggml_type_name(uint32_t ggml_type) {
  const GgmlTypeEntry* entry = find_ggml_type(ggml_type);
  return entry ? entry->name : "unknown";
}

}  // namespace ferrum
