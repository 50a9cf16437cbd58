#include "formats/model_config.h"

namespace ferrum {

std::string_view model_arch_name(ModelArch arch) {
  switch (arch) {
    case ModelArch::kLlama: return "llama";
    case ModelArch::kMistral: return "mistral";
    case ModelArch::kQwen2: return "qwen2";
    case ModelArch::kQwen3: return "qwen3";
    case ModelArch::kQwen3Moe: return "qwen3_moe";
    case ModelArch::kGemma3: return "gemma3";
    case ModelArch::kDeepseekV3: return "deepseek_v3";
    case ModelArch::kBert: return "bert";
    case ModelArch::kWhisper: return "whisper";
    case ModelArch::kClip: return "clip";
  }
  return "unknown";
}

std::string_view rope_type_name(RopeType type) {
  switch (type) {
    case RopeType::kDefault: return "default";
    case RopeType::kLinear: return "linear";
    case RopeType::kDynamic: return "dynamic";
    case RopeType::kLlama3: return "llama3";
    case RopeType::kYarn: return "yarn";
    case RopeType::kLongrope: return "longrope";
  }
  return "unknown";
}

}  // namespace ferrum
