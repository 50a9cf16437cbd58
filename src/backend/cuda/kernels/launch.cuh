// Kernel launches with programmatic dependent launch (PDL, Hopper and later).
//
// In a decode step hundreds of kernels run back to back, most of them short, and each boundary
// normally costs the launch latency plus the ramp-down of the previous grid and the ramp-up of the
// next (a few microseconds of idle memory bus per boundary, ~10% of a step). With PDL the next
// kernel is allowed to start while the previous one is still running: it first does the work that
// does not depend on it (prefetching its weights into L2), then waits at `pdl_wait()` until the
// previous grid has completed and its memory is visible. Correctness rules:
//   - every kernel launched through launch_kernel() calls pdl_wait() before it reads anything an
//     earlier kernel writes, and before it writes anything (so each kernel still completes after
//     its predecessor, and completion is transitive along the stream);
//   - pdl_launch_dependents() only lets the next kernel be scheduled early; it promises nothing.
// Kernels launched with <<<>>> keep full stream ordering, so mixing both styles is safe.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string_view>
#include <utility>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch_settings.h"
#include "core/error.h"

namespace ferrum::cuda {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Asks the copy engine to bring [p, p + bytes) into L2 without using registers; p 16-byte aligned,
// bytes a multiple of 16. A hint: correctness never depends on it.
__device__ __forceinline__ void prefetch_l2(const void* p, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (bytes >= 16) asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes & ~15u) : "memory");
#endif
}

// Launches `kernel` on `stream`, with the PDL attribute when pdl_enabled(); errors name the
// kernel and its launch shape.
template <class... Params, class... Args>
Status launch_kernel(std::string_view name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                     cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = pdl_enabled() ? 1 : 0;
  apply_shared_carveout(reinterpret_cast<const void*>(kernel));
  const cudaError_t code = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
  if (code != cudaSuccess) {
    return cuda_error(code, cat(name, "<<<(", grid.x, ",", grid.y, ",", grid.z, "),(", block.x, ",", block.y, ",",
                                block.z, "),", shared_bytes, ">>>"));
  }
  return check_launch(name, grid, block, shared_bytes);
}

// launch_kernel for a grid of independent blocks that the kernel does not size its shared memory
// for: padded to an even spread over `sm_count` SMs when it is under one wave (balanced_residency_pad).
template <class... Params, class... Args>
Status launch_kernel_balanced(std::string_view name, void (*kernel)(Params...), dim3 grid, dim3 block, int sm_count,
                              cudaStream_t stream, Args&&... args) {
  const size_t pad = balanced_residency_pad(reinterpret_cast<const void*>(kernel), static_cast<int>(block.x),
                                            size_t{grid.x} * grid.y * grid.z, sm_count);
  return launch_kernel(name, kernel, grid, block, pad, stream, std::forward<Args>(args)...);
}

}  // namespace ferrum::cuda
