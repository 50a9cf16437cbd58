#include "backend/cuda/device_allocator.h"

#include <cuda_runtime.h>

#include <bit>

#include "backend/cuda/cuda_check.h"

namespace ferrum::cuda {

DeviceAllocator& DeviceAllocator::instance() {
  static DeviceAllocator allocator;
  return allocator;
}

size_t DeviceAllocator::bucket_size(size_t bytes) {
  constexpr size_t kSmallGranule = 512;
  constexpr size_t kLargeThreshold = size_t{64} << 20;
  constexpr size_t kLargeGranule = size_t{2} << 20;
  if (bytes <= 4 * kSmallGranule) return (bytes + kSmallGranule - 1) / kSmallGranule * kSmallGranule;
  if (bytes > kLargeThreshold) return (bytes + kLargeGranule - 1) / kLargeGranule * kLargeGranule;
  const size_t step = std::bit_floor(bytes) / 4;
  return (bytes + step - 1) / step * step;
}

Expected<DeviceBlock> DeviceAllocator::allocate(size_t bytes) {
  if (bytes == 0) return DeviceBlock{};
  const size_t capacity = bucket_size(bytes);
  std::lock_guard lock(mutex_);
  auto cached = free_blocks_.find(capacity);
  if (cached != free_blocks_.end() && !cached->second.empty()) {
    void* ptr = cached->second.back();
    cached->second.pop_back();
    stats_.bytes_cached -= capacity;
    stats_.bytes_in_use += capacity;
    return DeviceBlock{ptr, capacity};
  }
  void* ptr = nullptr;
  cudaError_t code = cudaMalloc(&ptr, capacity);
  if (code == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // clear the sticky-free error before retrying
    trim_locked();
    code = cudaMalloc(&ptr, capacity);
  }
  if (code != cudaSuccess) {
    (void)cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    (void)cudaMemGetInfo(&free_bytes, &total_bytes);
    return make_error(code == cudaErrorMemoryAllocation ? ErrorCode::kOutOfMemory : ErrorCode::kInternal,
                      "CUDA: cudaMalloc of ", bytes, " bytes (bucket ", capacity, ") failed: ", cudaGetErrorName(code),
                      "; device has ", free_bytes, " of ", total_bytes, " bytes free, ferrum holds ",
                      stats_.bytes_in_use, " in use");
  }
  ++stats_.device_mallocs;
  stats_.bytes_in_use += capacity;
  return DeviceBlock{ptr, capacity};
}

void DeviceAllocator::release(DeviceBlock block) {
  if (block.ptr == nullptr) return;
  std::lock_guard lock(mutex_);
  free_blocks_[block.capacity].push_back(block.ptr);
  stats_.bytes_in_use -= block.capacity;
  stats_.bytes_cached += block.capacity;
}

void DeviceAllocator::trim() {
  std::lock_guard lock(mutex_);
  trim_locked();
}

void DeviceAllocator::trim_locked() {
  // cudaFree synchronises the device, so blocks still read by queued work are safe to return.
  for (auto& [capacity, blocks] : free_blocks_) {
    for (void* ptr : blocks) (void)cudaFree(ptr);
    stats_.bytes_cached -= capacity * blocks.size();
    blocks.clear();
  }
  free_blocks_.clear();
}

AllocatorStats DeviceAllocator::stats() {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace ferrum::cuda
