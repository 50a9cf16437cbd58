#include "bench/model_summary.h"

#include "formats/gguf_file.h"
#include "formats/json_file.h"

namespace ferrum::bench {
namespace {

// llama.cpp's general.file_type names for the common types.
std::string gguf_file_type_label(uint64_t file_type) {
  switch (file_type) {
    case 0: return "F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K";
    case 12: return "Q3_K_M";
    case 14: return "Q4_K_S";
    case 15: return "Q4_K_M";
    case 16: return "Q5_K_S";
    case 17: return "Q5_K_M";
    case 18: return "Q6_K";
    case 32: return "BF16";
    default: return "file_type " + std::to_string(file_type);
  }
}

uint64_t safetensors_bytes(const std::filesystem::path& directory) {
  uint64_t total = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    if (entry.path().extension() == ".safetensors") total += entry.file_size(error);
  }
  return total;
}

}  // namespace

Expected<ModelSummary> summarise_model(const ModelFiles& files) {
  ModelSummary summary;
  std::error_code error;
  if (files.is_gguf()) {
    summary.name = files.dir.weights.filename().string();
    summary.file_bytes = std::filesystem::file_size(files.dir.weights, error);
    FERRUM_ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::open(files.dir.weights));
    FERRUM_ASSIGN_OR_RETURN(const uint64_t file_type, gguf.get_uint_or("general.file_type", 0));
    summary.weights = gguf_file_type_label(file_type);
    summary.integer_weights = file_type != 0 && file_type != 1 && file_type != 32;  // not F32, F16, BF16
    FERRUM_ASSIGN_OR_RETURN(std::string_view name, gguf.get_string_or("general.name", ""));
    if (const size_t at = name.find("ferrum gen-model preset "); at != std::string_view::npos) {
      const std::string_view rest = name.substr(at + std::string_view("ferrum gen-model preset ").size());
      summary.synthetic_preset = std::string(rest.substr(0, rest.find(' ')));
    }
    return summary;
  }
  summary.name = files.dir.root.filename().string();
  if (summary.name.empty()) summary.name = files.dir.root.parent_path().filename().string();
  summary.file_bytes = safetensors_bytes(files.dir.root);
  if (files.config.quantization) {
    const QuantizationConfig& q = *files.config.quantization;
    summary.weights = q.method + "-int" + std::to_string(q.bits);
    summary.integer_weights = true;
  } else if (auto embedding = files.weights->find("model.embed_tokens.weight")) {
    summary.weights = std::string(dtype_name(embedding->view.dtype()));
  } else {
    summary.weights = "unknown";
  }
  if (files.dir.config) {
    FERRUM_ASSIGN_OR_RETURN(nlohmann::json config, read_json_file(*files.dir.config));
    if (config.contains("ferrum_synthetic") && config["ferrum_synthetic"].is_object()) {
      summary.synthetic_preset = config["ferrum_synthetic"].value("preset", "unknown");
    }
  }
  return summary;
}

}  // namespace ferrum::bench
