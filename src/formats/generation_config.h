// generation_config.json: the sampling defaults and stop tokens a checkpoint ships with. Its
// eos_token_id list often adds end-of-turn tokens that config.json lacks (Llama 3's <|eot_id|>).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ferrum {

struct GenerationConfig {
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;
  std::optional<bool> do_sample;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  std::optional<double> min_p;
  std::optional<double> repetition_penalty;
  std::optional<int64_t> max_length;
  std::optional<int64_t> max_new_tokens;
};

Expected<GenerationConfig> parse_generation_config(std::string_view json_text,
                                                   std::string_view source = "generation_config.json");
Expected<GenerationConfig> load_generation_config(const std::filesystem::path& path);

}  // namespace ferrum
