#include "backend/cuda/cuda_buffer.h"

#include <cuda_runtime.h>

#include <utility>

#include "backend/cuda/cuda_check.h"

namespace ferrum {

CudaBuffer::CudaBuffer(CudaBuffer&& other) noexcept
    : block_(std::exchange(other.block_, {})),
      dtype_(other.dtype_),
      numel_(std::exchange(other.numel_, 0)),
      nbytes_(std::exchange(other.nbytes_, 0)) {}

CudaBuffer& CudaBuffer::operator=(CudaBuffer&& other) noexcept {
  if (this != &other) {
    cuda::DeviceAllocator::instance().release(block_);
    block_ = std::exchange(other.block_, {});
    dtype_ = other.dtype_;
    numel_ = std::exchange(other.numel_, 0);
    nbytes_ = std::exchange(other.nbytes_, 0);
  }
  return *this;
}

CudaBuffer::~CudaBuffer() {
  cuda::DeviceAllocator::instance().release(block_);
}

Expected<CudaBuffer> CudaBuffer::allocate(DType dtype, size_t numel, bool zero_fill) {
  FERRUM_ASSIGN_OR_RETURN(size_t nbytes, dtype_bytes(dtype, numel));
  CudaBuffer buffer;
  FERRUM_ASSIGN_OR_RETURN(buffer.block_, cuda::DeviceAllocator::instance().allocate(nbytes));
  buffer.dtype_ = dtype;
  buffer.numel_ = numel;
  buffer.nbytes_ = nbytes;
  if (zero_fill && nbytes > 0) {
    // Legacy default stream: waits for every blocking stream, so a recycled block is not cleared
    // under a kernel that still reads it (see device_allocator.h).
    FERRUM_CUDA_TRY(cudaMemset(buffer.block_.ptr, 0, nbytes), "(", nbytes, " bytes)");
  }
  return buffer;
}

}  // namespace ferrum
