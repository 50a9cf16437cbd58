#include "formats/safetensors_writer.h"

#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/safetensors_file.h"

namespace ferrum {

Status SafetensorsWriter::add_tensor(std::string_view name, const TensorView& view) {
  FERRUM_CHECK(view.is_contiguous(), ErrorCode::kInvalidArgument, "safetensors tensor '", name,
               "' must be contiguous to be written");
  PendingTensor tensor{std::string(name), view.dtype(), view.shape(), {}, {}, false};
  tensor.external = {static_cast<const uint8_t*>(view.data()), view.nbytes()};
  return add_pending(std::move(tensor));
}

Status SafetensorsWriter::add_tensor(std::string_view name, DType dtype, const Shape& shape,
                                     std::vector<uint8_t> bytes) {
  return add_pending(PendingTensor{std::string(name), dtype, shape, {}, std::move(bytes), true});
}

Status SafetensorsWriter::add_produced_tensor(std::string_view name, DType dtype, const Shape& shape,
                                              TensorProducer produce) {
  PendingTensor tensor{std::string(name), dtype, shape, {}, {}, false, std::move(produce), 0};
  return add_pending(std::move(tensor));
}

Status SafetensorsWriter::add_pending(PendingTensor tensor) {
  const std::string& name = tensor.name;
  FERRUM_CHECK(!name.empty() && name != "__metadata__", ErrorCode::kInvalidArgument, "safetensors tensor name '", name,
               "' is reserved or empty");
  FERRUM_CHECK(!names_.contains(name), ErrorCode::kInvalidArgument, "safetensors tensor '", name, "' added twice");
  FERRUM_CHECK(safetensors_dtype_name(tensor.dtype).has_value(), ErrorCode::kUnsupported, "safetensors tensor '", name,
               "': safetensors cannot store ", dtype_name(tensor.dtype));
  for (int64_t dim : tensor.shape.dims()) {
    FERRUM_CHECK(dim >= 0, ErrorCode::kInvalidArgument, "safetensors tensor '", name, "' has shape ",
                 tensor.shape.to_string());
  }
  const size_t expected = static_cast<size_t>(tensor.shape.numel()) * dtype_info(tensor.dtype).block_bytes;
  if (tensor.produce) tensor.produced_bytes = expected;
  FERRUM_CHECK(tensor.byte_size() == expected, ErrorCode::kShapeMismatch, "safetensors tensor '", name, "' (",
               dtype_name(tensor.dtype), " ", tensor.shape.to_string(), ") needs ", expected, " bytes, got ",
               tensor.bytes().size());
  names_.insert(name);
  tensors_.push_back(std::move(tensor));
  return ok();
}

std::string SafetensorsWriter::header_json() const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const PendingTensor& tensor : tensors_) {
    nlohmann::ordered_json entry;
    entry["dtype"] = *safetensors_dtype_name(tensor.dtype);
    entry["shape"] = std::vector<int64_t>(tensor.shape.dims().begin(), tensor.shape.dims().end());
    entry["data_offsets"] = {offset, offset + tensor.byte_size()};
    offset += tensor.byte_size();
    header[tensor.name] = std::move(entry);
  }
  // Names and metadata come from our callers; replace invalid UTF-8 rather than throw.
  std::string text = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

Status SafetensorsWriter::emit(ByteSink& sink) const {
  const std::string header = header_json();
  FERRUM_TRY(sink.append_value(static_cast<uint64_t>(header.size())));
  FERRUM_TRY(sink.append({reinterpret_cast<const uint8_t*>(header.data()), header.size()}));
  for (const PendingTensor& tensor : tensors_) {
    if (!tensor.produce) {
      FERRUM_TRY(sink.append(tensor.bytes()));
      continue;
    }
    CountingSink counted(sink, tensor.produced_bytes, cat("safetensors tensor '", tensor.name, "'"));
    FERRUM_TRY(tensor.produce(counted));
    FERRUM_TRY(counted.check_complete());
  }
  return ok();
}

uint64_t SafetensorsWriter::data_bytes() const {
  uint64_t total = 0;
  for (const PendingTensor& tensor : tensors_) total += tensor.byte_size();
  return total;
}

Status SafetensorsWriter::write(const std::filesystem::path& path) const {
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileSink> sink, AtomicFileSink::create(path));
  FERRUM_TRY(emit(*sink));
  return sink->commit();
}

Expected<std::vector<uint8_t>> SafetensorsWriter::to_bytes() const {
  VectorSink sink;
  FERRUM_TRY(emit(sink));
  return std::move(sink.bytes());
}

}  // namespace ferrum
