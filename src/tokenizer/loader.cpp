#include "tokenizer/loader.h"

#include "formats/gguf_file.h"
#include "tokenizer/gguf_loader.h"
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
  FERRUM_CHECK(path.extension() == ".gguf", ErrorCode::kUnsupported, path.string(),
               ": expected a .gguf file, tokenizer.json or a model directory");
  return load_gguf_tokenizer(path);
}

Expected<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const fs::path& gguf_path) {
  FERRUM_ASSIGN_OR_RETURN(GgufFile file, GgufFile::open(gguf_path));
  FERRUM_ASSIGN_OR_RETURN(TokenizerSpec spec, read_gguf_tokenizer_spec(file));
  auto tokenizer = Tokenizer::create(std::move(spec));
  if (!tokenizer) return std::move(tokenizer).error().with_context(gguf_path.string());
  return tokenizer;
}

}  // namespace ferrum::tokenizer
