// Which GGUF block type each tensor of a quantized model gets: the "mostly Q4_K_M" style file types
// of llama.cpp, where a few sensitive tensors keep more bits than the rest. `ferrum gen-model` and
// `ferrum quantize` both take their per-tensor types from here, so a Q4_K_M file from either has
// the same size and speed as one from llama.cpp's quantize tool.
//
// The Q4_K_M rules (what llama.cpp does, in our words):
//   - 1-D tensors (norms, biases, rope factors) and MoE routers stay f32;
//   - the output projection (or the token embedding when it doubles as the output) gets Q6_K;
//   - attn_v and ffn_down get Q6_K in "more bits" layers (the first and last eighth, and every
//     third layer between), Q4_K elsewhere; 70B-class Llama bumps the other attn_v to Q5_K
//     (its attn_v is 8x smaller than attn_q, so the extra bits cost almost nothing);
//   - everything else gets Q4_K;
//   - a row length that is not a multiple of 256 falls back to a 32-wide type (Q4_K -> Q5_0,
//     Q5_K -> Q5_1, Q6_K -> Q8_0), or f16 when not even that divides it.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor_view.h"

namespace ferrum::quant {

// llama.cpp's general.file_type numbers for the types we write.
enum class GgufFileType : uint32_t {
  kAllF32 = 0,
  kMostlyF16 = 1,
  kMostlyQ8_0 = 7,
  kMostlyQ4_K_M = 15,
  kMostlyBF16 = 32,
};

// "f32", "f16", "bf16", "Q8_0", "Q4_K_M" (case-insensitive) -> the file type.
std::optional<GgufFileType> parse_gguf_file_type(std::string_view name);
std::string_view gguf_file_type_name(GgufFileType type);

// What the recipe needs to know about the model as a whole.
struct QuantRecipeModel {
  size_t num_layers = 0;
  bool has_output_tensor = true;  // false: tied embeddings, token_embd is the output projection
  size_t num_experts = 0;         // routed experts per MoE layer (0: dense)
  bool llama_70b_class = false;   // Llama with 80 layers (llama.cpp's LLM_TYPE_70B)
};

// True for the layers that get more bits (llama.cpp's use_more_bits).
bool layer_gets_more_bits(size_t layer, size_t num_layers);

// The type of the tensor named `gguf_name` (llama.cpp's names: "blk.3.attn_v.weight") with shape
// `shape` (outermost first; the last dimension is the row length).
Expected<DType> gguf_recipe_type(GgufFileType file_type, std::string_view gguf_name, const Shape& shape,
                                 const QuantRecipeModel& model);

}  // namespace ferrum::quant
