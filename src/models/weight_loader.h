// Turns named tensors of a WeightSource into backend buffers and Linear layers, checking every
// shape against what the model expects (errors name the tensor, the expected and the found shape).
//
// Dense float weights keep their stored dtype unless `dense_dtype` asks for another (the CUDA path
// runs bf16); GGUF blocks stay quantized; GPTQ / AWQ checkpoints are repacked by the backend.
// On the CPU, weights the model uses as stored are borrowed from the file mapping, not copied.
//
// Tensor parallelism: the methods that take a WeightSplit load only one rank's part of the stored
// tensor (weight_slicing.h cuts it); shapes passed in are always the stored, whole ones.
#pragma once

#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/half.h"
#include "models/linear.h"
#include "models/tensor_parallel.h"
#include "models/weight_slicing.h"
#include "models/weight_source.h"
#include "quant/dequantize.h"
#include "quant/gptq.h"

namespace ferrum {

// Group-wise integer quantization of a checkpoint (quantization_config in config.json).
struct CheckpointQuantization {
  enum class Method { kNone, kGptq, kAwq } method = Method::kNone;
  uint32_t bits = 4;
  size_t group_size = 128;  // 0 = per output channel
  bool desc_act = false;
  bool sym = true;
  bool gptq_v2 = false;  // GPTQ zeros stored as is rather than minus one
};

struct WeightLoaderOptions {
  std::optional<DType> dense_dtype;  // convert dense matrices to this dtype (nullopt: keep as stored)
  CheckpointQuantization quantization;
};

// Checks a GPTQ / AWQ layer's tensors against its declared shape; errors name the layer.
Status validate_group_quantized(const CheckpointQuantization& quantization, const GroupQuantTensors& tensors,
                                size_t out_features, size_t in_features, const std::string& layer);

// GPTQ tensors as load_gptq takes them: int32 words, f32 scales, g_idx (empty when absent).
// v2 checkpoints (zeros stored as is) are rewritten to v1's zero - 1 convention.
struct GptqHostTensors {
  // qweight is read in place (the checkpoint's mapping, or the loader's joined parts) when 4-byte
  // aligned: an 8B checkpoint's copy was ~5 GB of fresh pages written once and uploaded once.
  std::span<const int32_t> qweight;
  std::vector<int32_t> qweight_storage;  // the copy, for unaligned words
  std::vector<int32_t> qzeros, g_idx;
  std::vector<float> scales;
};
Expected<GptqHostTensors> gptq_host_tensors(const CheckpointQuantization& quantization,
                                            const GroupQuantTensors& tensors);
// AWQ tensors as load_awq takes them (int32 words as stored, f32 scales; g_idx stays empty).
Expected<GptqHostTensors> awq_host_tensors(const GroupQuantTensors& tensors);

// Converts host values of any float dtype to f32.
Expected<std::vector<float>> tensor_to_f32(const TensorView& view);
// Converts host float values to `dtype` (f32, f16 or bf16) as raw bytes.
Expected<std::vector<uint8_t>> f32_to_bytes(std::span<const float> values, DType dtype);
// A float tensor's values in `dtype` (f32, f16 or bf16), rounded as f32_to_bytes(tensor_to_f32(view))
// rounds them, in one pass over the default thread pool. The f16 embedding and lm_head of a GPTQ
// checkpoint (2 x 525 M values for Llama-3.1-8B) took several seconds through the f32 vector.
Expected<std::vector<uint8_t>> convert_dense(const TensorView& view, DType dtype);

template <Backend B>
class WeightLoader {
 public:
  using Buffer = typename B::Buffer;

  WeightLoader(const WeightSource& source, WeightLoaderOptions options)
      : source_(source), options_(std::move(options)) {}

  const WeightSource& source() const { return source_; }
  bool contains(std::string_view name) const { return source_.contains(name); }

