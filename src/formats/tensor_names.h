// How GGUF tensor names (llama.cpp's convention, "blk.N.attn_q.weight") relate to Hugging Face
// tensor names ("model.layers.N.self_attn.q_proj.weight") for each architecture, so one model
// implementation can load either kind of file. docs/formats.md prints the tables.
//
// Besides the names, two weight-layout facts travel with the mapping: GGUF files of the "llama"
// architecture store Q and K rows permuted for interleaved-pair RoPE (HF uses rotate-half), and
// Gemma GGUFs store RMSNorm weights with the +1 already added. Shapes are otherwise identical
// (both outermost-first in ferrum).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/model_config.h"

namespace ferrum {

enum class TensorNameRelation {
  kSame,         // same tensor, same shape
  kExpertSlice,  // the HF name has {E}: the GGUF tensor stacks those per-expert tensors along dim 0
  kGateHalf,     // the GGUF tensor is rows [0, n) of dim 1 of the fused HF experts.gate_up_proj
  kUpHalf,       // the GGUF tensor is rows [n, 2n) of dim 1 of the fused HF experts.gate_up_proj
};

struct TensorNamePair {
  std::string_view gguf;  // pattern: {N} is the layer index
  std::string_view hf;    // pattern: {N} layer, {E} expert
  TensorNameRelation relation;
};

// Every known name pair of an architecture (Whisper and CLIP have no GGUF convention: empty).
std::span<const TensorNamePair> tensor_name_table(ModelArch arch);

struct TensorNameMapping {
  std::string name;  // with {N} filled in; {E} kept for kExpertSlice HF names
  TensorNameRelation relation;
};

// The HF tensors a GGUF tensor corresponds to (several when HF has more than one layout for it,
// such as per-expert and fused expert tensors); empty when the name is unknown or has no HF
// counterpart (rope_freqs.weight).
std::vector<TensorNameMapping> gguf_to_hf_tensor_names(ModelArch arch, std::string_view gguf_name);
// The GGUF tensors an HF tensor corresponds to (two for a fused gate_up_proj).
std::vector<TensorNameMapping> hf_to_gguf_tensor_names(ModelArch arch, std::string_view hf_name);

}  // namespace ferrum
