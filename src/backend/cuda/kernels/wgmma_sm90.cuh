// Hopper's warpgroup MMA (wgmma, sm_90a only): a warpgroup of 4 consecutive warps multiplies a
// 64-row A (here from registers, each warp holding 16 rows in mma.sync's m16n8k16 A layout) by an
// N-column B read straight from shared memory, accumulating f32 in registers in the m16n8 C layout
// per warp and 8 columns. The instructions are asynchronous: registers they read or write must not be
// touched until a wait covers them (wgmma_keep pins a register's value until that point).
// Everything here compiles to nothing outside sm_90a: the host launches such kernels only from
// builds with sm_90a code (FERRUM_CUDA_SM90A) on compute capability 9.0 devices.
#pragma once

#include <cstdint>

#include "backend/cuda/kernels/mma_sm80.cuh"

namespace ferrum::cuda {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FERRUM_WGMMA_DEVICE 1
#endif

// B's K-major layout with 128-byte swizzling: rows of 128 bytes (64 bf16 of k), 16-byte piece c of
// row r at slot c ^ (r % 8), 8 rows a 1 KB atom (1 KB aligned), `stride` bytes from one 8-row atom
// to the next; `shared` may point into a row (a k16 step at 32-byte offsets).
__device__ __forceinline__ uint64_t wgmma_descriptor_swizzled(const void* shared, uint32_t stride) {
  const uint32_t address = shared_address(shared);
  return uint64_t{(address & 0x3FFFFu) >> 4} | uint64_t{1} << 16 | uint64_t{(stride & 0x3FFFFu) >> 4} << 32 |
         uint64_t{1} << 62;
}

__device__ __forceinline__ void wgmma_fence() {
#ifdef FERRUM_WGMMA_DEVICE
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wgmma_commit() {
#ifdef FERRUM_WGMMA_DEVICE
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}

// Waits until at most kPending committed groups are in flight.
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
#ifdef FERRUM_WGMMA_DEVICE
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
#endif
}

// Makes the compiler treat v as read and rewritten here, so its register holds the value until then.
__device__ __forceinline__ void wgmma_keep(uint32_t& v) {
  asm volatile("" : "+r"(v)::"memory");
}
__device__ __forceinline__ void wgmma_keep(float& v) {
  asm volatile("" : "+f"(v)::"memory");
}

// Shared memory written by cp.async (the generic proxy) before wgmma (the async proxy) reads it.
__device__ __forceinline__ void fence_shared_for_async_proxy() {
#ifdef FERRUM_WGMMA_DEVICE
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// d[nt][0..3] += A (bf16, registers) x B (bf16, shared memory, descriptor b): m64n64k16, f32 sums.
#define FERRUM_WGMMA_D4(i) "+f"(d[i][0]), "+f"(d[i][1]), "+f"(d[i][2]), "+f"(d[i][3])
__device__ __forceinline__ void wgmma_bf16(float (&d)[8][4], const uint32_t (&a)[4], uint64_t b) {
#ifdef FERRUM_WGMMA_DEVICE
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "{%32, %33, %34, %35}, %36, p, 1, 1, 0;\n}\n"
      : FERRUM_WGMMA_D4(0), FERRUM_WGMMA_D4(1), FERRUM_WGMMA_D4(2), FERRUM_WGMMA_D4(3), FERRUM_WGMMA_D4(4),
        FERRUM_WGMMA_D4(5), FERRUM_WGMMA_D4(6), FERRUM_WGMMA_D4(7)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
#else
  (void)d, (void)a, (void)b;
#endif
}
#undef FERRUM_WGMMA_D4

}  // namespace ferrum::cuda
