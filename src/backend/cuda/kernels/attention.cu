#include <algorithm>
#include <climits>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention.h"
#include "backend/cuda/kernels/attention_decode.cuh"
#include "backend/cuda/kernels/attention_split_kv.cuh"
#include "backend/cuda/kernels/flash_attention.cuh"

namespace ferrum::cuda {
namespace {

// How the split-KV launch is shaped for one problem.
struct SplitKvShape {
  int rows_per_block = 8;
  int dv_per_lane = 4;
  int num_splits = 1;
  size_t total_rows = 0;
};

SplitKvShape split_kv_shape(const AttentionProblem& a, int sm_count) {
  SplitKvShape shape;
  shape.dv_per_lane = a.dv <= 128 ? 4 : a.dv <= 256 ? 8 : 16;
  const size_t group_rows = a.heads / a.kv_heads * a.q_len;
  // Four rows when the GQA group (times q_len) has at most four: no idle rows in the dot products.
  shape.rows_per_block = shape.dv_per_lane == 16 || group_rows <= 4 ? 4 : 8;
  const size_t row_blocks = (group_rows + shape.rows_per_block - 1) / shape.rows_per_block;
  shape.total_rows = a.batch * a.heads * a.q_len;
  // Enough blocks for two waves; each split keeps at least 128 keys (one 32-key tile per warp) so
  // the combine stays cheap, or 64 in device-state mode.
  // In device-state mode kv_len grows after capture, so size for the whole cache.
  const size_t keys = a.dyn_state != nullptr ? a.kv_stride : a.kv_len;
  const size_t base_blocks = a.batch * a.kv_heads * row_blocks;
  const size_t wanted = (2 * static_cast<size_t>(sm_count) + base_blocks - 1) / base_blocks;
  // Device-state (graph) decode runs on short caches as often as long ones; 64-key splits there
  // halve each block's dependent chain of loads (the step is latency-bound below ~2k keys).
  const size_t max_by_keys = std::max<size_t>(1, keys / (a.dyn_state != nullptr ? 64 : 128));
  shape.num_splits = static_cast<int>(std::clamp<size_t>(std::min(wanted, max_by_keys), 1, 64));
  return shape;
}

template <class TQ, class TK>
Status launch_split_kv_shaped(const SplitKvParams& p, const SplitKvShape& shape, const AttentionProblem& a,
                              cudaStream_t stream) {
  if (shape.dv_per_lane == 16) return launch_split_kv_kernel<TQ, TK, 4, 16>(p, a.batch, a.kv_heads, stream);
  if (shape.rows_per_block == 4) {
    if (shape.dv_per_lane == 4) return launch_split_kv_kernel<TQ, TK, 4, 4>(p, a.batch, a.kv_heads, stream);
    return launch_split_kv_kernel<TQ, TK, 4, 8>(p, a.batch, a.kv_heads, stream);
  }
  if (shape.dv_per_lane == 4) return launch_split_kv_kernel<TQ, TK, 8, 4>(p, a.batch, a.kv_heads, stream);
  return launch_split_kv_kernel<TQ, TK, 8, 8>(p, a.batch, a.kv_heads, stream);
}

template <class T>
Status launch_flash_for_type(const AttentionProblem& a, cudaStream_t stream) {
  switch (a.d1) {
    case 64: return launch_flash_kernel<T, 64, 64, kFlashWarps>(a, stream);
    case 80: return launch_flash_kernel<T, 80, 64, kFlashWarps>(a, stream);
    case 96: return launch_flash_kernel<T, 96, 64, kFlashWarps>(a, stream);
    case 128: return launch_flash_kernel<T, 128, 64, kFlashWarps>(a, stream);
    case 256: return launch_flash_kernel<T, 256, 32, kFlashWarps>(a, stream);
    default: return make_error(ErrorCode::kInternal, "flash_attention: head_dim ", a.d1, " has no kernel");
  }
}

struct DecodeShape {
  int num_splits = 1;
  int keys_per_split = kDecodeKeys;
};

// Enough splits for about two waves of blocks, each a whole number of 64-key tiles. In
// device-state mode the key count is only known on the device, so the cache's capacity (or the
// window) sizes the launch, and the kernel spreads the keys cached at each step over as many of
// these splits as it needs (DecodeAttentionParams::resplit).
DecodeShape decode_shape(const AttentionProblem& a, int sm_count) {
  size_t keys = a.dyn_state != nullptr ? a.kv_stride : a.kv_len;
  if (a.window > 0) keys = std::min(keys, a.window);
  keys = std::max<size_t>(keys, 1);
  const size_t blocks = a.batch * a.kv_heads;
  const size_t wanted = std::max<size_t>(1, (2 * static_cast<size_t>(sm_count) + blocks - 1) / blocks);
  const size_t tiles = (keys + kDecodeKeys - 1) / kDecodeKeys;
  const size_t splits = std::clamp<size_t>(std::min(wanted, tiles), 1, kDecodeMaxSplits);
  DecodeShape shape;
  shape.keys_per_split = static_cast<int>((tiles + splits - 1) / splits * kDecodeKeys);
  shape.num_splits = static_cast<int>((keys + shape.keys_per_split - 1) / shape.keys_per_split);
  return shape;
}

template <class T, int kHeadDim, int kThreads>
Status launch_decode_kernel(const DecodeAttentionParams& p, const AttentionProblem& a, bool fused_rope,
                            cudaStream_t stream) {
  const size_t shared = decode_attention_shared_bytes(kHeadDim, sizeof(T));
  const dim3 grid(static_cast<unsigned>(p.num_splits), static_cast<unsigned>(a.kv_heads),
                  static_cast<unsigned>(a.batch));
  if (fused_rope) {
    return launch_kernel("decode_attention(rope)", decode_attention_kernel<T, kHeadDim, true, kThreads>, grid,
                         dim3(kThreads), shared, stream, p);
  }
  return launch_kernel("decode_attention", decode_attention_kernel<T, kHeadDim, false, kThreads>, grid, dim3(kThreads),
                       shared, stream, p);
}

template <class T>
Status launch_decode_kernel(const DecodeAttentionParams& p, const AttentionProblem& a, bool fused_rope,
                            cudaStream_t stream) {
  const bool wide = decode_attention_threads() == 256;
  if (a.d1 == 64) {
    return wide ? launch_decode_kernel<T, 64, 256>(p, a, fused_rope, stream)
                : launch_decode_kernel<T, 64, 128>(p, a, fused_rope, stream);
  }
  return wide ? launch_decode_kernel<T, 128, 256>(p, a, fused_rope, stream)
              : launch_decode_kernel<T, 128, 128>(p, a, fused_rope, stream);
}

}  // namespace

bool decode_attention_supports(const AttentionProblem& a, size_t counters) {
  const bool half_type = (a.dtype == DType::kBF16 || a.dtype == DType::kF16) && a.kv_dtype == a.dtype;
  const bool dims = a.d2 == 0 && a.dv == a.d1 && (a.d1 == 64 || a.d1 == 128);
  const bool aligned = is_aligned(a.q, 16) && is_aligned(a.k1, 16) && is_aligned(a.v, 16) && is_aligned(a.out, 4);
  const bool group = a.kv_heads > 0 && a.heads % a.kv_heads == 0 && a.heads / a.kv_heads <= kDecodeMaxGroup;
  return half_type && dims && aligned && group && a.q_len == 1 && a.causal && a.batch * a.kv_heads <= counters &&
         a.kv_stride < (size_t{1} << 30) && a.batch <= 65535 && a.kv_heads <= 65535;
}

size_t decode_attention_scratch_bytes(const AttentionProblem& a, int sm_count) {
  const DecodeShape shape = decode_shape(a, sm_count);
  if (shape.num_splits == 1) return 0;
  return sizeof(float) * static_cast<size_t>(shape.num_splits) * a.batch * a.heads * (a.dv + 2);
}

Status launch_decode_attention(const AttentionProblem& a, int sm_count, void* partials, int* counters,
                               cudaStream_t stream, const DecodeRopeInputs* rope) {
  if (a.batch * a.heads == 0) return ok();
  FERRUM_CHECK(rope == nullptr || a.batch == 1, ErrorCode::kInternal, "decode attention: fused RoPE needs batch 1");
  const DecodeShape shape = decode_shape(a, sm_count);
  DecodeAttentionParams p{};
  p.q = a.q;
  p.k = a.k1;
  p.v = a.v;
  p.out = a.out;
  p.partials = static_cast<float*>(partials);
  p.counters = counters;
  p.heads = static_cast<int>(a.heads);
  p.kv_heads = static_cast<int>(a.kv_heads);
  p.group = static_cast<int>(a.heads / a.kv_heads);
  p.kv_len = static_cast<int>(a.kv_len);
  p.kv_stride = static_cast<int>(a.kv_stride);
  p.pos_offset = static_cast<int>(a.pos_offset);
  p.kv_minus_pos = static_cast<int>(a.kv_len) - static_cast<int>(a.pos_offset);
  p.window = static_cast<int>(a.window);
  p.scale_log2 = a.scale * 1.4426950408889634f;
  p.dyn_state = a.dyn_state;
  p.num_splits = shape.num_splits;
  p.keys_per_split = shape.keys_per_split;
  p.resplit = decode_attention_resplit();
  const bool fused = rope != nullptr;
  if (fused) {
    p.qkv = rope->qkv;
    p.q_norm = rope->q_norm;
    p.k_norm = rope->k_norm;
    p.cos = rope->cos;
    p.sin = rope->sin;
    p.positions = static_cast<int>(std::min<size_t>(rope->positions, INT32_MAX));
    p.rope_mode = rope->mode;
    p.eps = rope->eps;
  }
  if (a.dtype == DType::kBF16) return launch_decode_kernel<bf16_t>(p, a, fused, stream);
  return launch_decode_kernel<f16_t>(p, a, fused, stream);
}

size_t split_kv_scratch_bytes(const AttentionProblem& problem, int sm_count) {
  const SplitKvShape shape = split_kv_shape(problem, sm_count);
  if (shape.num_splits == 1) return 0;
  return sizeof(float) * static_cast<size_t>(shape.num_splits) * shape.total_rows * (problem.dv + 2);
}

Status launch_split_kv_attention(const AttentionProblem& a, int sm_count, void* scratch, cudaStream_t stream) {
  if (a.batch * a.heads * a.q_len == 0 || a.dv == 0) return ok();
  FERRUM_CHECK(a.dv <= 512, ErrorCode::kUnsupported, "attention: value dim ", a.dv, " exceeds the CUDA kernel's 512");
  FERRUM_CHECK(a.kv_stride < (size_t{1} << 31) / 2 && a.q_len < (size_t{1} << 31) / 2, ErrorCode::kUnsupported,
               "attention: sizes exceed the kernel's 31-bit indices");
  const SplitKvShape shape = split_kv_shape(a, sm_count);
  const SplitKvParams p = make_split_kv_params(a, shape.num_splits, shape.rows_per_block, scratch);
  if (a.kv_dtype == a.dtype) {
    FERRUM_DISPATCH_FLOAT(a.dtype, T, "attention", { return launch_split_kv_shaped<T, T>(p, shape, a, stream); });
  } else if (a.dtype == DType::kF32 && a.kv_dtype == DType::kBF16) {
    return launch_split_kv_shaped<float, bf16_t>(p, shape, a, stream);
  } else if (a.dtype == DType::kF32 && a.kv_dtype == DType::kF16) {
    return launch_split_kv_shaped<float, f16_t>(p, shape, a, stream);
  }
  return make_error(ErrorCode::kUnsupported, "attention: q/out ", a.dtype, " with K/V ", a.kv_dtype,
                    " (the CUDA backend takes equal dtypes, or f32 q/out over a bf16/f16 cache)");
}

bool flash_attention_supports(const AttentionProblem& a) {
  const bool half_type = (a.dtype == DType::kBF16 || a.dtype == DType::kF16) && a.kv_dtype == a.dtype;
  const bool dims = a.d2 == 0 && a.dv == a.d1 && (a.d1 == 64 || a.d1 == 80 || a.d1 == 96 || a.d1 == 128 || a.d1 == 256);
  const bool aligned = is_aligned(a.q, 16) && is_aligned(a.k1, 16) && is_aligned(a.v, 16) && is_aligned(a.out, 16);
  return half_type && dims && aligned && a.dyn_state == nullptr;
}

Status launch_flash_attention(const AttentionProblem& a, cudaStream_t stream) {
  if (a.batch * a.heads * a.q_len == 0) return ok();
  if (a.dtype == DType::kBF16) return launch_flash_for_type<bf16_t>(a, stream);
  return launch_flash_for_type<f16_t>(a, stream);
}

}  // namespace ferrum::cuda
