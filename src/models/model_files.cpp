#include "models/model_files.h"

#include "formats/gguf_config.h"
#include "formats/hf_config.h"
#include "formats/json_file.h"
#include "models/gguf_source.h"
#include "models/safetensors_source.h"

namespace ferrum {

WeightLoaderOptions ModelFiles::loader_options() const {
  WeightLoaderOptions options;
  if (!config.quantization) return options;
  const QuantizationConfig& q = *config.quantization;
  CheckpointQuantization& target = options.quantization;
  target.method = q.method == "awq" ? CheckpointQuantization::Method::kAwq : CheckpointQuantization::Method::kGptq;
  target.bits = static_cast<uint32_t>(q.bits);
  target.group_size = q.group_size < 0 ? 0 : static_cast<size_t>(q.group_size);
  target.desc_act = q.desc_act;
  target.sym = q.sym;
  target.gptq_v2 = q.checkpoint_format == "gptq_v2";
  return options;
}

Expected<ModelFiles> open_model_files(std::string_view spec) {
  FERRUM_ASSIGN_OR_RETURN(std::filesystem::path path, resolve_model_path(spec));
  ModelFiles files;
  FERRUM_ASSIGN_OR_RETURN(files.dir, ModelDir::open(path));
  if (files.is_gguf()) {
    FERRUM_ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::open(files.dir.weights));
    FERRUM_ASSIGN_OR_RETURN(files.config, config_from_gguf(gguf));
    files.weights = GgufSource::wrap(std::move(gguf), files.config);
    // GgufSource hands out Llama's Q / K rows in rotate-half order, so the model sees HF's layout.
    if (auto* decoder = std::get_if<DecoderConfig>(&files.config.params);
        decoder != nullptr && files.config.arch == ModelArch::kLlama) {
      decoder->rope_interleaved = false;
    }
    return files;
  }
  FERRUM_CHECK(files.dir.config.has_value(), ErrorCode::kNotFound, files.dir.root.string(),
               ": no config.json next to the safetensors weights");
  FERRUM_ASSIGN_OR_RETURN(files.config, load_hf_config(*files.dir.config));
  if (!files.config.quantization && files.dir.quantize_config) {
    // AutoGPTQ / AutoAWQ checkpoints may keep their settings beside config.json instead of inside it.
    FERRUM_ASSIGN_OR_RETURN(nlohmann::json quantize, read_json_file(*files.dir.quantize_config));
    const std::string source = files.dir.quantize_config->string();
    const bool is_awq = files.dir.quantize_config->filename() == "quant_config.json";
    FERRUM_ASSIGN_OR_RETURN(files.config.quantization,
                            parse_quantization_config(quantize, source, is_awq ? "awq" : "gptq"));
  }
  FERRUM_ASSIGN_OR_RETURN(files.weights, SafetensorsSource::open(files.dir.weights));
  return files;
}

}  // namespace ferrum
