#include "core/tensor_view.h"

#include <cassert>

namespace ferrum {
namespace {

Shape contiguous_strides(const Shape& shape) {
  Shape strides = shape;
  int64_t stride = 1;
  for (size_t axis = shape.rank(); axis-- > 0;) {
    strides[axis] = stride;
    stride *= shape[axis];
  }
  return strides;
}

}  // namespace

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::span<const int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const int64_t> dims) : rank_(dims.size()) {
  assert(dims.size() <= kMaxDims);
  for (size_t i = 0; i < dims.size(); ++i) dims_[i] = dims[i];
}

int64_t Shape::numel() const {
  int64_t count = 1;
  for (size_t i = 0; i < rank_; ++i) count *= dims_[i];
  return count;
}

std::optional<int64_t> Shape::checked_numel(std::span<const int64_t> dims) {
  int64_t nonzero_product = 1;
  bool has_zero = false;
  for (int64_t dim : dims) {
    if (dim < 0) return std::nullopt;
    if (dim == 0) {
      has_zero = true;
      continue;
    }
    if (__builtin_mul_overflow(nonzero_product, dim, &nonzero_product)) return std::nullopt;
  }
  return has_zero ? 0 : nonzero_product;
}

std::string Shape::to_string() const {
  std::string text = "[";
  for (size_t i = 0; i < rank_; ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(dims_[i]);
  }
  return text + "]";
}

bool operator==(const Shape& a, const Shape& b) {
  if (a.rank_ != b.rank_) return false;
  for (size_t i = 0; i < a.rank_; ++i) {
    if (a.dims_[i] != b.dims_[i]) return false;
  }
  return true;
}

TensorView::TensorView(const void* data, DType dtype, Shape shape)
    : data_(data), dtype_(dtype), shape_(shape), strides_(contiguous_strides(shape)) {}

TensorView::TensorView(const void* data, DType dtype, Shape shape, Shape strides)
    : data_(data), dtype_(dtype), shape_(shape), strides_(strides) {
  assert(shape.rank() == strides.rank());
}

bool TensorView::is_contiguous() const {
  return strides_ == contiguous_strides(shape_);
}

size_t TensorView::nbytes() const {
  const DTypeInfo& info = dtype_info(dtype_);
  return static_cast<size_t>(numel()) / info.block_elems * info.block_bytes;
}

TensorView TensorView::slice_outer(int64_t index) const {
  assert(shape_.rank() > 0 && index >= 0 && index < shape_[0]);
  Shape inner(shape_.dims().subspan(1));
  Shape inner_strides(strides_.dims().subspan(1));
  const size_t offset_bytes =
      static_cast<size_t>(index * strides_[0]) / dtype_info(dtype_).block_elems * dtype_info(dtype_).block_bytes;
  return TensorView(static_cast<const uint8_t*>(data_) + offset_bytes, dtype_, inner, inner_strides);
}

}  // namespace ferrum