  // A small f32 vector (norm weights, biases), optionally with `add` applied to every element
  // (Gemma stores RMSNorm weights as w - 1). A rows split keeps that part of the elements (the
  // bias of a column-parallel layer).
  Expected<Buffer> vector_f32(const std::string& name, size_t size, float add = 0.0f,
                              const WeightSplit& split = {}) const {
    FERRUM_ASSIGN_OR_RETURN(std::vector<float> values, vector_values(name, size, split));
    for (float& value : values) value += add;
    return B::from_slice(values, DType::kF32);
  }

  // A [rows, cols] matrix as the backend will use it (embedding tables, lm_head), or the part
  // `split` names of it.
  Expected<std::shared_ptr<const Buffer>> matrix(const std::string& name, size_t rows, size_t cols,
                                                 const WeightSplit& split = {}) const {
    FERRUM_ASSIGN_OR_RETURN(WeightTensor tensor,
                            find_with_shape(name, {static_cast<int64_t>(rows), static_cast<int64_t>(cols)}));
    FERRUM_ASSIGN_OR_RETURN(WeightTensor part, slice_matrix(tensor, split, source_.describe() + ": " + name));
    FERRUM_ASSIGN_OR_RETURN(Buffer buffer, upload_matrix(part));
    return std::make_shared<const Buffer>(std::move(buffer));
  }

  // The linear layer stored under `prefix` (prefix.weight, or prefix.qweight/... for GPTQ / AWQ),
  // or the part `split` names of it. A row-parallel part's outputs are partial sums that
  // all_reduce adds up, so only the first part carries the bias.
  Expected<Linear<B>> linear(const std::string& prefix, size_t out_features, size_t in_features, bool bias = false,
                             const WeightSplit& split = {}) const {
    const size_t local_out = split.splits() ? split.local_rows(out_features) : out_features;
    const size_t local_in = split.splits() ? split.local_columns(in_features) : in_features;
    std::optional<Buffer> bias_buffer;
    const bool row_parallel = split.splits() && split.axis == WeightSplit::Axis::kColumns;
    if (bias && !(row_parallel && split.index != 0)) {
      FERRUM_ASSIGN_OR_RETURN(bias_buffer,
                              vector_f32(prefix + ".bias", out_features, 0.0f, row_parallel ? WeightSplit{} : split));
    }
    if (options_.quantization.method != CheckpointQuantization::Method::kNone &&
        source_.contains(prefix + ".qweight")) {
      FERRUM_ASSIGN_OR_RETURN(auto storage, load_group_quantized(prefix, out_features, in_features, split));
      return Linear<B>(prefix, local_out, local_in, std::move(storage), std::move(bias_buffer));
    }
    FERRUM_ASSIGN_OR_RETURN(auto weight, matrix(prefix + ".weight", out_features, in_features, split));
    return Linear<B>(prefix, local_out, local_in, storage_for(std::move(weight)), std::move(bias_buffer));
  }

