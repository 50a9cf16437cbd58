// A non-owning view of a host tensor: data pointer, dtype, shape and strides (in elements).
// Shapes are outermost-first, as in PyTorch and safetensors ([rows, cols] for a matrix).
// Quantized dtypes are viewed row-major and contiguous only: a row is a whole number of blocks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>

#include "core/dtype.h"

namespace ferrum {

inline constexpr size_t kMaxDims = 6;

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(std::span<const int64_t> dims);

  size_t rank() const { return rank_; }
  int64_t operator[](size_t axis) const { return dims_[axis]; }
  int64_t& operator[](size_t axis) { return dims_[axis]; }
  std::span<const int64_t> dims() const { return {dims_.data(), rank_}; }
  // Product of all dims (1 for a scalar); 0 if any dim is 0.
  int64_t numel() const;
  std::string to_string() const;  // "[4, 64]"

  // Element count of `dims` for file parsers: nullopt when the product of the non-zero dims
  // overflows int64, so that no stride or partial product of an accepted shape can overflow
  // (a zero dim elsewhere would otherwise hide it from a left-to-right check).
  static std::optional<int64_t> checked_numel(std::span<const int64_t> dims);

  friend bool operator==(const Shape& a, const Shape& b);

 private:
  std::array<int64_t, kMaxDims> dims_{};
  size_t rank_ = 0;
};

class TensorView {
 public:
  TensorView() = default;
  // Contiguous row-major view.
  TensorView(const void* data, DType dtype, Shape shape);
  TensorView(const void* data, DType dtype, Shape shape, Shape strides);

  const void* data() const { return data_; }
  template <class T>
  const T* data_as() const {
    return static_cast<const T*>(data_);
  }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t numel() const { return shape_.numel(); }
  bool is_contiguous() const;
  // Bytes spanned by a contiguous view (exact for quantized types).
  size_t nbytes() const;

  // View of the sub-tensor at `index` along the outermost axis.
  TensorView slice_outer(int64_t index) const;

 private:
  const void* data_ = nullptr;
  DType dtype_ = DType::kF32;
  Shape shape_;
  Shape strides_;
};

}  // namespace ferrum
