#include "models/safetensors_source.h"

namespace ferrum {

Expected<std::unique_ptr<SafetensorsSource>> SafetensorsSource::open(const std::filesystem::path& path) {
  FERRUM_ASSIGN_OR_RETURN(SafetensorsCheckpoint checkpoint, SafetensorsCheckpoint::open(path));
  return std::unique_ptr<SafetensorsSource>(new SafetensorsSource(path, std::move(checkpoint)));
}

Expected<WeightTensor> SafetensorsSource::find(std::string_view hf_name) const {
  const SafetensorsFile* shard = checkpoint_.shard_of(hf_name);
  FERRUM_CHECK(shard != nullptr, ErrorCode::kNotFound, path_.string(), ": no tensor named ", hf_name);
  FERRUM_ASSIGN_OR_RETURN(TensorView view, checkpoint_.tensor_view(hf_name));
  return WeightTensor{view, shard->mapping()};
}

bool SafetensorsSource::contains(std::string_view hf_name) const {
  return checkpoint_.shard_of(hf_name) != nullptr;
}

}  // namespace ferrum
