#include "backend/cpu/cpu_buffer.h"

#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace ferrum {
namespace {

constexpr size_t kAlignment = 64;  // one cache line; also what AVX-512 loads like
// Buffers from this size on (weights, above all) are placed on 2 MiB boundaries and asked to be
// backed by transparent huge pages: streaming from 4 KiB pages ran at 25.5 GB/s on the 2-core
// machine, from huge pages at 34.7 GB/s (bench/results/2026-11-26-cpu-llama3.2-1b-vnni.md), and
// decode is such a stream.
constexpr size_t kHugePage = size_t{2} << 20;

// Fresh memory for `bytes` (a multiple of kAlignment), huge-page backed where the kernel allows
// (the hint covers the 2 MiB-aligned start; a tail shorter than a huge page keeps small pages).
void* allocate_host(size_t bytes) {
  if (bytes < kHugePage) return std::aligned_alloc(kAlignment, bytes);
  void* memory = nullptr;
  if (posix_memalign(&memory, kHugePage, bytes) != 0) return nullptr;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  (void)::madvise(memory, bytes / 4096 * 4096, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
  return memory;
}

}  // namespace

Expected<CpuBuffer> CpuBuffer::allocate(DType dtype, size_t numel) {
  FERRUM_ASSIGN_OR_RETURN(size_t nbytes, dtype_bytes(dtype, numel));
  // Round up so SIMD tails may read (never use) a whole vector past the last element.
  const size_t padded = (nbytes + kAlignment - 1) / kAlignment * kAlignment + kAlignment;
  void* memory = allocate_host(padded);
  FERRUM_CHECK(memory != nullptr, ErrorCode::kOutOfMemory, "cannot allocate ", nbytes, " bytes of host memory for ",
               numel, " ", dtype_name(dtype), " values");
  std::memset(memory, 0, padded);
  CpuBuffer buffer;
  buffer.storage_ = std::shared_ptr<const void>(memory, [](const void* p) { std::free(const_cast<void*>(p)); });
  buffer.data_ = memory;
  buffer.dtype_ = dtype;
  buffer.numel_ = numel;
  buffer.nbytes_ = nbytes;
  return buffer;
}

Expected<CpuBuffer> CpuBuffer::borrow(const void* data, DType dtype, size_t numel,
                                      std::shared_ptr<const void> keep_alive) {
  FERRUM_ASSIGN_OR_RETURN(size_t nbytes, dtype_bytes(dtype, numel));
  CpuBuffer buffer;
  buffer.storage_ = std::move(keep_alive);
  // Borrowed weights are read-only by contract; ops never write to an input.
  buffer.data_ = const_cast<void*>(data);
  buffer.dtype_ = dtype;
  buffer.numel_ = numel;
  buffer.nbytes_ = nbytes;
  buffer.borrowed_ = true;
  return buffer;
}

}  // namespace ferrum