  // Linear layers stored separately but applied to the same input, fused into one [sum(out), in]
  // layer when they share a storage type (one GEMM instead of several); nullopt when they do not.
  // GPTQ / AWQ parts are joined along their packed outputs (fused_group_quantized).
  // `splits` (empty: none) gives each layer's part, so q, k and v can be split differently.
  Expected<std::optional<Linear<B>>> fused_linear(std::span<const std::string> prefixes,
                                                  std::span<const size_t> out_features, size_t in_features, bool bias,
                                                  const std::string& fused_name,
                                                  std::span<const WeightSplit> splits = {}) const {
    const auto split_of = [&](size_t i) { return splits.empty() ? WeightSplit{} : splits[i]; };
    std::optional<Buffer> bias_buffer;
    if (bias) {
      std::vector<float> bias_values;
      for (size_t i = 0; i < prefixes.size(); ++i) {
        FERRUM_ASSIGN_OR_RETURN(std::vector<float> values,
                                vector_values(prefixes[i] + ".bias", out_features[i], split_of(i)));
        bias_values.insert(bias_values.end(), values.begin(), values.end());
      }
      FERRUM_ASSIGN_OR_RETURN(bias_buffer, B::from_slice(bias_values, DType::kF32));
    }
    if (options_.quantization.method != CheckpointQuantization::Method::kNone) {
      return fused_group_quantized(prefixes, out_features, in_features, fused_name, splits, std::move(bias_buffer));
    }
    std::vector<WeightTensor> parts;
    size_t total_rows = 0;
    size_t local_in = in_features;
    for (size_t i = 0; i < prefixes.size(); ++i) {
      FERRUM_ASSIGN_OR_RETURN(WeightTensor stored,
                              find_with_shape(prefixes[i] + ".weight", {static_cast<int64_t>(out_features[i]),
                                                                        static_cast<int64_t>(in_features)}));
      FERRUM_ASSIGN_OR_RETURN(WeightTensor tensor,
                              slice_matrix(stored, split_of(i), source_.describe() + ": " + prefixes[i] + ".weight"));
      if (!parts.empty() && tensor.view.dtype() != parts.front().view.dtype()) return std::nullopt;
      total_rows += static_cast<size_t>(tensor.view.shape()[0]);
      local_in = static_cast<size_t>(tensor.view.shape()[1]);
      parts.push_back(std::move(tensor));
    }
    FERRUM_ASSIGN_OR_RETURN(Buffer weight, upload_fused(parts, total_rows, local_in));
    return std::optional<Linear<B>>(Linear<B>(fused_name, total_rows, local_in,
                                              storage_for(std::make_shared<const Buffer>(std::move(weight))),
                                              std::move(bias_buffer)));
  }

  // Matrix `index` of a stacked [count, out_features, in_features] tensor (how transformers 5 and
  // GGUF store routed experts) as a Linear. Whole rows move, so GGUF blocks stay as stored; on the
  // CPU the slice is borrowed from the file mapping.
  Expected<Linear<B>> stacked_linear(const std::string& name, size_t index, size_t count, size_t out_features,
                                     size_t in_features) const {
    FERRUM_CHECK(index < count, ErrorCode::kInvalidArgument, name, ": matrix ", index, " of ", count);
    FERRUM_CHECK(options_.quantization.method == CheckpointQuantization::Method::kNone, ErrorCode::kUnsupported,
                 source_.describe(), ": stacked tensor ", name, " in a GPTQ / AWQ checkpoint is not supported");
    FERRUM_ASSIGN_OR_RETURN(WeightTensor stacked,
                            find_with_shape(name, {static_cast<int64_t>(count), static_cast<int64_t>(out_features),
                                                   static_cast<int64_t>(in_features)}));
    FERRUM_CHECK(stacked.view.is_contiguous(), ErrorCode::kUnsupported, source_.describe(), ": tensor ", name,
                 " is not contiguous");
    const size_t slice_bytes = stacked.view.nbytes() / count;
    const auto* start = static_cast<const uint8_t*>(stacked.view.data()) + index * slice_bytes;
    const WeightTensor slice{TensorView(start, stacked.view.dtype(),
                                        Shape{static_cast<int64_t>(out_features), static_cast<int64_t>(in_features)}),
                             stacked.keep_alive};
    FERRUM_ASSIGN_OR_RETURN(Buffer weight, upload_matrix(slice));
    return Linear<B>(name + "[" + std::to_string(index) + "]", out_features, in_features,
                     storage_for(std::make_shared<const Buffer>(std::move(weight))));
  }

