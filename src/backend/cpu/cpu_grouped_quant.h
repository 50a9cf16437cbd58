// GPTQ and AWQ weights: integer codes packed in int32 words with per-group zero points and scales.
//
// GPTQ (v1 checkpoints, AutoGPTQ / GPTQModel "gptq" format), pf = 32 / bits codes per word:
//   qweight [k / pf, n]  packed along k:  q[p, j] = (qweight[p / pf, j] >> bits * (p % pf)) & mask
//   qzeros  [groups, n / pf] packed along n, storing z - 1 (so the zero point is the code + 1)
//   scales  [groups, n];  g_idx [k] names each input row's group (act-order), else p / group_size
// AWQ (AutoAWQ "gemm" format), 4 bits only:
//   qweight [k, n / 8]  packed along n, nibble i of a word holding column 8c + {0,2,4,6,1,3,5,7}[i]
//   qzeros  [groups, n / 8] packed the same way, storing z itself;  scales [groups, n]
// Both: W[j, p] = (q[p, j] - z[g(p), j]) * scale[g(p), j], exact in f32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cpu {

enum class PackedLayout { kGptq, kAwq };

struct GroupedQuantWeight {
  PackedLayout layout = PackedLayout::kGptq;
  uint32_t bits = 4;
  size_t k = 0;           // input features (rows of W^T)
  size_t n = 0;           // output features
  size_t group_size = 0;  // 0: one group over all of k
  const int32_t* qweight = nullptr;
  const int32_t* qzeros = nullptr;
  const void* scales = nullptr;
  DType scale_dtype = DType::kF32;  // f32, f16 or bf16
  const int32_t* g_idx = nullptr;   // optional (GPTQ only)

  size_t groups() const { return group_size == 0 ? 1 : (k + group_size - 1) / group_size; }
  size_t codes_per_word() const { return 32 / bits; }
  // Element counts the packed tensors must hold.
  size_t qweight_words() const { return k * n / codes_per_word(); }
  size_t qzeros_words() const { return groups() * n / codes_per_word(); }
  size_t scale_count() const { return groups() * n; }
};

// Checks bits, divisibility of k and n, and that g_idx names existing groups. Pointer sizes are
// the caller's to check against qweight_words() and friends.
Status validate_grouped_quant(std::string_view op, const GroupedQuantWeight& weight);

// dst[(j - j0) * depth + (p - p0)] = W[j, p] for j in [j0, j0 + rows), p in [p0, p0 + depth).
// p0 must be a multiple of codes_per_word().
void decode_grouped_tile(const GroupedQuantWeight& weight, size_t j0, size_t rows, size_t p0, size_t depth, float* dst);

}  // namespace ferrum::cpu
