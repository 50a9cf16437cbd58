#include "formats/gguf_writer.h"

#include <algorithm>
#include <cstring>

namespace ferrum {
namespace {

void append_string(std::vector<uint8_t>& out, std::string_view text) {
  const uint64_t length = text.size();
  const auto* length_bytes = reinterpret_cast<const uint8_t*>(&length);
  out.insert(out.end(), length_bytes, length_bytes + sizeof length);
  out.insert(out.end(), text.begin(), text.end());
}

void append_u32(std::vector<uint8_t>& out, uint32_t value) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), bytes, bytes + sizeof value);
}

void append_u64(std::vector<uint8_t>& out, uint64_t value) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), bytes, bytes + sizeof value);
}

uint64_t align_up(uint64_t offset, uint64_t alignment) {
  return (offset + alignment - 1) / alignment * alignment;
}

}  // namespace

void GgufArrayBuilder::append(const void* data, size_t bytes) {
  const auto* begin = static_cast<const uint8_t*>(data);
  encoded_.insert(encoded_.end(), begin, begin + bytes);
}

GgufArrayBuilder GgufArrayBuilder::of_strings(std::span<const std::string> values) {
  GgufArrayBuilder array(GgufValueType::kString);
  array.size_ = values.size();
  for (const std::string& value : values) append_string(array.encoded_, value);
  return array;
}

GgufArrayBuilder GgufArrayBuilder::of_strings(std::span<const std::string_view> values) {
  GgufArrayBuilder array(GgufValueType::kString);
  array.size_ = values.size();
  for (std::string_view value : values) append_string(array.encoded_, value);
  return array;
}

GgufArrayBuilder GgufArrayBuilder::of_arrays(std::span<const GgufArrayBuilder> values) {
  GgufArrayBuilder array(GgufValueType::kArray);
  array.size_ = values.size();
  for (const GgufArrayBuilder& inner : values) {
    append_u32(array.encoded_, static_cast<uint32_t>(inner.element_type_));
    append_u64(array.encoded_, inner.size_);
    array.append(inner.encoded_.data(), inner.encoded_.size());
  }
  return array;
}

GgufArrayBuilder GgufArrayBuilder::of_gguf(const GgufArray& source) {
  if (source.element_type() == GgufValueType::kString) return of_strings(source.strings());
  if (source.element_type() == GgufValueType::kArray) {
    std::vector<GgufArrayBuilder> inner;
    for (const GgufArray& element : source.arrays()) inner.push_back(of_gguf(element));
    return of_arrays(inner);
  }
  GgufArrayBuilder array(source.element_type());
  array.size_ = source.size();
  array.append(source.raw_bytes().data(), source.raw_bytes().size());
  return array;
}

void GgufWriter::set_value(std::string_view key, const GgufValue& value) {
  const GgufValueType type = value.type();
  if (const GgufArray* array = value.as_array()) return set_array(key, GgufArrayBuilder::of_gguf(*array));
  if (type == GgufValueType::kString) return set_string(key, value.as_string().value_or(""));
  if (type == GgufValueType::kBool) return set_bool(key, value.as_bool().value_or(false));
  if (!begin_key(key, type)) return;
  // Numbers: the value in its own width, little-endian like everything else here.
  const size_t width = gguf_value_type_size(type);
  uint8_t bytes[8] = {};
  if (type == GgufValueType::kF32) {
    const auto number = static_cast<float>(value.as_double().value_or(0));
    std::memcpy(bytes, &number, sizeof number);
  } else if (type == GgufValueType::kF64) {
    const double number = value.as_double().value_or(0);
    std::memcpy(bytes, &number, sizeof number);
  } else if (auto signed_value = value.as_int()) {
    std::memcpy(bytes, &*signed_value, width);
  } else {
    const uint64_t number = value.as_uint().value_or(0);
    std::memcpy(bytes, &number, width);
  }
  append_metadata(bytes, width);
}

void GgufWriter::set_alignment(uint32_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errors_.push_back(make_error(ErrorCode::kInvalidArgument, "GGUF alignment ", alignment, " is not a power of two"));
    return;
  }
  alignment_ = alignment;
  set_u32("general.alignment", alignment);
}

bool GgufWriter::begin_key(std::string_view key, GgufValueType type) {
  if (key.empty() || !keys_.emplace(key).second) {
    errors_.push_back(make_error(ErrorCode::kInvalidArgument, "GGUF metadata key '", key, "' is ",
                                 key.empty() ? "empty" : "set twice"));
    return false;
  }
  append_string(metadata_, key);
  append_u32(metadata_, static_cast<uint32_t>(type));
  ++metadata_count_;
  return true;
}

void GgufWriter::append_metadata(const void* data, size_t bytes) {
  const auto* begin = static_cast<const uint8_t*>(data);
  metadata_.insert(metadata_.end(), begin, begin + bytes);
}

void GgufWriter::set_string(std::string_view key, std::string_view value) {
  if (!begin_key(key, GgufValueType::kString)) return;
  append_string(metadata_, value);
}

void GgufWriter::set_array(std::string_view key, const GgufArrayBuilder& array) {
  if (!begin_key(key, GgufValueType::kArray)) return;
  append_u32(metadata_, static_cast<uint32_t>(array.element_type()));
  append_u64(metadata_, array.size());
  append_metadata(array.encoded().data(), array.encoded().size());
}

