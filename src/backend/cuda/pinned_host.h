// Page-locked host memory (cudaHostAlloc), freed on destruction. A device-to-host copy into it is
// one DMA at the link's speed; into pageable memory the driver stages it through its own buffers
// (128256 f32 logits on an H100 host: ~70 us pageable, bench/results/2026-11-27-h100-host-step.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.h"

namespace ferrum::cuda {

class PinnedHostMemory {
 public:
  PinnedHostMemory() = default;
  PinnedHostMemory(PinnedHostMemory&& other) noexcept;
  PinnedHostMemory& operator=(PinnedHostMemory&& other) noexcept;
  PinnedHostMemory(const PinnedHostMemory&) = delete;
  PinnedHostMemory& operator=(const PinnedHostMemory&) = delete;
  ~PinnedHostMemory();

  static Expected<PinnedHostMemory> allocate(size_t bytes);

  std::span<uint8_t> bytes() { return {data_, size_}; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ferrum::cuda
