#include "backend/cuda/host_upload.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>

#include "backend/cuda/cuda_check.h"
#include "core/thread_pool.h"

namespace ferrum::cuda {
namespace {

constexpr size_t kChunkBytes = size_t{64} << 20;
constexpr size_t kStagingBuffers = 3;
// Below this a plain pageable copy is as fast and needs no staging.
constexpr size_t kDirectCopyBytes = size_t{4} << 20;

// Pinned chunks allocated on first use and kept for the process (uploads happen at load).
struct Staging {
  std::mutex mutex;
  std::array<void*, kStagingBuffers> buffers{};
  std::array<cudaEvent_t, kStagingBuffers> done{};
  bool ready = false;

  Status init() {
    if (ready) return ok();
    for (size_t i = 0; i < kStagingBuffers; ++i) {
      FERRUM_CUDA_TRY(cudaHostAlloc(&buffers[i], kChunkBytes, cudaHostAllocDefault), "(pinned staging buffer of ",
                      kChunkBytes, " bytes)");
      FERRUM_CUDA_TRY(cudaEventCreateWithFlags(&done[i], cudaEventDisableTiming));
    }
    ready = true;
    return ok();
  }
};

Staging& staging() {
  static Staging* instance = new Staging();  // never destroyed: pinned memory dies with the process
  return *instance;
}

// memcpy spread over the default thread pool (page-cache reads fault pages in; one thread alone
// reaches a fraction of what the memory system gives).
void parallel_copy(void* dst, const uint8_t* src, size_t bytes) {
  default_thread_pool().parallel_for(bytes, size_t{1} << 20, [&](size_t begin, size_t end) {
    std::memcpy(static_cast<uint8_t*>(dst) + begin, src + begin, end - begin);
  });
}

}  // namespace

Status upload_parts(void* dst, std::span<const std::span<const uint8_t>> parts) {
  size_t total = 0;
  for (const auto& part : parts) total += part.size();
  auto* out = static_cast<uint8_t*>(dst);
  if (total < kDirectCopyBytes) {
    for (const auto& part : parts) {
      if (part.empty()) continue;
      FERRUM_CUDA_TRY(cudaMemcpy(out, part.data(), part.size(), cudaMemcpyHostToDevice), "(upload, ", part.size(),
                      " bytes)");
      out += part.size();
    }
    return ok();
  }
  Staging& s = staging();
  std::lock_guard lock(s.mutex);
  FERRUM_TRY(s.init());
  size_t next = 0;
  for (const auto& part : parts) {
    for (size_t offset = 0; offset < part.size(); offset += kChunkBytes) {
      const size_t bytes = std::min(kChunkBytes, part.size() - offset);
      const size_t slot = next++ % kStagingBuffers;
      // The copy engine may still be reading this buffer's previous chunk.
      FERRUM_CUDA_TRY(cudaEventSynchronize(s.done[slot]), "(upload staging)");
      parallel_copy(s.buffers[slot], part.data() + offset, bytes);
      FERRUM_CUDA_TRY(cudaMemcpyAsync(out, s.buffers[slot], bytes, cudaMemcpyHostToDevice, cudaStreamLegacy),
                      "(upload, ", bytes, " bytes)");
      FERRUM_CUDA_TRY(cudaEventRecord(s.done[slot], cudaStreamLegacy));
      out += bytes;
    }
  }
  // The destination is complete once the last chunk's copy is.
  for (size_t i = 0; i < kStagingBuffers; ++i) FERRUM_CUDA_TRY(cudaEventSynchronize(s.done[i]), "(upload finish)");
  return ok();
}

}  // namespace ferrum::cuda
