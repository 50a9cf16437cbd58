// safetensors writer: tensors in the order added, packed back to back after a JSON header that is
// space-padded to a multiple of 8 bytes (so 8-byte dtypes stay aligned when the data starts at an
// aligned address). Used by gen-model benchmarks and `ferrum logits --out`.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/error.h"
#include "core/tensor_view.h"

namespace ferrum {

class ByteSink;

class SafetensorsWriter {
 public:
  // A "__metadata__" entry (string to string, as the format requires).
  void set_metadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }

  // Adds a tensor whose bytes the caller keeps alive until write() / to_bytes() returns.
  Status add_tensor(std::string_view name, const TensorView& view);
  // Adds a tensor that owns its bytes.
  Status add_tensor(std::string_view name, DType dtype, const Shape& shape, std::vector<uint8_t> bytes);

  // Adds a tensor whose bytes write_streamed() asks its producer for, so a shard larger than
  // memory can be written one tensor (or one slice of one) at a time.
  Status declare_tensor(std::string_view name, DType dtype, const Shape& shape);

  // Fails if any tensor was only declared (those need write_streamed).
  Status write(const std::filesystem::path& path) const;
  Expected<std::vector<uint8_t>> to_bytes() const;

  // Called once per declared tensor, in the order tensors were added, with a sink that must receive
  // exactly that tensor's bytes. `index` counts every tensor added, declared or not.
  using TensorProducer = std::function<Status(size_t index, ByteSink& sink)>;
  Status write_streamed(const std::filesystem::path& path, const TensorProducer& produce) const;
  Status write_streamed(ByteSink& sink, const TensorProducer& produce) const;
  // Bytes of tensor data (everything after the header).
  uint64_t data_bytes() const;

 private:
  struct PendingTensor {
    std::string name;
    DType dtype;
    Shape shape;
    std::span<const uint8_t> external;
    std::vector<uint8_t> owned;
    bool is_owned = false;
    bool is_declared = false;  // bytes come from a producer at write time
    size_t declared_bytes = 0;
    std::span<const uint8_t> bytes() const { return is_owned ? std::span<const uint8_t>(owned) : external; }
    size_t byte_size() const { return is_declared ? declared_bytes : bytes().size(); }
  };

  Status add_pending(PendingTensor tensor);
  std::string header_json() const;
  Status emit(ByteSink& sink, const TensorProducer* produce) const;

  std::map<std::string, std::string> metadata_;
  std::vector<PendingTensor> tensors_;
  std::unordered_set<std::string> names_;
};

}  // namespace ferrum
