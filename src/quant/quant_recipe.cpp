#include "quant/quant_recipe.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace ferrum::quant {
namespace {

struct RecipeName {
  QuantRecipe recipe;
  std::string_view name;
  uint32_t file_type;  // llama.cpp's LLAMA_FTYPE_* numbering
};

constexpr std::array<RecipeName, 12> kRecipes = {{
    {QuantRecipe::kQ4_K_M, "Q4_K_M", 15},
    {QuantRecipe::kQ5_K_M, "Q5_K_M", 17},
    {QuantRecipe::kQ6_K, "Q6_K", 18},
    {QuantRecipe::kQ8_0, "Q8_0", 7},
    {QuantRecipe::kQ4_0, "Q4_0", 2},
    {QuantRecipe::kQ4_1, "Q4_1", 3},
    {QuantRecipe::kQ5_0, "Q5_0", 8},
    {QuantRecipe::kQ5_1, "Q5_1", 9},
    {QuantRecipe::kQ3_K_M, "Q3_K_M", 12},
    {QuantRecipe::kQ2_K, "Q2_K", 10},
    {QuantRecipe::kF16, "F16", 1},
    {QuantRecipe::kBF16, "BF16", 32},
}};

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// The part of "blk.N.<part>.weight" after the layer number, or the whole name.
std::string_view layer_part(std::string_view name, std::optional<size_t>& layer) {
  if (name.substr(0, 4) != "blk.") return name;
  const size_t dot = name.find('.', 4);
  if (dot == std::string_view::npos) return name;
  size_t value = 0;
  for (char c : name.substr(4, dot - 4)) {
    if (c < '0' || c > '9') return name;
    value = value * 10 + static_cast<size_t>(c - '0');
  }
  layer = value;
  return name.substr(dot + 1);
}

// First and last eighth of the stack, and every third layer between them.
bool is_sensitive_layer(size_t layer, size_t layers) {
  const size_t eighth = layers / 8;
  if (layer < eighth || layer >= 7 * layers / 8) return true;
  return (layer - eighth) % 3 == 2;
}

// A type whose blocks divide rows of `row_length`, starting from `wanted`.
DType fit_to_rows(DType wanted, size_t row_length) {
  const auto fits = [row_length](DType type) { return row_length % dtype_info(type).block_elems == 0; };
  if (fits(wanted)) return wanted;
  DType fallback = DType::kF16;
  switch (wanted) {
    case DType::kQ2_K:
    case DType::kQ3_K: fallback = DType::kQ4_0; break;
    case DType::kQ4_K: fallback = DType::kQ5_0; break;
    case DType::kQ5_K: fallback = DType::kQ5_1; break;
    case DType::kQ6_K: fallback = DType::kQ8_0; break;
    default: break;
  }
  return fits(fallback) ? fallback : DType::kF16;
}

}  // namespace

Expected<QuantRecipe> parse_quant_recipe(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  std::string known;
  for (const RecipeName& entry : kRecipes) {
    if (entry.name == upper) return entry.recipe;
    known += (known.empty() ? "" : ", ") + std::string(entry.name);
  }
  return make_error(ErrorCode::kInvalidArgument, "quantization type '", name, "' is not one of ", known);
}

std::string_view quant_recipe_name(QuantRecipe recipe) {
  for (const RecipeName& entry : kRecipes) {
    if (entry.recipe == recipe) return entry.name;
  }
  return "?";
}

uint32_t gguf_file_type(QuantRecipe recipe) {
  for (const RecipeName& entry : kRecipes) {
    if (entry.recipe == recipe) return entry.file_type;
  }
  return 0;
}

TensorSlot classify_tensor(std::string_view gguf_name, size_t rank, bool tied_embeddings) {
  TensorSlot slot;
  const std::string_view part = layer_part(gguf_name, slot.layer);
  if (rank < 2 || !ends_with(part, ".weight") || part.starts_with("ffn_gate_inp") || part.starts_with("rope_freqs")) {
    slot.role = TensorRole::kKeepF32;
  } else if (part == "token_embd.weight") {
    slot.role = tied_embeddings ? TensorRole::kOutput : TensorRole::kTokenEmbedding;
  } else if (part == "output.weight") {
    slot.role = TensorRole::kOutput;
  } else if (part.starts_with("attn_q.")) {
    slot.role = TensorRole::kAttnQ;
  } else if (part.starts_with("attn_k.")) {
    slot.role = TensorRole::kAttnK;
  } else if (part.starts_with("attn_v.")) {
    slot.role = TensorRole::kAttnV;
  } else if (part.starts_with("attn_output.")) {
    slot.role = TensorRole::kAttnOutput;
  } else if (part.starts_with("ffn_down")) {
    slot.role = TensorRole::kFfnDown;
  } else if (part.starts_with("ffn_gate") || part.starts_with("ffn_up")) {
    slot.role = TensorRole::kFfnGateUp;
  }
  return slot;
}

DType recipe_tensor_type(QuantRecipe recipe, const TensorSlot& slot, size_t row_length, size_t layers) {
  if (slot.role == TensorRole::kKeepF32) return DType::kF32;
  DType wanted = DType::kF16;
  const bool sensitive = (slot.role == TensorRole::kAttnV || slot.role == TensorRole::kFfnDown) && slot.layer &&
                         is_sensitive_layer(*slot.layer, std::max<size_t>(layers, 1));
  switch (recipe) {
    case QuantRecipe::kF16: return DType::kF16;
    case QuantRecipe::kBF16: return DType::kBF16;
    case QuantRecipe::kQ8_0: wanted = DType::kQ8_0; break;
    case QuantRecipe::kQ6_K: wanted = DType::kQ6_K; break;
    // The legacy types everywhere but the output matrix, which takes Q6_K (as llama.cpp's do).
    case QuantRecipe::kQ4_0: wanted = slot.role == TensorRole::kOutput ? DType::kQ6_K : DType::kQ4_0; break;
    case QuantRecipe::kQ4_1: wanted = slot.role == TensorRole::kOutput ? DType::kQ6_K : DType::kQ4_1; break;
    case QuantRecipe::kQ5_0: wanted = slot.role == TensorRole::kOutput ? DType::kQ6_K : DType::kQ5_0; break;
    case QuantRecipe::kQ5_1: wanted = slot.role == TensorRole::kOutput ? DType::kQ6_K : DType::kQ5_1; break;
    case QuantRecipe::kQ3_K_M:
    case QuantRecipe::kQ2_K: {
      const bool q3 = recipe == QuantRecipe::kQ3_K_M;
      const bool wider = slot.role == TensorRole::kAttnV || slot.role == TensorRole::kFfnDown ||
                         (q3 && slot.role == TensorRole::kAttnOutput);
      wanted = slot.role == TensorRole::kOutput ? DType::kQ6_K
               : wider                          ? DType::kQ4_K
               : q3                             ? DType::kQ3_K
                                                : DType::kQ2_K;
      break;
    }
    case QuantRecipe::kQ4_K_M:
    case QuantRecipe::kQ5_K_M: {
      const DType base = recipe == QuantRecipe::kQ4_K_M ? DType::kQ4_K : DType::kQ5_K;
      wanted = slot.role == TensorRole::kOutput || sensitive ? DType::kQ6_K : base;
      break;
    }
  }
  return fit_to_rows(wanted, row_length);
}

}  // namespace ferrum::quant
