// Launchers for the serving engine's paged-cache ops: the K / V write into block slots and the
// attention of a mixed batch (prefill chunks and decode tokens of many sequences) over block tables.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

// rows [heads, tokens, width] into pool [num_blocks, heads, block_size, width] at slot_mapping's
// slots; negative slots (and, defensively, slots past the pool) are skipped. An f8_e4m3 pool gets
// each row scaled and its scale stored after the values (backend_types.h's paged_pool_numel).
struct PagedCacheWriteArgs {
  void* pool = nullptr;
  DType pool_dtype = DType::kBF16;
  const void* rows = nullptr;
  DType rows_dtype = DType::kBF16;
  const int32_t* slot_mapping = nullptr;
  size_t tokens = 0, heads = 0, width = 0, block_size = 0, num_blocks = 0;
};
Status launch_paged_cache_write(const PagedCacheWriteArgs& args, cudaStream_t stream);

// One paged attention call (layouts in backend_types.h's PagedAttnBatch). Keys are a row of k1
// (d1 values) followed, for MLA, by a row of k2 (d2 values); values are rows of v. Row j of KV head
// kh of a sequence lives at source + ((block * kv_heads + kh) * block_size + j % block_size) * d_s
// with block = its table's entry j / block_size. Block ids outside [0, num_blocks) read as masked.
struct PagedAttentionProblem {
  const void* q = nullptr;  // [heads, num_tokens, d1 + d2]
  const void* k1 = nullptr;
  const void* k2 = nullptr;
  const void* v = nullptr;
  // f8_e4m3 pools: the f32 scale of each row, indexed as the rows are (null otherwise).
  const float* k1_scales = nullptr;
  const float* k2_scales = nullptr;
  const float* v_scales = nullptr;
  void* out = nullptr;            // [heads, num_tokens, dv]
  DType dtype = DType::kBF16;     // q and out
  DType kv_dtype = DType::kBF16;  // k1, k2 and v
  size_t d1 = 0, d2 = 0, dv = 0;
  size_t heads = 0, kv_heads = 0;
  const int32_t* query_start = nullptr;   // [num_seqs + 1]
  const int32_t* context_lens = nullptr;  // [num_seqs]
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq]
  size_t num_seqs = 0, num_tokens = 0, max_blocks_per_seq = 0, block_size = 0, num_blocks = 0;
  size_t max_query_len = 0, max_context_len = 0;  // bounds the launch is shaped by
  // Sequences [flash_seq_begin, flash_seq_end) may hold prefill chunks for the tensor-core kernel
  // (every sequence when the host does not know the batch; none when it knows there are none).
  size_t flash_seq_begin = 0, flash_seq_end = SIZE_MAX;
  bool causal = true;
  size_t window = 0;
  float scale = 1.0f;
  // out as [num_tokens, heads, dv] instead: only where paged_decode_takes (the decode kernels).
  bool token_major_out = false;
};

// Whether the batch runs on the decode-only kernels (paged_decode_mma.cuh / paged_decode.cuh),
// the ones that can write the output token-major.
bool paged_decode_takes(const PagedAttentionProblem& problem);

// Scratch for the split partials (0 when the launch runs unsplit), given the SM count.
size_t paged_attention_scratch_bytes(const PagedAttentionProblem& problem, int sm_count);
// K/V may be bf16 or f16 under f32 q/out, or f8_e4m3 under any q/out; otherwise all four share one dtype.
Status launch_paged_attention(const PagedAttentionProblem& problem, int sm_count, void* scratch, cudaStream_t stream);

}  // namespace ferrum::cuda
