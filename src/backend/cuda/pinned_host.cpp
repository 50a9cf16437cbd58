#include "backend/cuda/pinned_host.h"

#include <cuda_runtime.h>

#include <utility>

#include "backend/cuda/cuda_check.h"

namespace ferrum::cuda {

PinnedHostMemory::PinnedHostMemory(PinnedHostMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

PinnedHostMemory& PinnedHostMemory::operator=(PinnedHostMemory&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) (void)cudaFreeHost(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

PinnedHostMemory::~PinnedHostMemory() {
  if (data_ != nullptr) (void)cudaFreeHost(data_);
}

Expected<PinnedHostMemory> PinnedHostMemory::allocate(size_t bytes) {
  PinnedHostMemory memory;
  if (bytes == 0) return memory;
  void* data = nullptr;
  const cudaError_t code = cudaHostAlloc(&data, bytes, cudaHostAllocDefault);
  if (code != cudaSuccess) {
    (void)cudaGetLastError();  // not sticky: clear it, or the next launch check would report it
    return cuda_error(code, cat("cudaHostAlloc of ", bytes, " bytes of page-locked host memory"));
  }
  memory.data_ = static_cast<uint8_t*>(data);
  memory.size_ = bytes;
  return memory;
}

}  // namespace ferrum::cuda
