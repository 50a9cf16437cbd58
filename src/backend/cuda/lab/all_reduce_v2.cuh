// All-reduce v2 (shipped until v3; kept for the lab): NCCL's LL idea. Slots hold "lines" of 8
// bytes, 4 bytes of data beside the call's epoch, stored together (an aligned 8-byte store is
// single-copy atomic), so a reader that sees the epoch sees the data with it: no fence, no flag,
// twice the bytes. The epoch (ipc_begin_call) also picks the half. Buffer: [2][ranks] slots of
// 2 * kIpcMaxBytes (v2_buffer_bytes), zeroed once.
#pragma once

#include "backend/cuda/kernels/ipc_all_reduce.cuh"

namespace lab_v2 {

using ferrum::cuda::IpcAllReduceArgs;

inline size_t v2_buffer_bytes(int ranks) {
  return 2 * static_cast<size_t>(ranks) * 2 * ferrum::cuda::kIpcMaxBytes;
}

// Two lines: data words w0 and w1, each beside the epoch.
__device__ __forceinline__ void store_lines(uint64_t* p, uint32_t w0, uint32_t w1, uint32_t epoch) {
  const uint64_t a = (uint64_t{epoch} << 32) | w0, b = (uint64_t{epoch} << 32) | w1;
  asm volatile("st.volatile.global.v2.u64 [%0], {%1, %2};" ::"l"(p), "l"(a), "l"(b) : "memory");
}

// Reads two lines (past L1); true when both carry `epoch`.
__device__ __forceinline__ bool load_lines(const uint64_t* p, uint32_t epoch, uint32_t& w0, uint32_t& w1) {
  uint64_t a, b;
  asm volatile("ld.volatile.global.v2.u64 {%0, %1}, [%2];" : "=l"(a), "=l"(b) : "l"(p) : "memory");
  w0 = static_cast<uint32_t>(a);
  w1 = static_cast<uint32_t>(b);
  return static_cast<uint32_t>(a >> 32) == epoch && static_cast<uint32_t>(b >> 32) == epoch;
}

// Rank `src`'s lines in rank `owner`'s buffer: four per 16-byte unit.
__device__ __forceinline__ uint64_t* slot(const IpcAllReduceArgs& a, int owner, int src, uint32_t epoch) {
  const size_t half = epoch & 1u;
  return reinterpret_cast<uint64_t*>(static_cast<char*>(a.buffers[owner]) +
                                     (half * a.ranks + src) * 2 * ferrum::cuda::kIpcMaxBytes);
}

template <class T, int kBlocks, int kThreads>
__global__ void __launch_bounds__(kThreads) all_reduce_v2_kernel(IpcAllReduceArgs a) {
  using namespace ferrum::cuda;
  pdl_wait();
  const uint32_t epoch = ipc_begin_call(a.counters);
  const size_t units = a.count * sizeof(T) / 16;
  const size_t per_block = (units + kBlocks - 1) / kBlocks;
  const size_t begin = min(units, blockIdx.x * per_block), end = min(units, begin + per_block);
  const auto* in = static_cast<const uint4*>(a.in);
  for (size_t u = begin + threadIdx.x; u < end; u += blockDim.x) {
    const uint4 v = in[u];
    for (int r = 0; r < a.ranks; ++r) {
      if (r == a.rank) continue;
      uint64_t* lines = slot(a, r, a.rank, epoch) + 4 * u;
      store_lines(lines, v.x, v.y, epoch);
      store_lines(lines + 2, v.z, v.w, epoch);
    }
  }
  auto* out = static_cast<uint4*>(a.out);
  bool gave_up = false;
  for (size_t u = begin + threadIdx.x; u < end; u += blockDim.x) {
    float sum[16 / sizeof(T)] = {};
    for (int r = 0; r < a.ranks; ++r) {
      uint4 v = in[u];
      if (r != a.rank) {
        const uint64_t* lines = slot(a, a.rank, r, epoch) + 4 * u;
        bool low = false, high = false;
        for (uint32_t spins = 1; !(low && high) && !gave_up; ++spins) {
          if (!low) low = load_lines(lines, epoch, v.x, v.y);
          if (!high) high = load_lines(lines + 2, epoch, v.z, v.w);
          if (spins % 1024 == 0 && *a.abort != 0) gave_up = true;
        }
      }
      ipc_accumulate<T>(sum, v);
    }
    uint4 packed;
    T* values = reinterpret_cast<T*>(&packed);
#pragma unroll
    for (int i = 0; i < static_cast<int>(16 / sizeof(T)); ++i) values[i] = from_f32<T>(sum[i]);
    out[u] = packed;
  }
  ipc_end_call(a.counters, epoch);
}

}  // namespace lab_v2
