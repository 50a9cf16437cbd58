// Helpers shared by the CPU op files: dtype dispatch to C++ element types and work splitting.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string_view>
#include <type_traits>

#include "backend/cpu/cpu_backend.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/half.h"

namespace ferrum::cpu {

inline bool is_plain_float(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

// Calls f(T{}) with T the element type of a plain float dtype (float, f16 or bf16), so kernels are
// templates over the stored type. Callers have checked is_plain_float.
template <class F>
decltype(auto) with_float_type(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kF16: return f(f16{});
    case DType::kBF16: return f(bf16{});
    default: return f(float{});
  }
}

// Stores an f32 value as T (rounding to nearest even for the 16-bit types).
template <class T>
inline T from_f32(float value) {
  if constexpr (std::is_same_v<T, f16>) {
    return to_f16(value);
  } else if constexpr (std::is_same_v<T, bf16>) {
    return to_bf16(value);
  } else {
    return value;
  }
}

// Below this much work (in element operations) a loop chunk is not worth handing to another
// thread: waking a worker costs a few microseconds, decode runs hundreds of small ops per token.
inline constexpr size_t kMinParallelWork = size_t{1} << 15;

// Smallest chunk of items, each costing `work_per_item`, worth running on its own thread.
inline size_t grain_for(size_t work_per_item) {
  return std::max<size_t>(1, kMinParallelWork / std::max<size_t>(1, work_per_item));
}

// Per-thread scratch memory, one region per purpose so nested users never share one.
enum class Scratch { kGemmPackedB, kDecodedWeights, kAttention, kCount };

// A 64-byte aligned region of at least `floats` floats for the calling thread, reused across calls
// (grown when too small, contents not preserved). Kernels ask for at most a few MiB from inside
// parallel loops, where no error can be returned, so a failed allocation aborts the process.
float* thread_scratch(Scratch purpose, size_t floats);

inline void parallel_for(CpuContext& ctx, size_t count, size_t grain, const std::function<void(size_t, size_t)>& body) {
  ctx.pool->parallel_for(count, grain, body);
}

// Runs body(begin, end) over [0, len) in pieces of whole 1024-element blocks (so vector loops only
// see a tail at the very end), on several threads once len * work_per_element is large enough.
template <class Body>
void parallel_elements(CpuContext& ctx, size_t len, size_t work_per_element, const Body& body) {
  constexpr size_t kBlock = 1024;
  const size_t blocks = (len + kBlock - 1) / kBlock;
  parallel_for(ctx, blocks, grain_for(kBlock * work_per_element),
               [&](size_t first, size_t last) { body(first * kBlock, std::min(len, last * kBlock)); });
}

// Checks that [offset, offset + len) lies within a buffer of `numel` elements, without overflow.
Status check_range(std::string_view op, std::string_view arg, size_t numel, size_t offset, size_t len);

// copy_slice under another op's name (all_gather is a copy with one rank).
Status copy_elements(std::string_view op, const CpuBuffer& src, size_t src_offset, CpuBuffer& dst, size_t dst_offset,
                     size_t len);

}  // namespace ferrum::cpu
