// The attention kernel behind flash_attention, mla_attention and their paged forms.
//
// One problem shape covers all four: keys are the concatenation of two segments (k1 of d1 values per
// row, then k2 of d2, empty for plain attention), values have dv per row, and query head h reads
// KV head h / heads_per_kv. Plain attention: k1 = k, v = v, d2 = 0. MLA in the weight-absorbed form:
// one KV head, k1 = v = the latent c_kv (d1 = dv = kv_lora_rank), k2 = the RoPE'd key part.
// Where the key rows live is the only difference between the contiguous and the paged forms: a
// contiguous cache keeps a (sequence, KV head)'s rows one after another, a paged cache keeps them in
// blocks named by the sequence's block table, so the kernel asks for each key row's address.
//
// Each task takes one (sequence, KV head, chunk of its query heads, block of query rows) and walks
// the keys in blocks of kKeyBlock with an online softmax, so the score matrix is never formed:
//   1. the key block is transposed (and converted to f32) into [d][kKeyBlock], so
//   2. scores for four query rows at a time are vector FMAs over d with no horizontal sums,
//   3. each row's running max / sum are updated and its f32 accumulator rescaled, then
//   4. the value rows are added in, weighted by the probabilities, converted in registers.
// Query heads that share a KV head share the task, so decode reads each K/V row once per group.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/thread_pool.h"

namespace ferrum::cpu {

// Contiguous caches: flash_attention / mla_attention.
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

// Paged caches: paged_attention / paged_mla_attention (layouts in backend_types.h's PagedAttnBatch).
// The metadata has been validated by the caller (block ids inside the pools, lengths consistent).
template <class T>
struct PagedAttentionProblem {
  size_t num_seqs = 0;
  size_t num_tokens = 0;
  const int32_t* query_start = nullptr;   // [num_seqs + 1]
  const int32_t* context_lens = nullptr;  // [num_seqs]
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq]
  size_t max_blocks_per_seq = 0;
  size_t block_size = 0;
  size_t num_heads = 0;
  size_t num_kv_heads = 0;
  bool causal = true;
  size_t sliding_window = 0;
  float scale = 1.0f;

  const float* q = nullptr;  // [num_heads, num_tokens, d1 + d2]
  const T* k1 = nullptr;     // [num_blocks, num_kv_heads, block_size, d1]
  const T* k2 = nullptr;     // [num_blocks, num_kv_heads, block_size, d2] (null when d2 == 0)
  const T* v = nullptr;      // [num_blocks, num_kv_heads, block_size, dv]
  float* out = nullptr;      // [num_heads, num_tokens, dv]
  size_t d1 = 0;
  size_t d2 = 0;
  size_t dv = 0;
  // T = f8e4m3: the f32 scale of each pool row, indexed as the rows are (values read as e4m3 x scale).
  const float* k1_scales = nullptr;
  const float* k2_scales = nullptr;
  const float* v_scales = nullptr;
};

// T is float, f16 or bf16 (and f8e4m3 for the paged form). Sizes are validated by the caller.
template <class T>
void run_attention(ThreadPool& pool, const AttentionProblem<T>& problem);
template <class T>
void run_paged_attention(ThreadPool& pool, const PagedAttentionProblem<T>& problem);

}  // namespace ferrum::cpu
