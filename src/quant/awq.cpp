#include "quant/awq.h"

#include <vector>

namespace ferrum::quant {
namespace {

constexpr size_t kValuesPerWord = 8;

// Unpacks one [rows, N / 8] AWQ-packed matrix row into N values in natural column order.
void unpack_row(const TensorView& packed, size_t row, size_t n_count, uint8_t* values) {
  const size_t words = n_count / kValuesPerWord;
  for (size_t c = 0; c < words; ++c) {
    const uint32_t word = load_word(packed, row * words + c);
    for (size_t nibble = 0; nibble < kValuesPerWord; ++nibble) {
      values[c * kValuesPerWord + kAwqNibbleColumn[nibble]] = static_cast<uint8_t>((word >> (4 * nibble)) & 0xF);
    }
  }
}

}  // namespace

Expected<PackedLinearShape> validate_awq(const AwqParams& params, const AwqTensors& tensors) {
  FERRUM_CHECK(params.bits == 4, ErrorCode::kUnsupported, "awq: bits = ", params.bits,
               " (the GEMM packing is defined for 4 bits only)");
  FERRUM_CHECK(params.group_size > 0, ErrorCode::kInvalidArgument, "awq: group_size must be positive");
  FERRUM_TRY(check_matrix(tensors.qweight, "awq qweight", DType::kI32));
  FERRUM_TRY(check_matrix(tensors.qzeros, "awq qzeros", DType::kI32));
  FERRUM_TRY(check_float_matrix(tensors.scales, "awq scales"));

  PackedLinearShape shape;
  shape.in_features = static_cast<size_t>(tensors.qweight.shape()[0]);
  shape.out_features = static_cast<size_t>(tensors.qweight.shape()[1]) * kValuesPerWord;
  FERRUM_CHECK(shape.in_features > 0 && shape.out_features > 0, ErrorCode::kShapeMismatch, "awq qweight has shape ",
               tensors.qweight.shape().to_string(), ": the layer is empty");
  FERRUM_CHECK(shape.in_features % params.group_size == 0, ErrorCode::kShapeMismatch, "awq: in_features ",
               shape.in_features, " (qweight rows) is not a multiple of group_size ", params.group_size);
  shape.groups = shape.in_features / params.group_size;
  const auto g = static_cast<int64_t>(shape.groups);
  const auto n = static_cast<int64_t>(shape.out_features);
  FERRUM_TRY(check_dims(tensors.scales, "awq scales", g, n, "in_features / group_size x out_features"));
  FERRUM_TRY(check_dims(tensors.qzeros, "awq qzeros", g, n / static_cast<int64_t>(kValuesPerWord),
                        "in_features / group_size x out_features / 8"));
  return shape;
}

Status dequantize_awq(const AwqParams& params, const AwqTensors& tensors, std::span<float> weight) {
  FERRUM_ASSIGN_OR_RETURN(const PackedLinearShape shape, validate_awq(params, tensors));
  const size_t k_count = shape.in_features;
  const size_t n_count = shape.out_features;
  FERRUM_CHECK(weight.size() == k_count * n_count, ErrorCode::kShapeMismatch, "awq: output holds ", weight.size(),
               " floats, expected ", n_count, " x ", k_count);

  std::vector<uint8_t> zeros(n_count);
  std::vector<float> scales(n_count);
  std::vector<uint8_t> q(n_count);
  for (size_t k = 0; k < k_count; ++k) {
    if (k % params.group_size == 0) {
      const size_t group = k / params.group_size;
      unpack_row(tensors.qzeros, group, n_count, zeros.data());
      for (size_t n = 0; n < n_count; ++n) scales[n] = load_float(tensors.scales, group * n_count + n);
    }
    unpack_row(tensors.qweight, k, n_count, q.data());
    for (size_t n = 0; n < n_count; ++n) {
      weight[n * k_count + k] = static_cast<float>(static_cast<int>(q[n]) - static_cast<int>(zeros[n])) * scales[n];
    }
  }
  return ok();
}

}  // namespace ferrum::quant
