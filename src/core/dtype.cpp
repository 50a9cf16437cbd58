#include "core/dtype.h"

#include <array>
#include <cctype>
#include <limits>
#include <ostream>

namespace ferrum {
namespace {

constexpr size_t kQK = 32;    // elements per legacy quant block
constexpr size_t kQKK = 256;  // elements per k-quant super-block

constexpr std::array<DTypeInfo, 23> kInfos = {{
    {"f32", 1, 4, false, true},
    {"f16", 1, 2, false, true},
    {"bf16", 1, 2, false, true},
    {"f64", 1, 8, false, true},
    {"f8_e4m3", 1, 1, false, true},
    {"i64", 1, 8, false, false},
    {"i32", 1, 4, false, false},
    {"i16", 1, 2, false, false},
    {"i8", 1, 1, false, false},
    {"u8", 1, 1, false, false},
    {"bool", 1, 1, false, false},
    {"q4_0", kQK, 2 + kQK / 2, true, false},
    {"q4_1", kQK, 4 + kQK / 2, true, false},
    {"q5_0", kQK, 2 + 4 + kQK / 2, true, false},
    {"q5_1", kQK, 4 + 4 + kQK / 2, true, false},
    {"q8_0", kQK, 2 + kQK, true, false},
    {"q8_1", kQK, 4 + kQK, true, false},
    {"q2_K", kQKK, kQKK / 16 + kQKK / 4 + 4, true, false},
    {"q3_K", kQKK, kQKK / 8 + kQKK / 4 + 12 + 2, true, false},
    {"q4_K", kQKK, 4 + 12 + kQKK / 2, true, false},
    {"q5_K", kQKK, 4 + 12 + kQKK / 8 + kQKK / 2, true, false},
    {"q6_K", kQKK, kQKK / 2 + kQKK / 4 + kQKK / 16 + 2, true, false},
    {"q8_K", kQKK, 4 + kQKK + kQKK / 16 * 2, true, false},
}};

static_assert(kInfos[static_cast<size_t>(DType::kQ8_K)].name == "q8_K");

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

const DTypeInfo& dtype_info(DType dtype) {
  return kInfos[static_cast<size_t>(dtype)];
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (size_t i = 0; i < kInfos.size(); ++i) {
    if (iequals(kInfos[i].name, name)) return static_cast<DType>(i);
  }
  return std::nullopt;
}

Expected<size_t> dtype_bytes(DType dtype, size_t elems) {
  const DTypeInfo& info = dtype_info(dtype);
  FERRUM_CHECK(elems % info.block_elems == 0, ErrorCode::kShapeMismatch, elems, " values of ", info.name,
               " are not a whole number of ", info.block_elems, "-value blocks");
  const size_t blocks = elems / info.block_elems;
  FERRUM_CHECK(blocks <= std::numeric_limits<size_t>::max() / info.block_bytes, ErrorCode::kOutOfRange, elems,
               " values of ", info.name, " overflow a byte count");
  return blocks * info.block_bytes;
}

std::ostream& operator<<(std::ostream& out, DType dtype) {
  return out << dtype_name(dtype);
}

}  // namespace ferrum
