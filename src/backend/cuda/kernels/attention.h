// Attention launchers: flash attention on tensor cores for prefill, a split-KV kernel for decode
// (and for every shape or dtype the tensor-core kernel does not take), and MLA through the same
// split-KV kernel with a two-part key.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

// One attention call in element terms. Keys are the concatenation of a row of k1 (d1 values) and,
// when d2 > 0, a row of k2 (d2 values); values are rows of v (dv values). Row j of KV head kh in
// batch b of source s sits at s + ((b * kv_heads + kh) * kv_stride + j) * d_s.
struct AttentionProblem {
  const void* q = nullptr;  // [batch, heads, q_len, d1 + d2]
  const void* k1 = nullptr;
  const void* k2 = nullptr;
  const void* v = nullptr;
  void* out = nullptr;            // [batch, heads, q_len, dv]
  DType dtype = DType::kBF16;     // q and out
  DType kv_dtype = DType::kBF16;  // k1, k2 and v
  size_t d1 = 0, d2 = 0, dv = 0;
  size_t batch = 0, heads = 0, kv_heads = 0, q_len = 0, kv_len = 0, kv_stride = 0, pos_offset = 0;
  bool causal = false;
  size_t window = 0;
  float scale = 1.0f;
  // Device-state mode: pos_offset = dyn_state[kStep] and kv_len = that + (kv_len - pos_offset).
  const int32_t* dyn_state = nullptr;
};

// Scratch the split-KV path needs for this problem (0 when it runs unsplit), given the SM count.
size_t split_kv_scratch_bytes(const AttentionProblem& problem, int sm_count);
// The split-KV kernel (decode, and the general fallback). `scratch` holds split_kv_scratch_bytes.
// K/V may be bf16 or f16 under f32 q/out; otherwise all four share one dtype.
Status launch_split_kv_attention(const AttentionProblem& problem, int sm_count, void* scratch, cudaStream_t stream);

// The decode kernel (attention_decode.cuh): one query row per head, bf16 / f16 throughout,
// head_dim 64 or 128, causal, at most 8 query heads per KV head, no second key part.
bool decode_attention_supports(const AttentionProblem& problem, size_t counters);
// Partials scratch it needs (0 when one split suffices), given the SM count.
size_t decode_attention_scratch_bytes(const AttentionProblem& problem, int sm_count);
// RoPE fused into the decode kernel: q and the new K / V row come from the fused projection row
// (batch 1), normed (mode 1) and rotated in the kernel, which also appends the new row to the caches.
struct DecodeRopeInputs {
  const void* qkv = nullptr;  // [(heads + 2 kv_heads) * head_dim], the problem's dtype
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  const float* cos = nullptr;  // [positions, head_dim / 2]
  const float* sin = nullptr;
  size_t positions = 0;
  int mode = 2;  // kQkRope or kQkNormRope
  float eps = 0.0f;
};

// `counters` holds batch * kv_heads ints that are zero (and are left zero). With `rope`, problem.q
// is unused and problem.batch must be 1.
Status launch_decode_attention(const AttentionProblem& problem, int sm_count, void* partials, int* counters,
                               cudaStream_t stream, const DecodeRopeInputs* rope = nullptr);

// True when the tensor-core kernel takes this problem (q, k, v, out all bf16 or all f16, head_dim 64/80/96/128/256, no
// second key part, eager mode).
bool flash_attention_supports(const AttentionProblem& problem);
Status launch_flash_attention(const AttentionProblem& problem, cudaStream_t stream);

}  // namespace ferrum::cuda
