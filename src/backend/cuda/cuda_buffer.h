// Device memory for the CUDA backend: `numel` elements of one dtype in a block from the caching
// allocator (returned to it, not to the driver, when the buffer dies). Move-only.
#pragma once

#include <cstddef>

#include "backend/cuda/device_allocator.h"
#include "core/dtype.h"
#include "core/error.h"

namespace ferrum {

class CudaBuffer {
 public:
  CudaBuffer() = default;
  CudaBuffer(CudaBuffer&& other) noexcept;
  CudaBuffer& operator=(CudaBuffer&& other) noexcept;
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;
  ~CudaBuffer();

  // Storage for `numel` elements; zero-filled when `zero_fill` (ordered after all prior device work).
  static Expected<CudaBuffer> allocate(DType dtype, size_t numel, bool zero_fill = true);

  DType dtype() const { return dtype_; }
  size_t numel() const { return numel_; }
  size_t nbytes() const { return nbytes_; }

  void* data() { return block_.ptr; }
  const void* data() const { return block_.ptr; }
  template <class T>
  T* data_as() {
    return static_cast<T*>(block_.ptr);
  }
  template <class T>
  const T* data_as() const {
    return static_cast<const T*>(block_.ptr);
  }

 private:
  cuda::DeviceBlock block_;
  DType dtype_ = DType::kF32;
  size_t numel_ = 0;
  size_t nbytes_ = 0;
};

}  // namespace ferrum
