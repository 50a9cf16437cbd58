#include "quant/gptq.h"

#include <string>
#include <vector>

namespace ferrum::quant {
namespace {

Status check_bits(uint32_t bits) {
  FERRUM_CHECK(bits == 2 || bits == 4 || bits == 8, ErrorCode::kUnsupported, "gptq: bits = ", bits,
               " (supported: 2, 4, 8)");
  return ok();
}

}  // namespace

Expected<size_t> gptq_group_size_from_config(int64_t config_group_size) {
  if (config_group_size == -1) return size_t{0};
  FERRUM_CHECK(config_group_size > 0, ErrorCode::kInvalidArgument, "gptq: group_size = ", config_group_size,
               " (expected -1 or a positive number)");
  return static_cast<size_t>(config_group_size);
}

Expected<PackedLinearShape> validate_gptq(const GptqParams& params, const GptqTensors& tensors) {
  FERRUM_TRY(check_bits(params.bits));
  FERRUM_TRY(check_matrix(tensors.qweight, "gptq qweight", DType::kI32));
  FERRUM_TRY(check_matrix(tensors.qzeros, "gptq qzeros", DType::kI32));
  FERRUM_TRY(check_float_matrix(tensors.scales, "gptq scales"));

  const size_t per_word = 32 / params.bits;
  PackedLinearShape shape;
  shape.in_features = static_cast<size_t>(tensors.qweight.shape()[0]) * per_word;
  shape.out_features = static_cast<size_t>(tensors.qweight.shape()[1]);
  const auto k = static_cast<int64_t>(shape.in_features);
  const auto n = static_cast<int64_t>(shape.out_features);
  FERRUM_CHECK(k > 0 && n > 0, ErrorCode::kShapeMismatch, "gptq qweight has shape ",
               tensors.qweight.shape().to_string(), ": the layer is empty");
  FERRUM_CHECK(n % static_cast<int64_t>(per_word) == 0, ErrorCode::kShapeMismatch, "gptq: out_features ", n,
               " is not a multiple of ", per_word, " zeros per int32 word");

  if (params.group_size == 0) {
    shape.groups = 1;
  } else {
    FERRUM_CHECK(shape.in_features % params.group_size == 0, ErrorCode::kShapeMismatch, "gptq: in_features ", k,
                 " (qweight rows ", tensors.qweight.shape()[0], " * ", per_word, ") is not a multiple of group_size ",
                 params.group_size);
    shape.groups = shape.in_features / params.group_size;
  }
  const auto g = static_cast<int64_t>(shape.groups);
  const std::string groups_why = params.group_size == 0
                                     ? std::string("one group per channel")
                                     : cat("in_features ", k, " / group_size ", params.group_size, " groups");
  FERRUM_TRY(check_dims(tensors.scales, "gptq scales", g, n, cat(groups_why, " x out_features ", n)));
  FERRUM_TRY(check_dims(tensors.qzeros, "gptq qzeros", g, n / static_cast<int64_t>(per_word),
                        "groups x out_features * bits / 32"));

  if (tensors.g_idx.data() == nullptr) {
    FERRUM_CHECK(!params.desc_act, ErrorCode::kInvalidArgument, "gptq: desc_act is set but g_idx is missing");
    return shape;
  }
  FERRUM_CHECK(tensors.g_idx.dtype() == DType::kI32, ErrorCode::kInvalidArgument, "gptq g_idx has dtype ",
               tensors.g_idx.dtype(), ", expected i32");
  FERRUM_CHECK(tensors.g_idx.shape().rank() == 1 && tensors.g_idx.shape()[0] == k, ErrorCode::kShapeMismatch,
               "gptq g_idx has shape ", tensors.g_idx.shape().to_string(), ", expected [", k, "] (in_features)");
  for (size_t channel = 0; channel < shape.in_features; ++channel) {
    const auto group = static_cast<int32_t>(load_word(tensors.g_idx, channel));
    FERRUM_CHECK(group >= 0 && group < g, ErrorCode::kOutOfRange, "gptq g_idx[", channel, "] = ", group,
                 " is outside the ", g, " groups of scales");
  }
  return shape;
}

Status dequantize_gptq(const GptqParams& params, const GptqTensors& tensors, std::span<float> weight) {
  FERRUM_ASSIGN_OR_RETURN(const PackedLinearShape shape, validate_gptq(params, tensors));
  FERRUM_CHECK(weight.size() == shape.in_features * shape.out_features, ErrorCode::kShapeMismatch,
               "gptq: output holds ", weight.size(), " floats, expected ", shape.out_features, " x ",
               shape.in_features);
  dequantize_grouped(grouped_weight(params, tensors, shape), weight.data());
  return ok();
}

GroupedQuantWeight grouped_weight(const GptqParams& params, const GptqTensors& tensors,
                                  const PackedLinearShape& shape) {
  GroupedQuantWeight w;
  w.layout = PackedLayout::kGptq;
  w.bits = params.bits;
  w.k = shape.in_features;
  w.n = shape.out_features;
  w.group_size = params.group_size;
  w.zero_offset = params.format == GptqCheckpointFormat::kV1 ? 1 : 0;
  w.qweight = tensors.qweight.data();
  w.qzeros = tensors.qzeros.data();
  w.scales = tensors.scales.data();
  w.scale_dtype = tensors.scales.dtype();
  w.g_idx = tensors.g_idx.data();
  return w;
}

}  // namespace ferrum::quant