  // The linear layer `prefix` with its output rows reordered: row i of the result is stored row
  // row_order[i]. Whole rows move, so GGUF blocks stay as stored (GPTQ / AWQ pack across output
  // columns and are refused). With `stored_rows` (0: out_features) larger than out_features the
  // order also picks a subset of the stored rows (one rank's heads).
  Expected<Linear<B>> linear_with_row_order(const std::string& prefix, size_t out_features, size_t in_features,
                                            std::span<const size_t> row_order, size_t stored_rows = 0) const {
    const size_t stored = stored_rows == 0 ? out_features : stored_rows;
    FERRUM_CHECK(row_order.size() == out_features, ErrorCode::kInvalidArgument, prefix, ": row order of ",
                 row_order.size(), " entries for ", out_features, " rows");
    FERRUM_CHECK(
        options_.quantization.method == CheckpointQuantization::Method::kNone || !source_.contains(prefix + ".qweight"),
        ErrorCode::kUnsupported, source_.describe(), ": ", prefix,
        " needs its rows reordered, which GPTQ / AWQ packing does not allow");
    FERRUM_ASSIGN_OR_RETURN(
        WeightTensor tensor,
        find_with_shape(prefix + ".weight", {static_cast<int64_t>(stored), static_cast<int64_t>(in_features)}));
    FERRUM_CHECK(tensor.view.is_contiguous(), ErrorCode::kUnsupported, source_.describe(), ": tensor ", prefix,
                 ".weight is not contiguous");
    const size_t row_bytes = tensor.view.nbytes() / stored;
    const auto* rows = static_cast<const uint8_t*>(tensor.view.data());
    std::vector<uint8_t> bytes(out_features * row_bytes);
    for (size_t i = 0; i < out_features; ++i) {
      FERRUM_CHECK(row_order[i] < stored, ErrorCode::kInvalidArgument, prefix, ": row order names row ", row_order[i],
                   " of ", stored);
      std::memcpy(bytes.data() + i * row_bytes, rows + row_order[i] * row_bytes, row_bytes);
    }
    const WeightTensor reordered{
        TensorView(bytes.data(), tensor.view.dtype(),
                   Shape{static_cast<int64_t>(out_features), static_cast<int64_t>(in_features)}),
        nullptr};
    FERRUM_ASSIGN_OR_RETURN(Buffer weight, upload_matrix(reordered, /*may_borrow=*/false));
    return Linear<B>(prefix, out_features, in_features, storage_for(std::make_shared<const Buffer>(std::move(weight))));
  }

  // A weight's values as host f32 (dense or GGUF; GPTQ / AWQ tensors are integers and refused),
  // for weights the model rearranges at load.
  Expected<std::vector<float>> host_f32(const std::string& name, std::initializer_list<int64_t> dims) const {
    FERRUM_ASSIGN_OR_RETURN(WeightTensor tensor, find_with_shape(name, dims));
    return tensor_to_f32(tensor.view);
  }

  // Uploads a dense matrix built on the host: in options_.dense_dtype when set, else in `preferred`
  // (f32, f16 or bf16; pick the stored dtype when the values came from such a tensor unchanged).
  Expected<Buffer> dense_from_f32(std::span<const float> values, DType preferred) const {
    const DType dtype = options_.dense_dtype.value_or(preferred);
    FERRUM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, f32_to_bytes(values, dtype));
    return B::from_bytes(bytes, dtype, values.size());
  }

  // The dtype `name` is stored in (a block type for GGUF weights).
  Expected<DType> stored_dtype(const std::string& name) const {
    FERRUM_ASSIGN_OR_RETURN(WeightTensor tensor, source_.find(name));
    return tensor.view.dtype();
  }

  // The storage a Linear needs for an uploaded matrix (dense, or GGUF blocks).
  static typename Linear<B>::Storage storage_for(std::shared_ptr<const Buffer> weight) {
    if (is_quantized(weight->dtype())) {
      // The type first: the braced initializers run in order, and the first one moves `weight`.
      const GgufQuantType type = gguf_quant_type(weight->dtype());
      return GgufWeight<B>{std::move(weight), type};
    }
    return DenseWeight<B>{std::move(weight)};
  }

 private:
  // A stored vector's values, or the part a rows split names.
  Expected<std::vector<float>> vector_values(const std::string& name, size_t size, const WeightSplit& split) const {
    FERRUM_ASSIGN_OR_RETURN(WeightTensor tensor, find_with_shape(name, {static_cast<int64_t>(size)}));
    FERRUM_ASSIGN_OR_RETURN(std::vector<float> values, tensor_to_f32(tensor.view));
    if (split.axis != WeightSplit::Axis::kRows || !split.splits()) return values;
    FERRUM_ASSIGN_OR_RETURN(ShareRange part, even_share(size, split.index, split.parts, name));
    return std::vector<float>(values.begin() + static_cast<std::ptrdiff_t>(part.begin),
                              values.begin() + static_cast<std::ptrdiff_t>(part.end));
  }

