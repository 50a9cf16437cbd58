#include "formats/safetensors_checkpoint.h"

#include "formats/json_file.h"

namespace ferrum {
namespace {

// Shard names come from a downloaded JSON file: only plain names in the index's directory count.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name.find('\\') == std::string::npos && name != "." &&
         name != "..";
}

}  // namespace

Expected<SafetensorsCheckpoint> SafetensorsCheckpoint::open(const std::filesystem::path& path) {
  SafetensorsCheckpoint checkpoint;
  checkpoint.path_ = path;
  if (path.extension() != ".json") {
    FERRUM_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(path));
    FERRUM_TRY(checkpoint.add_shard(std::move(file)));
    return checkpoint;
  }

  FERRUM_ASSIGN_OR_RETURN(const nlohmann::json index, read_json_file(path));
  const std::string source = path.string();
  FERRUM_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(), ErrorCode::kParse,
               source, ": missing object \"weight_map\"");
  const nlohmann::json& weight_map = index["weight_map"];
  // Shards in the order first named, each mapped once.
  std::map<std::string, std::string> shard_of_tensor;
  std::vector<std::string> shard_names;
  for (const auto& [tensor, shard] : weight_map.items()) {
    FERRUM_CHECK(shard.is_string() && is_plain_file_name(shard.get<std::string>()), ErrorCode::kParse, source,
                 ": weight_map entry for '", tensor, "' is ", json_snippet(shard), ", expected a file name");
    const std::string& name = shard.get_ref<const std::string&>();
    if (std::find(shard_names.begin(), shard_names.end(), name) == shard_names.end()) shard_names.push_back(name);
    shard_of_tensor.emplace(tensor, name);
  }
  FERRUM_CHECK(!shard_names.empty(), ErrorCode::kParse, source, ": weight_map lists no tensors");
  for (const std::string& name : shard_names) {
    const std::filesystem::path shard_path = path.parent_path() / name;
    std::error_code error;
    if (!std::filesystem::exists(shard_path, error)) {
      return make_error(ErrorCode::kNotFound, source, " lists shard ", name, ", but ", shard_path.string(),
                        " does not exist");
    }
    FERRUM_ASSIGN_OR_RETURN(SafetensorsFile shard, SafetensorsFile::open(shard_path));
    FERRUM_TRY(checkpoint.add_shard(std::move(shard)));
  }
  for (const auto& [tensor, shard_name] : shard_of_tensor) {
    const SafetensorsFile* shard = checkpoint.shard_of(tensor);
    FERRUM_CHECK(shard != nullptr, ErrorCode::kNotFound, source, " maps tensor '", tensor, "' to ", shard_name,
                 ", which does not contain it");
    FERRUM_CHECK(std::filesystem::path(shard->path()).filename() == shard_name, ErrorCode::kParse, source,
                 " maps tensor '", tensor, "' to ", shard_name, ", but it is in ", shard->path());
  }
  return checkpoint;
}

Status SafetensorsCheckpoint::add_shard(SafetensorsFile shard) {
  const size_t shard_index = shards_.size();
  for (size_t i = 0; i < shard.tensors().size(); ++i) {
    const std::string& name = shard.tensors()[i].name;
    auto [it, inserted] = entries_.emplace(name, Entry{shard_index, i});
    FERRUM_CHECK(inserted, ErrorCode::kParse, "tensor '", name, "' appears in both ", shards_[it->second.shard].path(),
                 " and ", shard.path());
  }
  shards_.push_back(std::move(shard));
  return ok();
}

const SafetensorsTensorInfo* SafetensorsCheckpoint::find_tensor(std::string_view name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &shards_[it->second.shard].tensors()[it->second.tensor];
}

const SafetensorsFile* SafetensorsCheckpoint::shard_of(std::string_view name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &shards_[it->second.shard];
}

Expected<TensorView> SafetensorsCheckpoint::tensor_view(std::string_view name) const {
  auto it = entries_.find(name);
  FERRUM_CHECK(it != entries_.end(), ErrorCode::kNotFound, "tensor '", name, "' is not in ", path_.string());
  const SafetensorsFile& shard = shards_[it->second.shard];
  return shard.tensor_view(shard.tensors()[it->second.tensor]);
}

}  // namespace ferrum
