#include "backend/cpu/cpu_buffer.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace ferrum {
namespace {

constexpr size_t kAlignment = 64;  // one cache line; also what AVX-512 loads like

}  // namespace

Expected<CpuBuffer> CpuBuffer::allocate(DType dtype, size_t numel) {
  FERRUM_ASSIGN_OR_RETURN(size_t nbytes, dtype_bytes(dtype, numel));
  // Round up so SIMD tails may read (never use) a whole vector past the last element.
  const size_t padded = (nbytes + kAlignment - 1) / kAlignment * kAlignment + kAlignment;
  void* memory = std::aligned_alloc(kAlignment, padded);
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
