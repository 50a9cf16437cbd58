// A caching allocator for device memory: freed blocks go to size-bucketed free lists and are handed
// out again, so steady-state decode (which frees and re-allocates the same sizes every step) never
// calls cudaMalloc or cudaFree, both of which synchronise the whole device.
//
// Ordering: a block released on the host may still be read by work queued on a stream. Every
// CudaContext stream is a blocking stream, and everything that hands a recycled block to new work
// (the zero-fill in CudaBuffer::allocate, uploads) runs on the legacy default stream, which waits
// for all blocking streams; so a recycled block is never written before earlier readers finish.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace ferrum::cuda {

struct DeviceBlock {
  void* ptr = nullptr;
  size_t capacity = 0;  // bucket size actually reserved (>= the bytes asked)
};

struct AllocatorStats {
  size_t bytes_in_use = 0;
  size_t bytes_cached = 0;
  size_t device_mallocs = 0;  // cudaMalloc calls so far (flat in steady state)
};

class DeviceAllocator {
 public:
  static DeviceAllocator& instance();

  // A block of at least `bytes`; a cached block of the same bucket when one is free. On cudaMalloc
  // failure the cache is returned to the driver and the call retried once; the final error names
  // the bytes asked for, the bytes free on the device and the bytes this allocator holds.
  Expected<DeviceBlock> allocate(size_t bytes);
  void release(DeviceBlock block);
  // Returns every cached block to the driver.
  void trim();
  AllocatorStats stats();

  // Bucket sizes: 512-byte granularity for tiny blocks, quarter powers of two up to 64 MiB (at most
  // 25% slack where sizes vary most), 2 MiB steps above (weights, whose sizes are fixed, lose little).
  static size_t bucket_size(size_t bytes);

 private:
  DeviceAllocator() = default;
  void trim_locked();

  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_blocks_;
  AllocatorStats stats_;
};

}  // namespace ferrum::cuda