Status GgufWriter::add_tensor(std::string_view name, const TensorView& view) {
  FERRUM_CHECK(view.is_contiguous(), ErrorCode::kInvalidArgument, "GGUF tensor '", name,
               "' must be contiguous to be written");
  PendingTensor tensor{std::string(name), view.dtype(), view.shape(), {}, {}, false};
  tensor.external = {static_cast<const uint8_t*>(view.data()), view.nbytes()};
  return add_pending(std::move(tensor));
}

Status GgufWriter::add_tensor(std::string_view name, DType dtype, const Shape& shape, std::vector<uint8_t> bytes) {
  return add_pending(PendingTensor{std::string(name), dtype, shape, {}, std::move(bytes), true});
}

Status GgufWriter::add_tensor(std::string_view name, DType dtype, const Shape& shape, TensorProducer produce) {
  PendingTensor tensor{std::string(name), dtype, shape, {}, {}, false, std::move(produce), 0};
  if (auto bytes = dtype_bytes(dtype, static_cast<size_t>(std::max<int64_t>(0, shape.numel())))) {
    tensor.produced_bytes = *bytes;
  }
  return add_pending(std::move(tensor));
}

Status GgufWriter::add_pending(PendingTensor tensor) {
  const std::string& name = tensor.name;
  FERRUM_CHECK(!name.empty(), ErrorCode::kInvalidArgument, "GGUF tensor name is empty");
  FERRUM_CHECK(!tensor_names_.contains(name), ErrorCode::kInvalidArgument, "GGUF tensor '", name, "' added twice");
  FERRUM_CHECK(ggml_type_from_dtype(tensor.dtype).has_value(), ErrorCode::kUnsupported, "GGUF tensor '", name,
               "': GGUF cannot store ", dtype_name(tensor.dtype));
  const size_t rank = tensor.shape.rank();
  FERRUM_CHECK(rank >= 1 && rank <= kGgufMaxDims, ErrorCode::kInvalidArgument, "GGUF tensor '", name, "' has rank ",
               rank, " (allowed: 1 to ", kGgufMaxDims, ")");
  for (int64_t dim : tensor.shape.dims()) {
    FERRUM_CHECK(dim >= 0, ErrorCode::kInvalidArgument, "GGUF tensor '", name, "' has shape ",
                 tensor.shape.to_string());
  }
  const size_t block_elems = dtype_info(tensor.dtype).block_elems;
  FERRUM_CHECK(tensor.shape[rank - 1] % static_cast<int64_t>(block_elems) == 0, ErrorCode::kShapeMismatch,
               "GGUF tensor '", name, "': rows of ", tensor.shape[rank - 1], " values are not a whole number of ",
               block_elems, "-value ", dtype_name(tensor.dtype), " blocks");
  auto expected_bytes = dtype_bytes(tensor.dtype, static_cast<size_t>(tensor.shape.numel()));
  if (!expected_bytes) return std::move(expected_bytes).error().with_context(cat("GGUF tensor '", name, "'"));
  FERRUM_CHECK(tensor.size() == *expected_bytes, ErrorCode::kShapeMismatch, "GGUF tensor '", name, "' (",
               dtype_name(tensor.dtype), " ", tensor.shape.to_string(), ") needs ", *expected_bytes, " bytes, got ",
               tensor.bytes().size());
  tensor_names_.insert(name);
  tensors_.push_back(std::move(tensor));
  return ok();
}

Status GgufWriter::emit(ByteSink& sink) const {
  if (!errors_.empty()) return errors_.front();
  std::vector<uint8_t> header;
  append_u32(header, kGgufMagic);
  append_u32(header, 3);
  append_u64(header, tensors_.size());
  append_u64(header, metadata_count_);
  header.insert(header.end(), metadata_.begin(), metadata_.end());
  uint64_t data_offset = 0;
  for (const PendingTensor& tensor : tensors_) {
    append_string(header, tensor.name);
    const size_t rank = tensor.shape.rank();
    append_u32(header, static_cast<uint32_t>(rank));
    for (size_t axis = rank; axis-- > 0;) append_u64(header, static_cast<uint64_t>(tensor.shape[axis]));
    append_u32(header, *ggml_type_from_dtype(tensor.dtype));
    append_u64(header, data_offset);
    data_offset = align_up(data_offset + tensor.size(), alignment_);
  }
  FERRUM_TRY(sink.append(header));
  if (tensors_.empty()) return ok();
  FERRUM_TRY(sink.append_zeros(align_up(header.size(), alignment_) - header.size()));
  for (const PendingTensor& tensor : tensors_) {
    if (tensor.produce) {
      CountingSink counted(sink, tensor.produced_bytes, cat("GGUF tensor '", tensor.name, "'"));
      FERRUM_TRY(tensor.produce(counted));
      FERRUM_TRY(counted.check_complete());
    } else {
      FERRUM_TRY(sink.append(tensor.bytes()));
    }
    FERRUM_TRY(sink.append_zeros(align_up(tensor.size(), alignment_) - tensor.size()));
  }
  return ok();
}

Status GgufWriter::write(const std::filesystem::path& path) const {
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileSink> sink, AtomicFileSink::create(path));
  FERRUM_TRY(emit(*sink));
  return sink->commit();
}

Expected<std::vector<uint8_t>> GgufWriter::to_bytes() const {
  VectorSink sink;
  FERRUM_TRY(emit(sink));
  return std::move(sink.bytes());
}

}  // namespace ferrum
