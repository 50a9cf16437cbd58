// The attention kernel behind flash_attention and mla_attention.
//
// One problem shape covers both: keys are the concatenation of two segments (k1 of d1 values per
// row, then k2 of d2, empty for plain attention), values have dv per row, and query head h reads
// KV head h / heads_per_kv. Plain attention: k1 = k, v = v, d2 = 0. MLA in the weight-absorbed form:
// one KV head, k1 = v = the latent c_kv (d1 = dv = kv_lora_rank), k2 = the RoPE'd key part.
//
// Each task takes one (batch, KV head, chunk of its query heads, block of query rows) and walks
// the keys in blocks of kKeyBlock with an online softmax, so the score matrix is never formed:
//   1. the key block is transposed (and converted to f32) into [d][kKeyBlock], so
//   2. scores for four query rows at a time are vector FMAs over d with no horizontal sums,
//   3. each row's running max / sum are updated and its f32 accumulator rescaled, then
//   4. the value rows are added in, weighted by the probabilities, converted in registers.
// Query heads that share a KV head share the task, so decode reads each K/V row once per group.
#pragma once

#include <cstddef>

#include "core/thread_pool.h"

namespace ferrum::cpu {

template <class T>
struct AttentionProblem {
  size_t batch = 0;
  size_t q_len = 0;
  size_t kv_len = 0;
  size_t pos_offset = 0;
  size_t num_heads = 0;
  size_t num_kv_heads = 0;  // heads_per_kv = num_heads / num_kv_heads
  size_t kv_stride = 0;     // rows between KV heads (>= kv_len)
  bool causal = false;
  size_t sliding_window = 0;
  float scale = 1.0f;

  const float* q = nullptr;  // [batch, num_heads, q_len, d1 + d2]
  const T* k1 = nullptr;     // [batch, num_kv_heads, kv_stride, d1]
  const T* k2 = nullptr;     // [batch, num_kv_heads, kv_stride, d2] (null when d2 == 0)
  const T* v = nullptr;      // [batch, num_kv_heads, kv_stride, dv]
  float* out = nullptr;      // [batch, num_heads, q_len, dv]
  size_t d1 = 0;
  size_t d2 = 0;
  size_t dv = 0;
};

// T is float, f16 or bf16. Sizes are validated by the caller.
template <class T>
void run_attention(ThreadPool& pool, const AttentionProblem<T>& problem);

}  // namespace ferrum::cpu
