// The one-shot IPC all-reduce kernel (ipc_all_reduce.h; v3 of lab/all_reduce_lab.cu), a template
// over its launch shape so that the lab can time other shapes than the shipped one, and the
// helpers the fused kernel (ipc_add_rms_norm.cu) shares.
#pragma once

#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/ipc_all_reduce.h"
#include "backend/cuda/kernels/launch.cuh"

namespace ferrum::cuda {

// A 16-byte unit holding a -0.0 (an empty value) among its eight 16-bit values.
__device__ __forceinline__ bool ipc_has_empty(uint4 v) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
  bool empty = false;
#pragma unroll
  for (uint32_t word : words) empty |= (word & 0xFFFFu) == kIpcEmpty || (word >> 16) == kIpcEmpty;
  return empty;
}

// The unit as sent: each -0.0 as +0.0 (the same in every sum, which starts from +0.0), so no
// value of the data reads as empty.
__device__ __forceinline__ uint4 ipc_sendable(uint4 v) {
  const auto fix = [](uint32_t word) {
    if ((word & 0xFFFFu) == kIpcEmpty) word &= 0xFFFF0000u;
    if ((word >> 16) == kIpcEmpty) word &= 0x0000FFFFu;
    return word;
  };
  return make_uint4(fix(v.x), fix(v.y), fix(v.z), fix(v.w));
}

// This call's epoch, from the block's slot of `counters` (kIpcMaxBlocks of them, every one holding
// the number of calls so far): call after pdl_wait, so that the previous call's slots are written.
// Every thread gets it.
__device__ __forceinline__ uint32_t ipc_begin_call(const uint32_t* counters) {
  __shared__ uint32_t shared_epoch;
  if (threadIdx.x == 0) {
    shared_epoch = *reinterpret_cast<const volatile uint32_t*>(counters + blockIdx.x % kIpcMaxBlocks) + 1;
  }
  __syncthreads();
  return shared_epoch;
}

// The block is done with the call: it records it in its share of the slots (the grid's blocks write
// all of them between them), so whatever shape the next call has, each of its blocks reads this
// call's epoch from its own slot. Plain stores: no block waits on another's count (the next call
// reads them after its pdl_wait, when this call has completed).
__device__ __forceinline__ void ipc_end_call(uint32_t* counters, uint32_t epoch) {
  for (uint32_t slot = blockIdx.x + threadIdx.x * gridDim.x; slot < kIpcMaxBlocks; slot += blockDim.x * gridDim.x) {
    counters[slot] = epoch;
  }
}

// Rank `src`'s slot in rank `owner`'s buffer, in the half of `epoch`, as 16-byte units.
__device__ __forceinline__ uint4* ipc_slot(const IpcAllReduceArgs& a, int owner, int src, uint32_t epoch) {
  const size_t half = epoch & 1u;
  return reinterpret_cast<uint4*>(static_cast<char*>(a.buffers[owner]) + (half * a.ranks + src) * kIpcMaxBytes);
}

// Sends 16-byte unit `u` of this rank's message to every other rank.
__device__ __forceinline__ void ipc_push_unit(const IpcAllReduceArgs& a, uint32_t epoch, size_t u, uint4 v) {
  const uint4 sent = ipc_sendable(v);
  for (int r = 0; r < a.ranks; ++r) {
    if (r == a.rank) continue;
    uint4* p = ipc_slot(a, r, a.rank, epoch) + u;
    asm volatile("st.volatile.global.v4.u32 [%0], {%1, %2, %3, %4};" ::"l"(p), "r"(sent.x), "r"(sent.y), "r"(sent.z),
                 "r"(sent.w)
                 : "memory");
  }
}

// Rank `src`'s unit `u`, waiting until every value of it has arrived, then emptied for the call
// after next. When the host gives up on the group (`abort`), `gave_up` is set and the unit is
// garbage; the thread's later fetches then return at once.
__device__ __forceinline__ uint4 ipc_fetch_unit(const IpcAllReduceArgs& a, uint32_t epoch, int src, size_t u,
                                                bool& gave_up) {
  uint4* p = ipc_slot(a, a.rank, src, epoch) + u;
  uint4 v;
  for (uint32_t spins = 1;; ++spins) {
    asm volatile("ld.volatile.global.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p)
                 : "memory");
    if (!ipc_has_empty(v) || gave_up) break;
    if (spins % 1024 == 0 && *a.abort != 0) gave_up = true;
  }
  constexpr uint32_t kEmptyPair = kIpcEmpty * 0x10001u;
  *p = make_uint4(kEmptyPair, kEmptyPair, kEmptyPair, kEmptyPair);
  return v;
}

// The eight 16-bit values of unit `v` as floats.
template <class T>
__device__ __forceinline__ void ipc_unpack(uint4 v, float (&values)[8]) {
  static_assert(sizeof(T) == 2, "eight 16-bit values a unit");
  const T* parts = reinterpret_cast<const T*>(&v);
#pragma unroll
  for (int i = 0; i < 8; ++i) values[i] = to_f32(parts[i]);
}

// Adds the 16 / sizeof(T) values of unit `v` to `sum`.
template <class T>
__device__ __forceinline__ void ipc_accumulate(float* sum, uint4 v) {
  const T* parts = reinterpret_cast<const T*>(&v);
#pragma unroll
  for (int i = 0; i < static_cast<int>(16 / sizeof(T)); ++i) sum[i] += to_f32(parts[i]);
}

// kBlocks blocks of kThreads threads; any shape may follow any other on the same buffers.
template <class T, int kBlocks, int kThreads>
__global__ void __launch_bounds__(kThreads) ipc_all_reduce_kernel(IpcAllReduceArgs a) {
  static_assert(kBlocks <= kIpcMaxBlocks, "one block per epoch slot at most");
  pdl_wait();
  const uint32_t epoch = ipc_begin_call(a.counters);
  const size_t units = a.count * sizeof(T) / 16;
  const size_t per_block = (units + kBlocks - 1) / kBlocks;
  const size_t begin = min(units, blockIdx.x * per_block), end = min(units, begin + per_block);
  const auto* in = static_cast<const uint4*>(a.in);

  for (size_t u = begin + threadIdx.x; u < end; u += blockDim.x) ipc_push_unit(a, epoch, u, in[u]);
  // Sum in rank order, this rank's part read from `in` (each unit is written to `out` by the thread
  // that read it, so in == out is fine).
  constexpr int kPerUnit = 16 / sizeof(T);
  auto* out = static_cast<uint4*>(a.out);
  bool gave_up = false;
  for (size_t u = begin + threadIdx.x; u < end; u += blockDim.x) {
    float sum[kPerUnit] = {};
    for (int r = 0; r < a.ranks; ++r)
      ipc_accumulate<T>(sum, r == a.rank ? in[u] : ipc_fetch_unit(a, epoch, r, u, gave_up));
    uint4 packed;
    T* values = reinterpret_cast<T*>(&packed);
#pragma unroll
    for (int i = 0; i < kPerUnit; ++i) values[i] = from_f32<T>(sum[i]);
    out[u] = packed;
  }
  ipc_end_call(a.counters, epoch);
}

}  // namespace ferrum::cuda
