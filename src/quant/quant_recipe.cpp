#include "quant/quant_recipe.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>

namespace ferrum::quant {
namespace {

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The N of "blk.N.", or nullopt for tensors outside the layers.
std::optional<size_t> layer_of(std::string_view name) {
  if (!name.starts_with("blk.")) return std::nullopt;
  const std::string_view rest = name.substr(4);
  size_t layer = 0;
  const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), layer);
  if (error != std::errc() || end == rest.data()) return std::nullopt;
  return layer;
}

bool contains(std::string_view name, std::string_view part) {
  return name.find(part) != std::string_view::npos;
}

// K-quants need rows of whole 256-value super-blocks; narrower rows take the nearest 32-wide type.
DType fit_row_length(DType type, size_t row_length) {
  if (row_length % dtype_info(type).block_elems == 0) return type;
  DType fallback = DType::kF16;
  switch (type) {
    case DType::kQ4_K: fallback = DType::kQ5_0; break;
    case DType::kQ5_K: fallback = DType::kQ5_1; break;
    case DType::kQ6_K: fallback = DType::kQ8_0; break;
    default: break;
  }
  return row_length % dtype_info(fallback).block_elems == 0 ? fallback : DType::kF16;
}

DType q4_k_m_type(std::string_view name, const QuantRecipeModel& model) {
  const bool is_output = name == "output.weight" || (!model.has_output_tensor && name == "token_embd.weight");
  if (is_output) return DType::kQ6_K;
  const std::optional<size_t> layer = layer_of(name);
  const bool more_bits = layer && layer_gets_more_bits(*layer, model.num_layers);
  if (contains(name, "attn_v.weight")) {
    // Mixtral-style models (8 experts) share attn_v across fewer heads: llama.cpp keeps it Q8_0.
    if (model.num_experts == 8) return DType::kQ8_0;
    if (more_bits) return DType::kQ6_K;
    return model.llama_70b_class ? DType::kQ5_K : DType::kQ4_K;
  }
  if (contains(name, "attn_qkv.weight")) return DType::kQ5_K;
  if (contains(name, "attn_output.weight") && model.num_experts == 8) return DType::kQ5_K;
  if (contains(name, "ffn_down")) return more_bits ? DType::kQ6_K : DType::kQ4_K;
  return DType::kQ4_K;
}

}  // namespace

std::optional<GgufFileType> parse_gguf_file_type(std::string_view name) {
  const std::string lower = lowercase(name);
  if (lower == "f32") return GgufFileType::kAllF32;
  if (lower == "f16") return GgufFileType::kMostlyF16;
  if (lower == "bf16") return GgufFileType::kMostlyBF16;
  if (lower == "q8_0") return GgufFileType::kMostlyQ8_0;
  if (lower == "q4_k_m") return GgufFileType::kMostlyQ4_K_M;
  return std::nullopt;
}

std::string_view gguf_file_type_name(GgufFileType type) {
  switch (type) {
    case GgufFileType::kAllF32: return "F32";
    case GgufFileType::kMostlyF16: return "F16";
    case GgufFileType::kMostlyBF16: return "BF16";
    case GgufFileType::kMostlyQ8_0: return "Q8_0";
    case GgufFileType::kMostlyQ4_K_M: return "Q4_K_M";
  }
  return "unknown";
}

bool layer_gets_more_bits(size_t layer, size_t num_layers) {
  const size_t eighth = num_layers / 8;
  return layer < eighth || layer >= 7 * num_layers / 8 || (layer >= eighth && (layer - eighth) % 3 == 2);
}

Expected<DType> gguf_recipe_type(GgufFileType file_type, std::string_view gguf_name, const Shape& shape,
                                 const QuantRecipeModel& model) {
  FERRUM_CHECK(shape.rank() >= 1, ErrorCode::kInvalidArgument, "tensor '", gguf_name, "' has no dimensions");
  // Vectors, and the MoE router (llama.cpp never quantizes it: routing is sensitive and it is tiny).
  if (shape.rank() == 1 || contains(gguf_name, "ffn_gate_inp.weight") || contains(gguf_name, "rope_freqs")) {
    return DType::kF32;
  }
  const size_t row_length = static_cast<size_t>(shape[shape.rank() - 1]);
  DType type = DType::kF32;
  switch (file_type) {
    case GgufFileType::kAllF32: return DType::kF32;
    case GgufFileType::kMostlyF16: return DType::kF16;
    case GgufFileType::kMostlyBF16: return DType::kBF16;
    case GgufFileType::kMostlyQ8_0: type = DType::kQ8_0; break;
    case GgufFileType::kMostlyQ4_K_M: type = q4_k_m_type(gguf_name, model); break;
  }
  return fit_row_length(type, row_length);
}

}  // namespace ferrum::quant
