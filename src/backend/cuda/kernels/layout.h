// Data movement kernels: splitting fused QKV, head-major <-> token-major transposes, appending to a
// head-major KV cache, embedding gathers (any stored dtype, GGUF blocks included) and the tiny
// kernel that writes the decode state. Kernels with a `dyn_state` argument read their position
// (or token) from device memory when it is non-null, so a captured graph can be replayed per step.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

// qkv [tokens, q_dim + 2 kv_dim] -> q [tokens, q_dim], k, v [tokens, kv_dim]; one element size.
Status launch_split_qkv(const void* qkv, void* q, void* k, void* v, size_t elem_bytes, size_t tokens, size_t q_dim,
                        size_t kv_dim, cudaStream_t stream);
// [heads, tokens, dim] -> [tokens, heads, dim]
Status launch_transpose_head_to_token(const void* src, void* dst, size_t elem_bytes, size_t tokens, size_t heads,
                                      size_t dim, cudaStream_t stream);
// cache [nkv, capacity, hd] rows start.. <- new [nkv, new_tokens, hd], for K and V in one launch,
// converting when the cache dtype differs from the new rows' (f32 activations into a bf16 cache).
// start = dyn_state ? dyn_state[kStep] : cache_len; rows past capacity are dropped on the device.
struct KvAppendArgs {
  void* cache_k = nullptr;
  void* cache_v = nullptr;
  DType cache_dtype = DType::kF32;
  const void* new_k = nullptr;
  const void* new_v = nullptr;
  DType new_dtype = DType::kF32;
  size_t cache_len = 0, capacity = 0, new_tokens = 0, nkv = 0, hd = 0;
  const int32_t* dyn_state = nullptr;
};
Status launch_kv_append(const KvAppendArgs& args, cudaStream_t stream);

// out[i, :] = dequant(table[ids[i] - first_id, :]) for i < count. `ids` is a device array; with
// dyn_state the single id is dyn_state[kToken] instead. Ids outside [first_id, first_id + rows) give
// a zero row (another rank's slice of the vocabulary; the host validates eager ids of a whole table).
struct EmbeddingArgs {
  const void* table = nullptr;
  DType table_dtype = DType::kF32;
  size_t rows = 0;
  size_t dim = 0;
  const uint32_t* ids = nullptr;
  uint32_t first_id = 0;
  const int32_t* dyn_state = nullptr;
  size_t count = 0;
  void* out = nullptr;
  DType out_dtype = DType::kF32;
};
Status launch_embedding(const EmbeddingArgs& args, cudaStream_t stream);

// decode_state[kToken] = token, decode_state[kStep] = step, ordered on `stream`.
Status launch_set_decode_state(int32_t* decode_state, uint32_t token, uint32_t step, cudaStream_t stream);

}  // namespace ferrum::cuda
