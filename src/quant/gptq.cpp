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

// Group of every input channel: g_idx when given, else consecutive runs of group_size.
std::vector<uint32_t> channel_groups(const GptqParams& params, const GptqTensors& tensors, size_t in_features) {
  std::vector<uint32_t> groups(in_features);
  for (size_t k = 0; k < in_features; ++k) {
    if (tensors.g_idx.data() != nullptr) {
      groups[k] = load_word(tensors.g_idx, k);
    } else {
      groups[k] = params.group_size == 0 ? 0 : static_cast<uint32_t>(k / params.group_size);
    }
  }
  return groups;
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
  const size_t k_count = shape.in_features;
  const size_t n_count = shape.out_features;
  FERRUM_CHECK(weight.size() == k_count * n_count, ErrorCode::kShapeMismatch, "gptq: output holds ", weight.size(),
               " floats, expected ", n_count, " x ", k_count);

  const uint32_t bits = params.bits;
  const size_t per_word = 32 / bits;
  const uint32_t mask = (1u << bits) - 1;
  const int zero_offset = params.format == GptqCheckpointFormat::kV1 ? 1 : 0;

  // Zero points and scales unpacked once per (group, output): [G, N], as f32.
  std::vector<float> zeros(shape.groups * n_count);
  std::vector<float> scales(shape.groups * n_count);
  for (size_t group = 0; group < shape.groups; ++group) {
    for (size_t n = 0; n < n_count; ++n) {
      const uint32_t word = load_word(tensors.qzeros, group * (n_count / per_word) + n / per_word);
      const auto stored = static_cast<int>((word >> (bits * (n % per_word))) & mask);
      zeros[group * n_count + n] = static_cast<float>(stored + zero_offset);
      scales[group * n_count + n] = load_float(tensors.scales, group * n_count + n);
    }
  }

  const std::vector<uint32_t> groups = channel_groups(params, tensors, k_count);
  for (size_t packed_row = 0; packed_row < k_count / per_word; ++packed_row) {
    for (size_t n = 0; n < n_count; ++n) {
      const uint32_t word = load_word(tensors.qweight, packed_row * n_count + n);
      for (size_t slot = 0; slot < per_word; ++slot) {
        const size_t k = packed_row * per_word + slot;
        const size_t group_entry = groups[k] * n_count + n;
        const auto q = static_cast<float>((word >> (bits * slot)) & mask);
        // q - zero is a small integer, so the difference is exact and the product rounds once.
        weight[n * k_count + k] = (q - zeros[group_entry]) * scales[group_entry];
      }
    }
  }
  return ok();
}

}  // namespace ferrum::quant
