// Pieces shared by the GPTQ and AWQ unpackers: the shape of a packed Linear layer and the checks
// and loads every integer-packed checkpoint tensor needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/error.h"
#include "core/tensor_view.h"

namespace ferrum::quant {

// A Linear layer y = x @ W^T with W [out_features, in_features], quantized in `groups` groups of
// consecutive (or, with act-order, g_idx-selected) input channels.
struct PackedLinearShape {
  size_t in_features = 0;   // K
  size_t out_features = 0;  // N
  size_t groups = 0;        // G: rows of scales / zeros
};

// Fails unless `tensor` has `dtype` and rank 2, naming the tensor in the message.
Status check_matrix(const TensorView& tensor, std::string_view name, DType dtype);
// Fails unless `tensor` is a rank-2 f16, bf16 or f32 matrix (the scale types found in checkpoints).
Status check_float_matrix(const TensorView& tensor, std::string_view name);
// Fails unless `tensor` has exactly the shape [rows, cols].
Status check_dims(const TensorView& tensor, std::string_view name, int64_t rows, int64_t cols, std::string_view why);

// The `index`-th value of contiguous f16 / bf16 / f32 data (any other dtype reads as f32), as f32.
float load_float(const void* data, DType dtype, size_t index);
inline float load_float(const TensorView& tensor, size_t index) {
  return load_float(tensor.data(), tensor.dtype(), index);
}

// The `index`-th 32-bit word of a contiguous i32 tensor, as unsigned so shifts are logical.
inline uint32_t load_word(const TensorView& tensor, size_t index) {
  uint32_t word;  // memcpy: a mapped checkpoint need not align int32 data to 4 bytes
  std::memcpy(&word, static_cast<const uint8_t*>(tensor.data()) + index * sizeof word, sizeof word);
  return word;
}

}  // namespace ferrum::quant
