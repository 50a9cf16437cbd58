// The Hugging Face config.json and generation_config.json of a preset, written as the real
// model's files spell them (so ferrum, transformers or vLLM would read the same shapes), and the
// GGUF metadata llama.cpp's converter writes for the same model.
#pragma once

#include <optional>
#include <string>

#include "formats/gguf_writer.h"
#include "synth/model_presets.h"
#include "synth/synthetic_vocab.h"

namespace ferrum::synth {

enum class PackedQuant { kNone, kGptqInt4, kAwqInt4 };

// Group size of the GPTQ / AWQ checkpoints gen-model writes (the common published choice).
inline constexpr size_t kPackedGroupSize = 128;

// config.json. `torch_dtype` as transformers names it ("bfloat16", "float16", "float32").
std::string hf_config_text(const ModelPreset& preset, const std::string& torch_dtype, PackedQuant quant,
                           const BpeVocab& vocab, uint64_t seed);
std::string generation_config_text(const BpeVocab& vocab);

// general.* and <arch>.* keys; `file_type` is llama.cpp's general.file_type number.
void add_gguf_model_metadata(GgufWriter& writer, const ModelPreset& preset, uint32_t file_type, uint64_t seed);
// "llama", "qwen3", "qwen3moe", "gemma3".
std::string gguf_architecture(const ModelPreset& preset);
// llama.cpp's pre-tokenizer name for the family's real tokenizer ("llama-bpe", "qwen2", ...).
std::string gguf_pre_tokenizer_for(const ModelPreset& preset);

}  // namespace ferrum::synth
