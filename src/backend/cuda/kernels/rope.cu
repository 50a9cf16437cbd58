#include <algorithm>
#include <climits>

#include "backend/backend_types.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/launch.cuh"
#include "backend/cuda/kernels/rope.h"

namespace ferrum::cuda {
namespace {

constexpr unsigned kWarpsPerBlock = 4;

// One warp per (token, head). Lane l handles the rotation pairs (d, d + head_dim/2) for
// d = l, l + 32, ...; the norm statistic is a warp reduction, so no shared memory is needed.
template <class A, class N, class R, int kMode>
__global__ void qk_norm_rope_kernel(const A* __restrict__ input, A* __restrict__ output, const N* __restrict__ norm_w,
                                    const R* __restrict__ cos, const R* __restrict__ sin, size_t positions,
                                    size_t tokens, size_t heads, int head_dim, size_t pos_offset,
                                    const int32_t* dyn_state, float eps) {
  const size_t item = blockIdx.x * size_t{kWarpsPerBlock} + threadIdx.x / 32;
  if (item >= tokens * heads) return;
  const int lane = threadIdx.x % 32;
  const size_t t = item / heads, h = item % heads;
  const A* in = input + item * head_dim;  // input is [tokens, heads, hd]: item = t * heads + h
  A* out = output + (h * tokens + t) * head_dim;
  if constexpr (kMode == kQkTransposeOnly) {
    for (int d = lane; d < head_dim; d += 32) out[d] = in[d];
    return;
  } else {
    const int half = head_dim / 2;
    float inv_rms = 1.0f;
    if constexpr (kMode == kQkNormRope) {
      float sum_sq = 0.0f;
      for (int d = lane; d < head_dim; d += 32) {
        const float x = to_f32(in[d]);
        sum_sq += x * x;
      }
      inv_rms = rsqrtf(warp_sum(sum_sq) / head_dim + eps);
    }
    const size_t base = dyn_state ? static_cast<size_t>(dyn_state[DecodeStateSlots::kStep]) : pos_offset;
    const size_t pos = base + t;
    const bool rotate = pos < positions;
    for (int d = lane; d < half; d += 32) {
      float x1 = to_f32(in[d]), x2 = to_f32(in[d + half]);
      if constexpr (kMode == kQkNormRope) {
        x1 *= inv_rms * to_f32(norm_w[d]);
        x2 *= inv_rms * to_f32(norm_w[d + half]);
      }
      const float c = rotate ? to_f32(cos[pos * half + d]) : 1.0f;
      const float s = rotate ? to_f32(sin[pos * half + d]) : 0.0f;
      out[d] = from_f32<A>(x1 * c - x2 * s);
      out[d + half] = from_f32<A>(x2 * c + x1 * s);
    }
  }
}

template <int kMode>
Status launch_mode(const QkNormRopeArgs& a, cudaStream_t stream) {
  const dim3 grid(ceil_div(a.tokens * a.heads, kWarpsPerBlock));
  const dim3 block(32 * kWarpsPerBlock);
  const auto* cos = a.cos;
  const auto* sin = a.sin;
  // Instantiate only the operand types each mode reads (3 + 9 + 27 kernels instead of 81).
  if constexpr (kMode == kQkTransposeOnly) {
    FERRUM_DISPATCH_FLOAT(a.act_dtype, A, "qk_norm_rope", {
      qk_norm_rope_kernel<A, float, float, kMode><<<grid, block, 0, stream>>>(
          static_cast<const A*>(a.input), static_cast<A*>(a.output), nullptr, nullptr, nullptr, a.positions, a.tokens,
          a.heads, static_cast<int>(a.head_dim), a.pos_offset, a.dyn_state, a.eps);
    });
  } else if constexpr (kMode == kQkRope) {
    FERRUM_DISPATCH_FLOAT(a.act_dtype, A, "qk_norm_rope", FERRUM_DISPATCH_FLOAT(a.rope_dtype, R, "qk_norm_rope", {
                            qk_norm_rope_kernel<A, float, R, kMode><<<grid, block, 0, stream>>>(
                                static_cast<const A*>(a.input), static_cast<A*>(a.output), nullptr,
                                static_cast<const R*>(cos), static_cast<const R*>(sin), a.positions, a.tokens, a.heads,
                                static_cast<int>(a.head_dim), a.pos_offset, a.dyn_state, a.eps);
                          }));
  } else {
    FERRUM_DISPATCH_FLOAT(
        a.act_dtype, A, "qk_norm_rope",
        FERRUM_DISPATCH_FLOAT(a.norm_dtype, N, "qk_norm_rope", FERRUM_DISPATCH_FLOAT(a.rope_dtype, R, "qk_norm_rope", {
                                qk_norm_rope_kernel<A, N, R, kMode><<<grid, block, 0, stream>>>(
                                    static_cast<const A*>(a.input), static_cast<A*>(a.output),
                                    static_cast<const N*>(a.norm_w), static_cast<const R*>(cos),
                                    static_cast<const R*>(sin), a.positions, a.tokens, a.heads,
                                    static_cast<int>(a.head_dim), a.pos_offset, a.dyn_state, a.eps);
                              })));
  }
  return check_launch("qk_norm_rope", grid, block);
}

// Where token t's K or V row of KV head h goes: the head-major cache row pos, or the pool row of
// its slot (PagedRows set); null drops it.
struct PagedRows {
  const int32_t* slot_mapping;
  int block_size;
  long long num_slots;
};

template <class A>
__device__ __forceinline__ A* kv_destination(A* cache, int h, int t, int pos, int kv_heads, int head_dim, int capacity,
                                             const PagedRows& paged) {
  if (paged.slot_mapping == nullptr) {
    return pos < capacity ? cache + (static_cast<size_t>(h) * capacity + pos) * head_dim : nullptr;
  }
  const int slot = paged.slot_mapping[t];
  if (slot < 0 || slot >= paged.num_slots) return nullptr;
  const size_t block = static_cast<size_t>(slot) / paged.block_size, row = static_cast<size_t>(slot) % paged.block_size;
  return cache + ((block * kv_heads + h) * paged.block_size + row) * head_dim;
}

// One warp per (token, slot), slots being the q heads, then the k heads, then the v heads of the
// fused row; the same arithmetic as qk_norm_rope_kernel, with the output going straight to its
// final place (q_heads, or the cache row of this token).
template <class A, int kMode>
__global__ void qkv_rope_append_kernel(const A* __restrict__ qkv, A* __restrict__ q_heads, A* cache_k, A* cache_v,
                                       const float* __restrict__ q_norm, const float* __restrict__ k_norm,
                                       const float* __restrict__ cos, const float* __restrict__ sin, int positions,
                                       int tokens, int heads, int kv_heads, int head_dim, int capacity, int pos_offset,
                                       const int32_t* dyn_state, float eps, PagedRows paged) {
  pdl_launch_dependents();
  pdl_wait();
  const int slots = heads + 2 * kv_heads;
  const int item = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
  if (item >= tokens * slots) return;
  const int lane = threadIdx.x % 32;
  const int t = item / slots, slot = item % slots;
  const A* in = qkv + static_cast<size_t>(item) * head_dim;
  const int pos = (dyn_state ? dyn_state[DecodeStateSlots::kStep] : pos_offset) + t;
  if (slot >= heads + kv_heads) {
    A* out = kv_destination(cache_v, slot - heads - kv_heads, t, pos, kv_heads, head_dim, capacity, paged);
    if (out == nullptr) return;
    for (int d = lane; d < head_dim; d += 32) out[d] = in[d];
    return;
  }
  const bool is_q = slot < heads;
  A* out = is_q ? q_heads + (static_cast<size_t>(slot) * tokens + t) * head_dim
                : kv_destination(cache_k, slot - heads, t, pos, kv_heads, head_dim, capacity, paged);
  if (out == nullptr) return;
  const int half = head_dim / 2;
  float inv_rms = 1.0f;
  const float* norm_w = is_q ? q_norm : k_norm;
  if constexpr (kMode == kQkNormRope) {
    float sum_sq = 0.0f;
    for (int d = lane; d < head_dim; d += 32) {
      const float x = to_f32(in[d]);
      sum_sq += x * x;
    }
    inv_rms = rsqrtf(warp_sum(sum_sq) / head_dim + eps);
  }
  const bool rotate = pos < positions;
  for (int d = lane; d < half; d += 32) {
    float x1 = to_f32(in[d]), x2 = to_f32(in[d + half]);
    if constexpr (kMode == kQkNormRope) {
      x1 *= inv_rms * norm_w[d];
      x2 *= inv_rms * norm_w[d + half];
    }
    const float c = rotate ? cos[static_cast<size_t>(pos) * half + d] : 1.0f;
    const float s = rotate ? sin[static_cast<size_t>(pos) * half + d] : 0.0f;
    out[d] = from_f32<A>(x1 * c - x2 * s);
    out[d + half] = from_f32<A>(x2 * c + x1 * s);
  }
}

}  // namespace

Status launch_qkv_rope_append(const QkvRopeAppendArgs& a, cudaStream_t stream) {
  const size_t items = a.tokens * (a.heads + 2 * a.kv_heads);
  if (items == 0 || a.head_dim == 0) return ok();
  FERRUM_CHECK(items * a.head_dim < (size_t{1} << 31) && a.capacity < (size_t{1} << 31) &&
                   a.pos_offset + a.tokens < (size_t{1} << 31) && a.num_slots < (size_t{1} << 31),
               ErrorCode::kUnsupported, "qkv_rope_kv_append: sizes exceed the kernel's 31-bit indices");
  const dim3 grid(ceil_div(items, kWarpsPerBlock));
  const dim3 block(32 * kWarpsPerBlock);
  FERRUM_DISPATCH_FLOAT(a.dtype, A, "qkv_rope_kv_append", {
    const auto run = [&](auto kernel) {
      return launch_kernel(
          "qkv_rope_kv_append", kernel, grid, block, 0, stream, static_cast<const A*>(a.qkv),
          static_cast<A*>(a.q_heads), static_cast<A*>(a.cache_k), static_cast<A*>(a.cache_v), a.q_norm, a.k_norm, a.cos,
          a.sin, static_cast<int>(std::min<size_t>(a.positions, INT32_MAX)), static_cast<int>(a.tokens),
          static_cast<int>(a.heads), static_cast<int>(a.kv_heads), static_cast<int>(a.head_dim),
          static_cast<int>(a.capacity), static_cast<int>(a.pos_offset), a.dyn_state, a.eps,
          PagedRows{a.slot_mapping, static_cast<int>(a.block_size), static_cast<long long>(a.num_slots)});
    };
    if (a.mode == kQkNormRope) return run(qkv_rope_append_kernel<A, kQkNormRope>);
    return run(qkv_rope_append_kernel<A, kQkRope>);
  });
  return ok();
}

Status launch_qk_norm_rope(const QkNormRopeArgs& args, cudaStream_t stream) {
  if (args.tokens * args.heads * args.head_dim == 0) return ok();
  switch (args.mode) {
    case kQkTransposeOnly: return launch_mode<kQkTransposeOnly>(args, stream);
    case kQkNormRope: return launch_mode<kQkNormRope>(args, stream);
    case kQkRope: return launch_mode<kQkRope>(args, stream);
    default: return make_error(ErrorCode::kInvalidArgument, "qk_norm_rope: mode ", args.mode, " is not 0, 1 or 2");
  }
}

}  // namespace ferrum::cuda
