#include "formats/hf_config.h"

#include <array>

#include "formats/hf_config_readers.h"
#include "formats/json_file.h"

namespace ferrum {
namespace {

struct ArchName {
  std::string_view architecture;  // config.json "architectures"[0]
  std::string_view model_type;    // config.json "model_type"
  ModelArch arch;
};

constexpr std::array<ArchName, 11> kArchitectures = {{
    {"LlamaForCausalLM", "llama", ModelArch::kLlama},
    {"MistralForCausalLM", "mistral", ModelArch::kMistral},
    {"Qwen2ForCausalLM", "qwen2", ModelArch::kQwen2},
    {"Qwen3ForCausalLM", "qwen3", ModelArch::kQwen3},
    {"Qwen3MoeForCausalLM", "qwen3_moe", ModelArch::kQwen3Moe},
    {"Gemma3ForCausalLM", "gemma3_text", ModelArch::kGemma3},
    {"Gemma3ForConditionalGeneration", "gemma3", ModelArch::kGemma3},
    {"DeepseekV3ForCausalLM", "deepseek_v3", ModelArch::kDeepseekV3},
    {"BertModel", "bert", ModelArch::kBert},
    {"WhisperForConditionalGeneration", "whisper", ModelArch::kWhisper},
    {"CLIPModel", "clip", ModelArch::kClip},
}};

std::string supported_list() {
  std::string names;
  for (const ArchName& entry : kArchitectures) names += (names.empty() ? "" : ", ") + std::string(entry.architecture);
  return names;
}

SpecialTokenIds read_token_ids(JsonFields& f) {
  SpecialTokenIds ids;
  ids.bos = f.optional_int("bos_token_id");
  ids.eos = f.int_or_int_list("eos_token_id");
  ids.pad = f.optional_int("pad_token_id");
  ids.decoder_start = f.optional_int("decoder_start_token_id");
  return ids;
}

Expected<const ArchName*> identify(JsonFields& f) {
  const std::vector<std::string> architectures = f.string_list("architectures");
  const std::string model_type = f.string_or("model_type", "");
  FERRUM_TRY(f.status());
  for (const ArchName& entry : kArchitectures) {
    if (!architectures.empty() ? architectures.front() == entry.architecture : model_type == entry.model_type) {
      return &entry;
    }
  }
  FERRUM_CHECK(!architectures.empty() || !model_type.empty(), ErrorCode::kParse, f.source(),
               ": neither \"architectures\" nor \"model_type\" says what model this is");
  return make_error(ErrorCode::kUnsupported, f.source(), ": architecture ",
                    architectures.empty() ? "(none)" : architectures.front(), " (model_type \"", model_type,
                    "\") is not supported; ferrum supports ", supported_list());
}

}  // namespace

Expected<ModelConfig> parse_hf_config(const nlohmann::json& config, std::string_view source) {
  JsonFields f(config, std::string(source));
  FERRUM_ASSIGN_OR_RETURN(const ArchName* name, identify(f));
  ModelConfig model;
  model.arch = name->arch;
  model.architecture = std::string(name->architecture);
  model.model_type = f.string_or("model_type", name->model_type);
  model.torch_dtype = f.string_or("torch_dtype", f.string_or("dtype", ""));
  model.tokens = read_token_ids(f);

  switch (model.arch) {
    case ModelArch::kBert: model.params = read_hf_bert(f); break;
    case ModelArch::kWhisper: model.params = read_hf_whisper(f); break;
    case ModelArch::kClip: model.params = read_hf_clip(f); break;
    default:
      if (name->architecture == "Gemma3ForConditionalGeneration") {
        // The language model's fields live in text_config; token ids may sit at either level.
        JsonFields text = f.object("text_config");
        model.params = read_hf_decoder(text, model.arch);
        SpecialTokenIds inner = read_token_ids(text);
        if (inner.bos) model.tokens.bos = inner.bos;
        if (!inner.eos.empty()) model.tokens.eos = inner.eos;
        if (inner.pad) model.tokens.pad = inner.pad;
        f.absorb(text);
      } else {
        model.params = read_hf_decoder(f, model.arch);
      }
  }
  if (f.has("quantization_config")) {
    auto quantization = parse_quantization_config(*f.get("quantization_config"), source, "");
    if (!quantization) return std::move(quantization).error();
    model.quantization = std::move(quantization).value();
  }
  FERRUM_TRY(f.status());
  return model;
}

Expected<ModelConfig> parse_hf_config(std::string_view json_text, std::string_view source) {
  FERRUM_ASSIGN_OR_RETURN(const nlohmann::json config, parse_json(json_text, source));
  return parse_hf_config(config, source);
}

Expected<ModelConfig> load_hf_config(const std::filesystem::path& config_json) {
  FERRUM_ASSIGN_OR_RETURN(const nlohmann::json config, read_json_file(config_json));
  FERRUM_ASSIGN_OR_RETURN(ModelConfig model, parse_hf_config(config, config_json.string()));
  if (model.quantization) return model;
  const std::pair<const char*, const char*> sidecars[] = {{"quantize_config.json", "gptq"},
                                                          {"quant_config.json", "awq"}};
  for (const auto& [file_name, method] : sidecars) {
    const std::filesystem::path path = config_json.parent_path() / file_name;
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) continue;
    FERRUM_ASSIGN_OR_RETURN(const nlohmann::json sidecar, read_json_file(path));
    FERRUM_ASSIGN_OR_RETURN(model.quantization, parse_quantization_config(sidecar, path.string(), method));
    break;
  }
  return model;
}

}  // namespace ferrum
