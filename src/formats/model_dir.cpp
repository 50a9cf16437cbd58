#include "formats/model_dir.h"

#include <algorithm>
#include <string>

#include "formats/hf_cache.h"

namespace ferrum {
namespace {

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::optional<std::filesystem::path> existing(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error) ? std::optional(path) : std::nullopt;
}

// Regular files in `dir` (following symlinks, as hub snapshots are symlinks) whose name ends with
// `suffix`, sorted.
std::vector<std::filesystem::path> files_ending_with(const std::filesystem::path& dir, std::string_view suffix) {
  std::vector<std::filesystem::path> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (ends_with(entry.path().filename().string(), suffix) && existing(entry.path())) found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::string join_names(const std::vector<std::filesystem::path>& paths) {
  std::string names;
  for (const auto& path : paths) names += (names.empty() ? "" : ", ") + path.filename().string();
  return names;
}

Status find_weights(ModelDir& dir) {
  if (auto index = existing(dir.root / "model.safetensors.index.json")) {
    dir.weight_format = WeightFormat::kSafetensorsSharded;
    dir.weights = *index;
    return ok();
  }
  if (auto single = existing(dir.root / "model.safetensors")) {
    dir.weight_format = WeightFormat::kSafetensors;
    dir.weights = *single;
    return ok();
  }
  const auto indexes = files_ending_with(dir.root, ".safetensors.index.json");
  const auto safetensors = files_ending_with(dir.root, ".safetensors");
  const auto ggufs = files_ending_with(dir.root, ".gguf");
  if (indexes.size() == 1) {
    dir.weight_format = WeightFormat::kSafetensorsSharded;
    dir.weights = indexes[0];
    return ok();
  }
  if (indexes.empty() && safetensors.size() == 1) {
    dir.weight_format = WeightFormat::kSafetensors;
    dir.weights = safetensors[0];
    return ok();
  }
  if (indexes.empty() && safetensors.empty() && ggufs.size() == 1) {
    dir.weight_format = WeightFormat::kGguf;
    dir.weights = ggufs[0];
    return ok();
  }
  FERRUM_CHECK(indexes.size() <= 1 && safetensors.size() <= 1 && ggufs.size() <= 1, ErrorCode::kInvalidArgument,
               dir.root.string(), " holds several candidate weight files (", join_names(indexes),
               (indexes.empty() ? "" : ", "), join_names(safetensors), (safetensors.empty() ? "" : ", "),
               join_names(ggufs), "); name the one to load");
  FERRUM_CHECK(!existing(dir.root / "pytorch_model.bin"), ErrorCode::kUnsupported, dir.root.string(),
               " has only pickled PyTorch weights (pytorch_model.bin); convert them to safetensors");
  return make_error(ErrorCode::kNotFound, dir.root.string(),
                    " has no model weights (model.safetensors, model.safetensors.index.json or a .gguf)");
}

}  // namespace

Expected<ModelDir> ModelDir::open(const std::filesystem::path& path) {
  std::error_code error;
  FERRUM_CHECK(std::filesystem::exists(path, error), ErrorCode::kNotFound, path.string(), " does not exist");
  ModelDir dir;
  const bool is_file = !std::filesystem::is_directory(path, error);
  dir.root = is_file ? path.parent_path() : path;
  if (dir.root.empty()) dir.root = ".";
  dir.config = existing(dir.root / "config.json");
  dir.generation_config = existing(dir.root / "generation_config.json");
  dir.tokenizer = existing(dir.root / "tokenizer.json");
  dir.tokenizer_config = existing(dir.root / "tokenizer_config.json");
  dir.quantize_config = existing(dir.root / "quantize_config.json");
  if (!dir.quantize_config) dir.quantize_config = existing(dir.root / "quant_config.json");
  if (!is_file) {
    FERRUM_TRY(find_weights(dir));
    return dir;
  }
  const std::string name = path.filename().string();
  dir.weights = path;
  if (ends_with(name, ".gguf")) {
    dir.weight_format = WeightFormat::kGguf;
  } else if (ends_with(name, ".safetensors")) {
    dir.weight_format = WeightFormat::kSafetensors;
  } else if (ends_with(name, ".json")) {
    dir.weight_format = WeightFormat::kSafetensorsSharded;
  } else {
    return make_error(ErrorCode::kUnsupported, path.string(),
                      " is not a model file ferrum reads (.gguf, .safetensors or a safetensors index .json)");
  }
  return dir;
}

Expected<std::filesystem::path> resolve_model_path(std::string_view spec, std::string_view revision) {
  std::error_code error;
  const std::filesystem::path as_path(spec);
  if (std::filesystem::exists(as_path, error)) return as_path;
  if (!looks_like_hf_repo_id(spec)) {
    return make_error(ErrorCode::kNotFound, spec, " does not exist (and is not an org/name model id)");
  }
  FERRUM_ASSIGN_OR_RETURN(const HfRepoId repo, parse_hf_repo_id(spec));
  auto snapshot = resolve_hf_snapshot(hf_hub_cache_dir(), repo, revision);
  if (!snapshot) {
    return std::move(snapshot).error().with_context(cat("no file or directory named ", spec));
  }
  return *snapshot;
}

}  // namespace ferrum
