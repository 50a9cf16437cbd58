#include "quant/awq.h"

#include <vector>

namespace ferrum::quant {
namespace {

constexpr size_t kValuesPerWord = 8;

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
  FERRUM_CHECK(weight.size() == shape.in_features * shape.out_features, ErrorCode::kShapeMismatch, "awq: output holds ",
               weight.size(), " floats, expected ", shape.out_features, " x ", shape.in_features);
  dequantize_grouped(grouped_weight(params, tensors, shape), weight.data());
  return ok();
}

GroupedQuantWeight grouped_weight(const AwqParams& params, const AwqTensors& tensors, const PackedLinearShape& shape) {
  GroupedQuantWeight w;
  w.layout = PackedLayout::kAwq;
  w.bits = params.bits;
  w.k = shape.in_features;
  w.n = shape.out_features;
  w.group_size = params.group_size;
  w.zero_offset = 0;
  w.qweight = tensors.qweight.data();
  w.qzeros = tensors.qzeros.data();
  w.scales = tensors.scales.data();
  w.scale_dtype = tensors.scales.dtype();
  return w;
}

}  // namespace ferrum::quant
