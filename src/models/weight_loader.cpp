#include "models/weight_loader.h"

#include <algorithm>

#include "core/thread_pool.h"
#include "quant/awq.h"
#include "quant/gptq.h"

namespace ferrum {
namespace {

Expected<std::vector<int32_t>> int32_words(const TensorView& view, std::string_view what) {
  FERRUM_CHECK(view.dtype() == DType::kI32 && view.is_contiguous(), ErrorCode::kUnsupported, what,
               " must be contiguous int32, found ", view.dtype());
  std::vector<int32_t> words(static_cast<size_t>(view.numel()));
  std::memcpy(words.data(), view.data(), words.size() * sizeof(int32_t));  // mapped data may be unaligned
  return words;
}

// An int32 tensor's words in place when they are 4-byte aligned, else copied into `storage`.
Expected<std::span<const int32_t>> int32_words_in_place(const TensorView& view, std::string_view what,
                                                        std::vector<int32_t>& storage) {
  FERRUM_CHECK(view.dtype() == DType::kI32 && view.is_contiguous(), ErrorCode::kUnsupported, what,
               " must be contiguous int32, found ", view.dtype());
  if (reinterpret_cast<uintptr_t>(view.data()) % alignof(int32_t) == 0) {
    return std::span(static_cast<const int32_t*>(view.data()), static_cast<size_t>(view.numel()));
  }
  FERRUM_ASSIGN_OR_RETURN(storage, int32_words(view, what));
  return std::span<const int32_t>(storage);
}

// Rewrites GPTQ v2 zero points (stored as is) in v1's convention (stored minus one).
Status zeros_v2_to_v1(std::vector<int32_t>& qzeros, uint32_t bits, std::string_view layer) {
  const uint32_t per_word = 32 / bits;
  const uint32_t mask = (1u << bits) - 1;
  for (int32_t& word : qzeros) {
    uint32_t packed = 0;
    for (uint32_t slot = 0; slot < per_word; ++slot) {
      const uint32_t zero = (static_cast<uint32_t>(word) >> (slot * bits)) & mask;
      FERRUM_CHECK(zero > 0, ErrorCode::kUnsupported, layer,
                   ": a GPTQ v2 zero point of 0 cannot be expressed in the v1 packing the kernels use");
      packed |= (zero - 1) << (slot * bits);
    }
    word = static_cast<int32_t>(packed);
  }
  return ok();
}

}  // namespace

Status validate_group_quantized(const CheckpointQuantization& quantization, const GroupQuantTensors& tensors,
                                size_t out_features, size_t in_features, const std::string& layer) {
  quant::PackedLinearShape shape;
  if (quantization.method == CheckpointQuantization::Method::kAwq) {
    quant::AwqParams params{quantization.bits, quantization.group_size};
    Expected<quant::PackedLinearShape> validated =
        quant::validate_awq(params, {tensors.qweight, tensors.qzeros, tensors.scales});
    if (!validated) return std::move(validated).error().with_context(layer);
    shape = *validated;
  } else {
    quant::GptqParams params;
    params.bits = quantization.bits;
    params.group_size = quantization.group_size;
    params.sym = quantization.sym;
    params.desc_act = quantization.desc_act;
    params.format = quantization.gptq_v2 ? quant::GptqCheckpointFormat::kV2 : quant::GptqCheckpointFormat::kV1;
    Expected<quant::PackedLinearShape> validated =
        quant::validate_gptq(params, {tensors.qweight, tensors.qzeros, tensors.scales, tensors.g_idx});
    if (!validated) return std::move(validated).error().with_context(layer);
    shape = *validated;
  }
  FERRUM_CHECK(shape.in_features == in_features && shape.out_features == out_features, ErrorCode::kShapeMismatch, layer,
               ": quantized weight is [", shape.out_features, ", ", shape.in_features, "], expected [", out_features,
               ", ", in_features, "]");
  return ok();
}

Expected<GptqHostTensors> gptq_host_tensors(const CheckpointQuantization& quantization,
                                            const GroupQuantTensors& tensors) {
  GptqHostTensors host;
  FERRUM_ASSIGN_OR_RETURN(host.qweight, int32_words_in_place(tensors.qweight, "GPTQ qweight", host.qweight_storage));
  FERRUM_ASSIGN_OR_RETURN(host.qzeros, int32_words(tensors.qzeros, "GPTQ qzeros"));
  if (quantization.gptq_v2) FERRUM_TRY(zeros_v2_to_v1(host.qzeros, quantization.bits, "GPTQ qzeros"));
  FERRUM_ASSIGN_OR_RETURN(host.scales, tensor_to_f32(tensors.scales));
  if (tensors.g_idx.data() != nullptr) {
    FERRUM_ASSIGN_OR_RETURN(host.g_idx, int32_words(tensors.g_idx, "GPTQ g_idx"));
  }
  return host;
}

Expected<GptqHostTensors> awq_host_tensors(const GroupQuantTensors& tensors) {
  GptqHostTensors host;
  FERRUM_ASSIGN_OR_RETURN(host.qweight, int32_words_in_place(tensors.qweight, "AWQ qweight", host.qweight_storage));
  FERRUM_ASSIGN_OR_RETURN(host.qzeros, int32_words(tensors.qzeros, "AWQ qzeros"));
  FERRUM_ASSIGN_OR_RETURN(host.scales, tensor_to_f32(tensors.scales));
  return host;
}

Expected<std::vector<float>> tensor_to_f32(const TensorView& view) {
  FERRUM_CHECK(can_dequantize(view.dtype()), ErrorCode::kUnsupported, "cannot convert a tensor of dtype ", view.dtype(),
               " to f32");
  FERRUM_CHECK(view.is_contiguous(), ErrorCode::kUnsupported, "cannot convert a strided tensor to f32");
  std::vector<float> values(static_cast<size_t>(view.numel()));
  dequantize_row(view.dtype(), view.data(), values.data(), values.size());
  return values;
}

namespace {

bool plain_float(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

// values as `dtype` (f32, f16 or bf16) into out: the rounding both f32_to_bytes and convert_dense use.
void store_floats(std::span<const float> values, DType dtype, uint8_t* out) {
  if (dtype == DType::kF32) {
    std::memcpy(out, values.data(), values.size() * sizeof(float));
    return;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t bits = dtype == DType::kF16 ? to_f16(values[i]).bits : to_bf16(values[i]).bits;
    std::memcpy(out + 2 * i, &bits, 2);
  }
}

}  // namespace

Expected<std::vector<uint8_t>> f32_to_bytes(std::span<const float> values, DType dtype) {
  FERRUM_CHECK(plain_float(dtype), ErrorCode::kUnsupported, "cannot store weights as ", dtype,
               " (f32, f16 or bf16 only)");
  std::vector<uint8_t> bytes(values.size() * dtype_info(dtype).block_bytes);
  store_floats(values, dtype, bytes.data());
  return bytes;
}

Expected<std::vector<uint8_t>> convert_dense(const TensorView& view, DType dtype) {
  const DType stored = view.dtype();
  if (!plain_float(stored) || !plain_float(dtype) || !view.is_contiguous()) {
    FERRUM_ASSIGN_OR_RETURN(std::vector<float> values, tensor_to_f32(view));
    return f32_to_bytes(values, dtype);
  }
  // tensor_to_f32 then f32_to_bytes, a chunk at a time in each thread instead of through a whole
  // f32 copy of the tensor.
  constexpr size_t kChunk = size_t{1} << 14;
  const size_t count = static_cast<size_t>(view.numel());
  const size_t in_size = dtype_info(stored).block_bytes, out_size = dtype_info(dtype).block_bytes;
  std::vector<uint8_t> bytes(count * out_size);
  const auto* in = static_cast<const uint8_t*>(view.data());
  default_thread_pool().parallel_for(count, kChunk, [&](size_t begin, size_t end) {
    std::vector<float> values(std::min(kChunk, end - begin));
    for (size_t first = begin; first < end; first += kChunk) {
      const size_t n = std::min(kChunk, end - first);
      dequantize_row(stored, in + first * in_size, values.data(), n);
      store_floats(std::span<const float>(values.data(), n), dtype, bytes.data() + first * out_size);
    }
  });
  return bytes;
}

}  // namespace ferrum
