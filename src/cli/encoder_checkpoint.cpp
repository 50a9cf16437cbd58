#include "cli/encoder_checkpoint.h"

#include <charconv>
#include <sstream>

#include "formats/hf_config.h"

namespace ferrum::cli {

Expected<EncoderCheckpoint> open_encoder_checkpoint(std::string_view model) {
  EncoderCheckpoint checkpoint;
  FERRUM_ASSIGN_OR_RETURN(std::filesystem::path path, resolve_model_path(model));
  FERRUM_ASSIGN_OR_RETURN(checkpoint.dir, ModelDir::open(path));
  FERRUM_CHECK(checkpoint.dir.weight_format != WeightFormat::kGguf, ErrorCode::kUnsupported,
               checkpoint.dir.weights.string(), ": BERT, CLIP and Whisper run from safetensors checkpoints, not GGUF");
  FERRUM_CHECK(checkpoint.dir.config.has_value(), ErrorCode::kNotFound, checkpoint.dir.root.string(),
               ": no config.json");
  FERRUM_ASSIGN_OR_RETURN(checkpoint.config, load_hf_config(*checkpoint.dir.config));
  FERRUM_ASSIGN_OR_RETURN(checkpoint.source, SafetensorsSource::open(checkpoint.dir.weights));
  return checkpoint;
}

Expected<std::vector<uint32_t>> parse_id_list(std::string_view text) {
  std::string cleaned(text);
  for (char& c : cleaned) {
    if (c == '[' || c == ']' || c == ',') c = ' ';
  }
  std::istringstream numbers(cleaned);
  std::vector<uint32_t> ids;
  for (std::string number; numbers >> number;) {
    uint32_t id = 0;
    const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), id);
    FERRUM_CHECK(error == std::errc() && end == number.data() + number.size(), ErrorCode::kInvalidArgument, "'", number,
                 "' is not a token id");
    ids.push_back(id);
  }
  FERRUM_CHECK(!ids.empty(), ErrorCode::kInvalidArgument, "no token ids in '", text, "'");
  return ids;
}

}  // namespace ferrum::cli
