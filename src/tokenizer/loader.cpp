#include "tokenizer/loader.h"

#include "tokenizer/hf_loader.h"

namespace ferrum::tokenizer {

namespace fs = std::filesystem;

Expected<std::unique_ptr<Tokenizer>> load_hf_tokenizer(const fs::path& tokenizer_json_path) {
  FERRUM_ASSIGN_OR_RETURN(
      TokenizerSpec spec,
      read_hf_tokenizer_spec(tokenizer_json_path, tokenizer_json_path.parent_path() / "tokenizer_config.json"));
  auto tokenizer = Tokenizer::create(std::move(spec));
  if (!tokenizer) return std::move(tokenizer).error().with_context(tokenizer_json_path.string());
  return tokenizer;
}

Expected<std::unique_ptr<Tokenizer>> load_tokenizer(const fs::path& path) {
  std::error_code error;
  if (fs::is_directory(path, error)) {
    if (fs::exists(path / "tokenizer.json")) return load_hf_tokenizer(path / "tokenizer.json");
    for (const fs::directory_entry& entry : fs::directory_iterator(path, error)) {
      if (entry.path().extension() == ".gguf") return load_tokenizer(entry.path());
    }
    return make_error(ErrorCode::kNotFound, path.string(), " holds neither tokenizer.json nor a .gguf file");
  }
  FERRUM_CHECK(fs::exists(path, error), ErrorCode::kNotFound, path.string(), " does not exist");
  if (path.extension() == ".json") return load_hf_tokenizer(path);
  return make_error(ErrorCode::kUnsupported, path.string(),
                    ": GGUF vocabularies load once the GGUF reader lands (formats branch)");
}

}  // namespace ferrum::tokenizer
