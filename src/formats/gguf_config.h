// ModelConfig from GGUF metadata, for the architectures llama, qwen2, qwen3, qwen3moe, gemma3,
// deepseek2 and bert (keys "<arch>.embedding_length", "<arch>.attention.head_count", ...).
//
// Where GGUF has no key for something config.json states, the value is derived from the tensors
// present (tied embeddings: no output.weight; biases; MoE layers: blk.N.ffn_gate_inp.weight) or from
// the conventions of llama.cpp's converter, listed in docs/formats.md (Gemma 3's
// query_pre_attn_scalar, sliding pattern and local rope base; DeepSeek's yarn mscale).
#pragma once

#include "core/error.h"
#include "formats/gguf_file.h"
#include "formats/model_config.h"

namespace ferrum {

Expected<ModelConfig> config_from_gguf(const GgufFile& file);

}  // namespace ferrum
