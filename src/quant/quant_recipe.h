// Which storage type each tensor of a model gets when `ferrum quantize --type T` writes it.
//
// Plain recipes (Q8_0, Q6_K, F16, BF16) use one type for every matrix. The mixed ones spend bits
// where quantization error costs the most, following the widely described *_K_M idea:
//   - the output projection (or the token embedding when it doubles as the output) is read for
//     every logit and gets Q6_K;
//   - attn_v and ffn_down of the "sensitive" layers (the first and last eighth of the stack and
//     every third layer in between) get Q6_K;
//   - the other matrices get the base type (Q4_K for Q4_K_M, Q5_K for Q5_K_M, Q4_0 for Q4_0).
// The 2- and 3-bit recipes follow llama-quantize's own description of them: Q3_K_M gives attn_v,
// attn_output and ffn_down Q4_K and the rest Q3_K; Q2_K gives attn_v and ffn_down Q4_K and the rest
// Q2_K; both keep the output in Q6_K. (llama.cpp's code refines that for the first layers; the
// bytes per token differ by about half a percent.)
// Vectors (norms, biases), routers and rope factors stay f32. A matrix whose rows are not a whole
// number of blocks of its type falls back to a legacy type of at least as many bits (K-quants
// need 256-value rows), then to f16.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::quant {

enum class QuantRecipe { kQ4_K_M, kQ5_K_M, kQ6_K, kQ8_0, kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ3_K_M, kQ2_K, kF16, kBF16 };

Expected<QuantRecipe> parse_quant_recipe(std::string_view name);  // "Q4_K_M" (case-insensitive), ...
std::string_view quant_recipe_name(QuantRecipe recipe);
// The value llama.cpp-compatible readers expect in general.file_type for the recipe.
uint32_t gguf_file_type(QuantRecipe recipe);

// What a tensor is to the recipe, from its GGUF name.
enum class TensorRole {
  kTokenEmbedding,
  kOutput,  // output.weight, or token_embd.weight of a model with tied embeddings
  kAttnQ,
  kAttnK,
  kAttnV,
  kAttnOutput,
  kFfnGateUp,
  kFfnDown,
  kOtherMatrix,
  kKeepF32,  // 1-D tensors, routers (ffn_gate_inp), rope factors
};

struct TensorSlot {
  TensorRole role = TensorRole::kOtherMatrix;
  std::optional<size_t> layer;  // blk.N
};

// `rank` is the tensor's rank; `tied_embeddings` says whether token_embd also serves as the output.
TensorSlot classify_tensor(std::string_view gguf_name, size_t rank, bool tied_embeddings);

// The type a tensor of `slot` with rows of `row_length` values gets in a model of `layers` layers.
DType recipe_tensor_type(QuantRecipe recipe, const TensorSlot& slot, size_t row_length, size_t layers);

}  // namespace ferrum::quant
