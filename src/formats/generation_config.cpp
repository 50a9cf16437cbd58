#include "formats/generation_config.h"

#include "formats/json_fields.h"
#include "formats/json_file.h"

namespace ferrum {

Expected<GenerationConfig> parse_generation_config(std::string_view json_text, std::string_view source) {
  FERRUM_ASSIGN_OR_RETURN(const nlohmann::json json, parse_json(json_text, source));
  JsonFields f(json, std::string(source));
  GenerationConfig config;
  config.bos_token_id = f.optional_int("bos_token_id");
  config.eos_token_ids = f.int_or_int_list("eos_token_id");
  config.pad_token_id = f.optional_int("pad_token_id");
  if (f.has("do_sample")) config.do_sample = f.bool_or("do_sample", false);
  config.temperature = f.optional_number("temperature");
  config.top_p = f.optional_number("top_p");
  config.top_k = f.optional_int("top_k");
  config.min_p = f.optional_number("min_p");
  config.repetition_penalty = f.optional_number("repetition_penalty");
  config.max_length = f.optional_int("max_length");
  config.max_new_tokens = f.optional_int("max_new_tokens");
  FERRUM_TRY(f.status());
  return config;
}

Expected<GenerationConfig> load_generation_config(const std::filesystem::path& path) {
  FERRUM_ASSIGN_OR_RETURN(const std::string text, read_text_file(path));
  return parse_generation_config(text, path.string());
}

}  // namespace ferrum
