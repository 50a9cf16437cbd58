// Turning CUDA return codes into ferrum Status values that say which call or kernel failed and
// with what shape, so "rms_norm<<<(4096,1,1),(256,1,1),0>>>: invalid argument" reaches the caller.
#pragma once

#include <cuda_runtime.h>

#include <string_view>

#include "core/error.h"

namespace ferrum::cuda {

// An error (kInternal, or kOutOfMemory for allocation failures) naming `what` and CUDA's message.
Error cuda_error(cudaError_t code, std::string_view what);

// Checks the launch just issued: a bad configuration shows up in cudaGetLastError immediately.
Status check_launch(std::string_view kernel, dim3 grid, dim3 block, size_t shared_bytes = 0);

}  // namespace ferrum::cuda

// Returns a Status naming the API call (and any extra context) when `call` does not return cudaSuccess.
#define FERRUM_CUDA_TRY(call, ...)                                                                                \
  do {                                                                                                            \
    const cudaError_t ferrum_cuda_code_ = (call);                                                                 \
    if (ferrum_cuda_code_ != cudaSuccess) {                                                                       \
      return ::ferrum::cuda::cuda_error(ferrum_cuda_code_, ::ferrum::cat(#call __VA_OPT__(, " ", ) __VA_ARGS__)); \
    }                                                                                                             \
  } while (false)
