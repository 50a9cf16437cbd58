// qk_norm_rope: optional per-head RMS norm, optional rotate-half RoPE, and the transpose from
// token-major [tokens, heads, head_dim] to head-major [heads, tokens, head_dim], in one pass.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

struct QkNormRopeArgs {
  const void* input = nullptr;
  void* output = nullptr;
  DType act_dtype = DType::kF32;  // input and output
  const void* norm_w = nullptr;   // mode 1
  DType norm_dtype = DType::kF32;
  const void* cos = nullptr;  // modes 1, 2: [positions, head_dim / 2]
  const void* sin = nullptr;
  DType rope_dtype = DType::kF32;  // cos and sin
  size_t positions = 0;            // rows of cos / sin; rows past it leave the rotation out (dyn mode)
  size_t tokens = 0, heads = 0, head_dim = 0;
  size_t pos_offset = 0;
  const int32_t* dyn_state = nullptr;  // when set, pos_offset = dyn_state[kStep]
  float eps = 0.0f;
  int mode = 0;
};

Status launch_qk_norm_rope(const QkNormRopeArgs& args, cudaStream_t stream);

// The attention prologue in one pass over a fused projection's output: from qkv [tokens, (heads +
// 2 kv_heads) * head_dim], q (normed with q_norm in mode 1, rotated) goes to q_heads [heads, tokens,
// head_dim]; k (likewise with k_norm) and v go into the head-major caches [kv_heads, capacity,
// head_dim] at rows pos..pos + tokens (rows past capacity are dropped), or, with slot_mapping set,
// into paged pools [num_blocks, kv_heads, block_size, head_dim] at token t's slot (a slot outside
// the pools drops the row; pos_offset is then 0 and cos / sin hold one row per token). qkv, q_heads
// and the caches share one float dtype; norm weights and cos / sin are f32.
struct QkvRopeAppendArgs {
  const void* qkv = nullptr;
  void* q_heads = nullptr;
  void* cache_k = nullptr;
  void* cache_v = nullptr;
  DType dtype = DType::kBF16;
  const float* q_norm = nullptr;  // mode 1
  const float* k_norm = nullptr;
  const float* cos = nullptr;  // [positions, head_dim / 2]
  const float* sin = nullptr;
  size_t positions = 0;
  size_t tokens = 0, heads = 0, kv_heads = 0, head_dim = 0, capacity = 0;
  size_t pos_offset = 0;
  const int32_t* dyn_state = nullptr;  // when set, pos_offset = dyn_state[kStep]
  float eps = 0.0f;
  int mode = 2;                           // kQkRope or kQkNormRope
  const int32_t* slot_mapping = nullptr;  // paged pools: [tokens] slots
  size_t block_size = 0, num_slots = 0;
};

Status launch_qkv_rope_append(const QkvRopeAppendArgs& args, cudaStream_t stream);

}  // namespace ferrum::cuda
