// Short names for popular models ("qwen3:0.6b"), resolved to Hugging Face repositories and pulled
// into the HF cache on first use, as `ferrum pull` does.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ferrum {

struct ModelAlias {
  std::string_view alias;
  std::string_view repo;
  std::string_view description;
};

std::span<const ModelAlias> model_aliases();
// The model `ferrum run` uses when none is named.
inline constexpr std::string_view kDefaultModelAlias = "qwen3:0.6b";

// A path or org/name is returned as a local path, pulling an alias's repository into the HF cache
// when it is missing (or saying exactly what to download when offline).
Expected<std::string> resolve_model_spec(std::string_view spec);

}  // namespace ferrum
