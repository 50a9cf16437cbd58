#include "engine/model_aliases.h"

#include <array>
#include <filesystem>
#include <iostream>

#include "formats/hub_pull.h"
#include "formats/model_dir.h"

namespace ferrum {

std::span<const ModelAlias> model_aliases() {
  static constexpr std::array<ModelAlias, 9> kAliases = {{
      {"qwen3:0.6b", "Qwen/Qwen3-0.6B", "Qwen3 0.6B, bf16 (the default chat model)"},
      {"qwen3:1.7b", "Qwen/Qwen3-1.7B", "Qwen3 1.7B, bf16"},
      {"qwen3:4b", "Qwen/Qwen3-4B", "Qwen3 4B, bf16"},
      {"qwen3:8b", "Qwen/Qwen3-8B", "Qwen3 8B, bf16"},
      {"qwen2.5:0.5b", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen2.5 0.5B Instruct, bf16"},
      {"llama3.2:1b", "meta-llama/Llama-3.2-1B-Instruct", "Llama 3.2 1B Instruct (gated: needs HF_TOKEN)"},
      {"llama3.1:8b", "meta-llama/Llama-3.1-8B-Instruct", "Llama 3.1 8B Instruct (gated: needs HF_TOKEN)"},
      {"gemma3:1b", "google/gemma-3-1b-it", "Gemma 3 1B instruct (gated: needs HF_TOKEN)"},
      {"mistral:7b", "mistralai/Mistral-7B-Instruct-v0.3", "Mistral 7B Instruct v0.3"},
  }};
  return kAliases;
}

Expected<std::string> resolve_model_spec(std::string_view spec) {
  const ModelAlias* alias = nullptr;
  for (const ModelAlias& candidate : model_aliases()) {
    if (candidate.alias == spec) alias = &candidate;
  }
  if (alias == nullptr) return std::string(spec);
  if (auto cached = resolve_model_path(alias->repo); cached) return cached->string();
  std::cerr << "ferrum: " << alias->alias << " is " << alias->repo << ", not in the Hugging Face cache yet; pulling\n";
  PullOptions options;
  options.repo = std::string(alias->repo);
  options.include = {"*.json", "*.safetensors", "*.jinja", "tokenizer.model"};
  options.progress = &std::cerr;
  Expected<PullResult> pulled = pull_model(options);
  if (!pulled) {
    return make_error(ErrorCode::kNotFound, "could not download ", alias->repo, " for '", alias->alias, "' (",
                      pulled.error().message(), "). Download it elsewhere with `ferrum pull ", alias->repo,
                      "` (or huggingface-cli download) and copy the cache folder models--",
                      std::string(alias->repo).replace(alias->repo.find('/'), 1, "--"),
                      " into $HF_HOME/hub (default ~/.cache/huggingface/hub), or pass a local model path");
  }
  return pulled->snapshot.string();
}

}  // namespace ferrum
