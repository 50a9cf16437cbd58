#include "backend/cpu/cpu_grouped_quant.h"

#include <type_traits>

#include "core/half.h"

namespace ferrum::cpu {
namespace {

// AWQ stores column 8c + i in nibble kAwqNibble[i] of word c (the inverse of its 0,2,4,6,1,3,5,7 order).
constexpr uint32_t kAwqNibble[8] = {0, 4, 1, 5, 2, 6, 3, 7};

template <class S>
float scale_at(const S* scales, size_t index) {
  if constexpr (std::is_same_v<S, float>) {
    return scales[index];
  } else {
    return to_float(scales[index]);
  }
}

template <class S>
void decode_gptq(const GroupedQuantWeight& w, const S* scales, size_t j0, size_t rows, size_t p0, size_t depth,
                 float* dst) {
  const uint32_t bits = w.bits;
  const uint32_t mask = (1u << bits) - 1u;
  const size_t per_word = w.codes_per_word();
  const size_t zero_words_per_group = w.n / per_word;
  // Input rows outer: one qweight row of words covers every output column, read contiguously.
  for (size_t p = p0; p < p0 + depth; ++p) {
    const size_t group = w.g_idx != nullptr ? static_cast<size_t>(w.g_idx[p]) : (w.group_size ? p / w.group_size : 0);
    const int32_t* codes = w.qweight + (p / per_word) * w.n;
    const uint32_t shift = bits * static_cast<uint32_t>(p % per_word);
    const int32_t* zeros = w.qzeros + group * zero_words_per_group;
    const S* group_scales = scales + group * w.n;
    float* out = dst + (p - p0);
    for (size_t j = j0; j < j0 + rows; ++j) {
      const uint32_t q = (static_cast<uint32_t>(codes[j]) >> shift) & mask;
      const uint32_t zero_shift = bits * static_cast<uint32_t>(j % per_word);
      // GPTQ v1 stores the zero point minus one.
      const uint32_t z = ((static_cast<uint32_t>(zeros[j / per_word]) >> zero_shift) & mask) + 1u;
      out[(j - j0) * depth] = (static_cast<float>(q) - static_cast<float>(z)) * scale_at(group_scales, j);
    }
  }
}

template <class S>
void decode_awq(const GroupedQuantWeight& w, const S* scales, size_t j0, size_t rows, size_t p0, size_t depth,
                float* dst) {
  const size_t words_per_row = w.n / 8;
  for (size_t p = p0; p < p0 + depth; ++p) {
    const size_t group = w.group_size ? p / w.group_size : 0;
    const int32_t* codes = w.qweight + p * words_per_row;
    const int32_t* zeros = w.qzeros + group * words_per_row;
    const S* group_scales = scales + group * w.n;
    float* out = dst + (p - p0);
    for (size_t j = j0; j < j0 + rows; ++j) {
      const uint32_t shift = 4u * kAwqNibble[j % 8];
      const uint32_t q = (static_cast<uint32_t>(codes[j / 8]) >> shift) & 0xfu;
      const uint32_t z = (static_cast<uint32_t>(zeros[j / 8]) >> shift) & 0xfu;
      out[(j - j0) * depth] = (static_cast<float>(q) - static_cast<float>(z)) * scale_at(group_scales, j);
    }
  }
}

template <class S>
void decode_with_scales(const GroupedQuantWeight& w, size_t j0, size_t rows, size_t p0, size_t depth, float* dst) {
  const S* scales = static_cast<const S*>(w.scales);
  if (w.layout == PackedLayout::kGptq) {
    decode_gptq(w, scales, j0, rows, p0, depth, dst);
  } else {
    decode_awq(w, scales, j0, rows, p0, depth, dst);
  }
}

}  // namespace

Status validate_grouped_quant(std::string_view op, const GroupedQuantWeight& w) {
  const char* name = w.layout == PackedLayout::kGptq ? "gptq" : "awq";
  if (w.layout == PackedLayout::kGptq) {
    FERRUM_CHECK(w.bits == 2 || w.bits == 4 || w.bits == 8, ErrorCode::kUnsupported, op, ": gptq with bits=", w.bits,
                 " (2, 4 and 8 are supported)");
  } else {
    FERRUM_CHECK(w.bits == 4, ErrorCode::kUnsupported, op, ": awq with bits=", w.bits, " (only 4 is supported)");
  }
  FERRUM_CHECK(w.scale_dtype == DType::kF32 || w.scale_dtype == DType::kF16 || w.scale_dtype == DType::kBF16,
               ErrorCode::kUnsupported, op, ": ", name, " scales have dtype ", w.scale_dtype, " (f32, f16 or bf16)");
  const size_t per_word = w.codes_per_word();
  FERRUM_CHECK(w.n % per_word == 0, ErrorCode::kShapeMismatch, op, ": ", name, " n=", w.n, " is not a multiple of the ",
               per_word, " codes packed per word");
  if (w.layout == PackedLayout::kGptq) {
    FERRUM_CHECK(w.k % per_word == 0, ErrorCode::kShapeMismatch, op, ": gptq k=", w.k, " is not a multiple of the ",
                 per_word, " codes packed per word");
  }
  if (w.g_idx != nullptr) {
    const size_t groups = w.groups();
    for (size_t p = 0; p < w.k; ++p) {
      FERRUM_CHECK(w.g_idx[p] >= 0 && static_cast<size_t>(w.g_idx[p]) < groups, ErrorCode::kOutOfRange, op, ": g_idx[",
                   p, "] = ", w.g_idx[p], " is not one of the ", groups, " groups");
    }
  }
  return ok();
}

void decode_grouped_tile(const GroupedQuantWeight& w, size_t j0, size_t rows, size_t p0, size_t depth, float* dst) {
  switch (w.scale_dtype) {
    case DType::kF16: decode_with_scales<f16>(w, j0, rows, p0, depth, dst); break;
    case DType::kBF16: decode_with_scales<bf16>(w, j0, rows, p0, depth, dst); break;
    default: decode_with_scales<float>(w, j0, rows, p0, depth, dst); break;
  }
}

}  // namespace ferrum::cpu
