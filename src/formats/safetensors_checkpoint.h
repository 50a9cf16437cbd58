// A checkpoint stored as one .safetensors file or as shards listed by model.safetensors.index.json
// ({"weight_map": {tensor name: shard file name}}). Every shard is mapped once; lookups by tensor
// name go straight to the shard that holds it.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "formats/safetensors_file.h"

namespace ferrum {

class SafetensorsCheckpoint {
 public:
  struct Entry {
    size_t shard;   // index into shards()
    size_t tensor;  // index into shards()[shard].tensors()
  };

  // `path` is a .safetensors file or a *.index.json naming shards in the same directory.
  static Expected<SafetensorsCheckpoint> open(const std::filesystem::path& path);

  const std::vector<SafetensorsFile>& shards() const { return shards_; }
  // Every tensor of every shard, by name.
  const std::map<std::string, Entry, std::less<>>& entries() const { return entries_; }
  size_t tensor_count() const { return entries_.size(); }

  const SafetensorsTensorInfo* find_tensor(std::string_view name) const;
  // The shard holding `name`, or nullptr.
  const SafetensorsFile* shard_of(std::string_view name) const;
  // A view of tensor `name`; kNotFound naming the tensor and checkpoint when absent.
  Expected<TensorView> tensor_view(std::string_view name) const;

 private:
  Status add_shard(SafetensorsFile shard);

  std::filesystem::path path_;
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace ferrum
