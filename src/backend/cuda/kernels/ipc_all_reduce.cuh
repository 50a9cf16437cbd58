// The one-shot IPC all-reduce kernel (ipc_all_reduce.h), a template over its launch shape so that
// the lab (lab/all_reduce_lab.cu) can time other shapes than the shipped one.
#pragma once

#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/ipc_all_reduce.h"
#include "backend/cuda/kernels/launch.cuh"

namespace ferrum::cuda {

// Two lines: data words w0 and w1, each beside the epoch.
__device__ __forceinline__ void ipc_store_lines(uint64_t* p, uint32_t w0, uint32_t w1, uint32_t epoch) {
  const uint64_t a = (uint64_t{epoch} << 32) | w0, b = (uint64_t{epoch} << 32) | w1;
  asm volatile("st.volatile.global.v2.u64 [%0], {%1, %2};" ::"l"(p), "l"(a), "l"(b) : "memory");
}

// Reads two lines (past L1); true when both carry `epoch`.
__device__ __forceinline__ bool ipc_load_lines(const uint64_t* p, uint32_t epoch, uint32_t& w0, uint32_t& w1) {
  uint64_t a, b;
  asm volatile("ld.volatile.global.v2.u64 {%0, %1}, [%2];" : "=l"(a), "=l"(b) : "l"(p) : "memory");
  w0 = static_cast<uint32_t>(a);
  w1 = static_cast<uint32_t>(b);
  return static_cast<uint32_t>(a >> 32) == epoch && static_cast<uint32_t>(b >> 32) == epoch;
}

// kBlocks blocks of kThreads threads; every call on one set of buffers and counters must use the
// same kBlocks (the epochs are counted per block).
template <class T, int kBlocks, int kThreads>
__global__ void __launch_bounds__(kThreads) ipc_all_reduce_kernel(IpcAllReduceArgs a) {
  pdl_wait();
  __shared__ uint32_t shared_epoch;
  if (threadIdx.x == 0) {
    shared_epoch = a.counters[blockIdx.x] + 1;
    a.counters[blockIdx.x] = shared_epoch;
  }
  __syncthreads();
  const uint32_t epoch = shared_epoch;
  const size_t half = epoch & 1u;
  // Rank `src`'s lines in rank `owner`'s buffer: four per 16-byte unit of the message.
  const auto slot = [&](int owner, int src) {
    return reinterpret_cast<uint64_t*>(static_cast<char*>(a.buffers[owner]) + (half * a.ranks + src) * kIpcSlotBytes);
  };
  const size_t units = a.count * sizeof(T) / 16;
  const size_t per_block = (units + kBlocks - 1) / kBlocks;
  const size_t begin = min(units, blockIdx.x * per_block), end = min(units, begin + per_block);
  const auto* in = static_cast<const uint4*>(a.in);

  for (size_t u = begin + threadIdx.x; u < end; u += blockDim.x) {
    const uint4 v = in[u];
    for (int r = 0; r < a.ranks; ++r) {
      if (r == a.rank) continue;
      uint64_t* lines = slot(r, a.rank) + 4 * u;
      ipc_store_lines(lines, v.x, v.y, epoch);
      ipc_store_lines(lines + 2, v.z, v.w, epoch);
    }
  }
  // Sum in rank order, this rank's part read from `in` (each unit is written to `out` by the thread
  // that read it, so in == out is fine).
  constexpr int kPerUnit = 16 / sizeof(T);
  auto* out = static_cast<uint4*>(a.out);
  for (size_t u = begin + threadIdx.x; u < end; u += blockDim.x) {
    float sum[kPerUnit] = {};
    for (int r = 0; r < a.ranks; ++r) {
      uint4 v;
      if (r == a.rank) {
        v = in[u];
      } else {
        const uint64_t* lines = slot(a.rank, r) + 4 * u;
        bool low = false, high = false;
        for (uint32_t spins = 1; !(low && high); ++spins) {
          if (!low) low = ipc_load_lines(lines, epoch, v.x, v.y);
          if (!high) high = ipc_load_lines(lines + 2, epoch, v.z, v.w);
          if (spins % 1024 == 0 && *a.abort != 0) return;  // the host has given up on the group
        }
      }
      const T* parts = reinterpret_cast<const T*>(&v);
#pragma unroll
      for (int i = 0; i < kPerUnit; ++i) sum[i] += to_f32(parts[i]);
    }
    uint4 packed;
    T* values = reinterpret_cast<T*>(&packed);
#pragma unroll
    for (int i = 0; i < kPerUnit; ++i) values[i] = from_f32<T>(sum[i]);
    out[u] = packed;
  }
}

}  // namespace ferrum::cuda
