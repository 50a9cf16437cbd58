// Host memory for the CPU backend: 64-byte aligned and owned, or borrowed from a mapping that
// must outlive it (so GGUF / safetensors weights are used in place, never copied).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum {

class CpuBuffer {
 public:
  CpuBuffer() = default;
  CpuBuffer(CpuBuffer&&) noexcept = default;
  CpuBuffer& operator=(CpuBuffer&&) noexcept = default;
  CpuBuffer(const CpuBuffer&) = delete;
  CpuBuffer& operator=(const CpuBuffer&) = delete;

  // Zeroed, owned storage for `numel` elements of `dtype`.
  static Expected<CpuBuffer> allocate(DType dtype, size_t numel);
  // Wraps existing memory; `keep_alive` (e.g. the file mapping) is held for the buffer's life.
  static Expected<CpuBuffer> borrow(const void* data, DType dtype, size_t numel,
                                    std::shared_ptr<const void> keep_alive);

  DType dtype() const { return dtype_; }
  size_t numel() const { return numel_; }
  size_t nbytes() const { return nbytes_; }
  bool is_borrowed() const { return borrowed_; }

  void* data() { return data_; }
  const void* data() const { return data_; }
  template <class T>
  T* data_as() {
    return static_cast<T*>(data_);
  }
  template <class T>
  const T* data_as() const {
    return static_cast<const T*>(data_);
  }

 private:
  std::shared_ptr<const void> storage_;
  void* data_ = nullptr;
  DType dtype_ = DType::kF32;
  size_t numel_ = 0;
  size_t nbytes_ = 0;
  bool borrowed_ = false;
};

}  // namespace ferrum