  Expected<WeightTensor> find_with_shape(const std::string& name, std::initializer_list<int64_t> dims) const {
    FERRUM_ASSIGN_OR_RETURN(WeightTensor tensor, source_.find(name));
    const Shape expected(dims);
    FERRUM_CHECK(tensor.view.shape() == expected, ErrorCode::kShapeMismatch, source_.describe(), ": tensor ", name,
                 " has shape ", tensor.view.shape().to_string(), ", expected ", expected.to_string());
    return tensor;
  }

  // Uploads a matrix, converting dense floats to options_.dense_dtype when one is set.
  Expected<Buffer> upload_matrix(const WeightTensor& tensor, bool may_borrow = true) const {
    const TensorView& view = tensor.view;
    const size_t numel = static_cast<size_t>(view.numel());
    FERRUM_CHECK(view.is_contiguous(), ErrorCode::kUnsupported, source_.describe(), ": tensor is not contiguous");
    const DType stored = view.dtype();
    const bool is_float = dtype_info(stored).is_float;
    FERRUM_CHECK(is_float || is_quantized(stored), ErrorCode::kUnsupported, source_.describe(), ": weight of dtype ",
                 stored, " cannot be used as a matrix");
    if (is_float && options_.dense_dtype && *options_.dense_dtype != stored) {
      FERRUM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, convert_dense(view, *options_.dense_dtype));
      return B::from_bytes(bytes, *options_.dense_dtype, numel);
    }
    if (is_float && stored != DType::kF32 && stored != DType::kF16 && stored != DType::kBF16) {
      FERRUM_ASSIGN_OR_RETURN(std::vector<float> values, tensor_to_f32(view));  // f64, f8: widen once
      return B::from_slice(values, DType::kF32);
    }
    if constexpr (requires { B::borrow_host(view.data(), stored, numel, tensor.keep_alive); }) {
      if (may_borrow && tensor.keep_alive) return B::borrow_host(view.data(), stored, numel, tensor.keep_alive);
    }
    const auto* data = static_cast<const uint8_t*>(view.data());
    return B::from_bytes(std::span<const uint8_t>(data, view.nbytes()), stored, numel);
  }

  // Parts stacked by rows into one matrix. Backends with from_byte_parts take the stored bytes
  // straight from the file mapping when no conversion is due; otherwise the rows are joined in host
  // memory first.
  Expected<Buffer> upload_fused(const std::vector<WeightTensor>& parts, size_t total_rows, size_t in_features) const {
    const DType stored = parts.front().view.dtype();
    const bool as_stored =
        is_quantized(stored) || ((stored == DType::kF32 || stored == DType::kF16 || stored == DType::kBF16) &&
                                 (!options_.dense_dtype || *options_.dense_dtype == stored));
    if constexpr (requires(std::span<const std::span<const uint8_t>> spans) {
                    B::from_byte_parts(spans, stored, total_rows);
                  }) {
      bool contiguous = true;
      for (const WeightTensor& part : parts) contiguous = contiguous && part.view.is_contiguous();
      if (as_stored && contiguous) {
        std::vector<std::span<const uint8_t>> spans;
        for (const WeightTensor& part : parts) {
          spans.emplace_back(static_cast<const uint8_t*>(part.view.data()), part.view.nbytes());
        }
        return B::from_byte_parts(spans, stored, total_rows * in_features);
      }
    }
    std::vector<uint8_t> bytes;
    size_t total_bytes = 0;
    for (const WeightTensor& part : parts) total_bytes += part.view.nbytes();
    bytes.reserve(total_bytes);
    for (const WeightTensor& part : parts) {
      const auto* data = static_cast<const uint8_t*>(part.view.data());
      bytes.insert(bytes.end(), data, data + part.view.nbytes());
    }
    const Shape fused_shape{static_cast<int64_t>(total_rows), static_cast<int64_t>(in_features)};
    WeightTensor fused{TensorView(bytes.data(), stored, fused_shape), nullptr};
    return upload_matrix(fused, /*may_borrow=*/false);
  }

  // fused_linear for a GPTQ / AWQ checkpoint: every part stored packed, cut to this rank's share,
  // then joined along the outputs (concat_group_quantized_outputs); nullopt where they cannot be.
  Expected<std::optional<Linear<B>>> fused_group_quantized(std::span<const std::string> prefixes,
                                                           std::span<const size_t> out_features, size_t in_features,
                                                           const std::string& fused_name,
                                                           std::span<const WeightSplit> splits,
                                                           std::optional<Buffer> bias) const {
    std::vector<SlicedGroupQuant> parts;
    size_t total_out = 0;
    size_t local_in = in_features;
    for (size_t i = 0; i < prefixes.size(); ++i) {
      if (!source_.contains(prefixes[i] + ".qweight")) return std::nullopt;
      const WeightSplit split = splits.empty() ? WeightSplit{} : splits[i];
      FERRUM_ASSIGN_OR_RETURN(SlicedGroupQuant part,
                              group_quantized_part(prefixes[i], out_features[i], in_features, split));
      total_out += split.splits() ? split.local_rows(out_features[i]) : out_features[i];
      local_in = split.splits() ? split.local_columns(in_features) : in_features;
      parts.push_back(std::move(part));
    }
    FERRUM_ASSIGN_OR_RETURN(std::optional<SlicedGroupQuant> joined,
                            concat_group_quantized_outputs(parts, options_.quantization.bits));
    if (!joined) return std::nullopt;
    FERRUM_TRY(validate_group_quantized(options_.quantization, joined->tensors, total_out, local_in, fused_name));
    FERRUM_ASSIGN_OR_RETURN(auto storage, store_group_quantized(joined->tensors, total_out, local_in));
    return std::optional<Linear<B>>(Linear<B>(fused_name, total_out, local_in, std::move(storage), std::move(bias)));
  }

  // GPTQ goes through the backend's load_gptq; AWQ through load_awq where the backend has it (else,
  // or where it refuses the layer, AWQ stays packed for gemm_quant).
  Expected<typename Linear<B>::Storage> load_group_quantized(const std::string& prefix, size_t stored_out_features,
                                                             size_t stored_in_features,
                                                             const WeightSplit& split) const {
    FERRUM_ASSIGN_OR_RETURN(SlicedGroupQuant part,
                            group_quantized_part(prefix, stored_out_features, stored_in_features, split));
    const size_t out_features = split.splits() ? split.local_rows(stored_out_features) : stored_out_features;
    const size_t in_features = split.splits() ? split.local_columns(stored_in_features) : stored_in_features;
    return store_group_quantized(part.tensors, out_features, in_features);
  }

  // The packed tensors of layer `prefix`, or this rank's part of them. The whole stored layer is
  // validated, then the part is cut out and validated again at its own shape.
  Expected<SlicedGroupQuant> group_quantized_part(const std::string& prefix, size_t stored_out_features,
                                                  size_t stored_in_features, const WeightSplit& split) const {
    const CheckpointQuantization& q = options_.quantization;
    FERRUM_ASSIGN_OR_RETURN(WeightTensor qweight, source_.find(prefix + ".qweight"));
    FERRUM_ASSIGN_OR_RETURN(WeightTensor qzeros, source_.find(prefix + ".qzeros"));
    FERRUM_ASSIGN_OR_RETURN(WeightTensor scales, source_.find(prefix + ".scales"));
    GroupQuantTensors tensors{qweight.view, qzeros.view, scales.view, TensorView()};
    // The views may outlive this call (the part returns them uncut): whatever keeps them valid goes along.
    std::vector<std::shared_ptr<const void>> keep_alive = {qweight.keep_alive, qzeros.keep_alive, scales.keep_alive};
    if (q.method == CheckpointQuantization::Method::kGptq && source_.contains(prefix + ".g_idx")) {
      FERRUM_ASSIGN_OR_RETURN(WeightTensor g_idx, source_.find(prefix + ".g_idx"));
      tensors.g_idx = g_idx.view;
      keep_alive.push_back(g_idx.keep_alive);
    }
    FERRUM_TRY(validate_group_quantized(q, tensors, stored_out_features, stored_in_features, prefix));
    const PackedQuantLayout layout =
        q.method == CheckpointQuantization::Method::kAwq ? PackedQuantLayout::kAwq : PackedQuantLayout::kGptq;
    FERRUM_ASSIGN_OR_RETURN(SlicedGroupQuant part,
                            slice_group_quantized(layout, q.bits, q.group_size, tensors, stored_out_features,
                                                  stored_in_features, split, source_.describe() + ": " + prefix));
    if (split.splits()) {
      FERRUM_TRY(validate_group_quantized(q, part.tensors, split.local_rows(stored_out_features),
                                          split.local_columns(stored_in_features), prefix + " (this rank's part)"));
    }
    part.storage.insert(part.storage.end(), keep_alive.begin(), keep_alive.end());
    return part;
  }

  // A validated layer's tensors as the backend keeps them: GPTQ's through load_gptq, AWQ's through
  // load_awq or as stored.
  Expected<typename Linear<B>::Storage> store_group_quantized(const GroupQuantTensors& tensors, size_t out_features,
                                                              size_t in_features) const {
    const CheckpointQuantization& q = options_.quantization;
    if (q.method == CheckpointQuantization::Method::kAwq) {
      if constexpr (requires(std::span<const int32_t> ints, std::span<const float> floats) {
                      B::load_awq(ints, floats, ints, size_t{}, size_t{}, size_t{});
                    }) {
        // Backends that run AWQ through their GPTQ store take it here (CUDA repacks it and refuses
        // zero points of 0, which then stay AWQ; CPU decodes it as it is).
        FERRUM_ASSIGN_OR_RETURN(GptqHostTensors host, awq_host_tensors(tensors));
        auto store = B::load_awq(host.qweight, host.scales, host.qzeros, q.group_size, in_features, out_features);
        if (store) return GptqWeight<B>{std::move(*store), 4, q.group_size, false};
        if (store.error().code() != ErrorCode::kUnsupported) return std::move(store).error();
      }
      const auto upload = [](const TensorView& view) -> Expected<std::shared_ptr<const Buffer>> {
        FERRUM_ASSIGN_OR_RETURN(
            Buffer buffer,
            B::from_bytes(std::span<const uint8_t>(static_cast<const uint8_t*>(view.data()), view.nbytes()),
                          view.dtype(), static_cast<size_t>(view.numel())));
        return std::make_shared<const Buffer>(std::move(buffer));
      };
      FERRUM_ASSIGN_OR_RETURN(auto qweight_buffer, upload(tensors.qweight));
      FERRUM_ASSIGN_OR_RETURN(auto zeros_buffer, upload(tensors.qzeros));
      FERRUM_ASSIGN_OR_RETURN(auto scales_buffer, upload(tensors.scales));
      return PackedQuantWeight<B>{qweight_buffer, scales_buffer, zeros_buffer, AwqQuant{q.bits, q.group_size}};
    }
    FERRUM_ASSIGN_OR_RETURN(GptqHostTensors host, gptq_host_tensors(q, tensors));
    std::optional<std::span<const int32_t>> g_idx_span;
    if (!host.g_idx.empty()) g_idx_span = host.g_idx;
    FERRUM_ASSIGN_OR_RETURN(auto store, B::load_gptq(host.qweight, host.scales, host.qzeros, g_idx_span, q.bits,
                                                     q.group_size, in_features, out_features));
    const bool act_order = !quant::gptq_g_idx_is_natural(host.g_idx, q.group_size);
    return GptqWeight<B>{std::move(store), q.bits, q.group_size, act_order};
  }

  const WeightSource& source_;
  WeightLoaderOptions options_;
};

}  // namespace ferrum
