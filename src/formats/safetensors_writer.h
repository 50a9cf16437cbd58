// safetensors writer: tensors in the order added, packed back to back after a JSON header that is
// space-padded to a multiple of 8 bytes (so 8-byte dtypes stay aligned when the data starts at an
// aligned address). Used by gen-model benchmarks and `ferrum logits --out`.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
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

  // Adds a tensor whose bytes `produce` writes into the sink when the file is written (as
  // GgufWriter's), so a shard larger than memory is written one tensor, or one slice of one, at a
  // time. It must write exactly the tensor's size.
  // (A template, so that `add_tensor(name, dtype, shape, {})` still means no bytes.)
  using TensorProducer = std::function<Status(ByteSink& sink)>;
  template <class Producer>
  requires std::is_invocable_r_v<Status, Producer&, ByteSink&> Status add_tensor(std::string_view name, DType dtype,
                                                                                 const Shape& shape, Producer produce) {
    return add_produced_tensor(name, dtype, shape, TensorProducer(std::move(produce)));
  }

  Status write(const std::filesystem::path& path) const;
  Expected<std::vector<uint8_t>> to_bytes() const;
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
    TensorProducer produce;  // set for tensors written by a producer
    size_t produced_bytes = 0;
    std::span<const uint8_t> bytes() const { return is_owned ? std::span<const uint8_t>(owned) : external; }
    size_t byte_size() const { return produce ? produced_bytes : bytes().size(); }
  };

  Status add_produced_tensor(std::string_view name, DType dtype, const Shape& shape, TensorProducer produce);
  Status add_pending(PendingTensor tensor);
  std::string header_json() const;
  Status emit(ByteSink& sink) const;

  std::map<std::string, std::string> metadata_;
  std::vector<PendingTensor> tensors_;
  std::unordered_set<std::string> names_;
};

}  // namespace ferrum
