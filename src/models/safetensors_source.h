// WeightSource over a safetensors checkpoint (one file or shards): HF names are its own names.
#pragma once

#include <filesystem>

#include "formats/safetensors_checkpoint.h"
#include "models/weight_source.h"

namespace ferrum {

class SafetensorsSource final : public WeightSource {
 public:
  static Expected<std::unique_ptr<SafetensorsSource>> open(const std::filesystem::path& path);

  Expected<WeightTensor> find(std::string_view hf_name) const override;
  bool contains(std::string_view hf_name) const override;
  std::string describe() const override { return path_.string(); }

 private:
  SafetensorsSource(std::filesystem::path path, SafetensorsCheckpoint checkpoint)
      : path_(std::move(path)), checkpoint_(std::move(checkpoint)) {}

  std::filesystem::path path_;
  SafetensorsCheckpoint checkpoint_;
};

}  // namespace ferrum
