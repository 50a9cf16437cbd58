#include "models/gguf_source.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "formats/tensor_names.h"
#include "models/weight_loader.h"

namespace ferrum {
namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// Rows of one head in GGUF order are (pair i, half j) at 2i + j; HF keeps them as j * d/2 + i.
// Works on whole rows, so quantized rows move as they are.
std::vector<uint8_t> unpermute_rope_rows(const TensorView& view, size_t heads) {
  const size_t rows = static_cast<size_t>(view.shape()[0]);
  const size_t row_bytes = view.nbytes() / rows;
  const size_t head_rows = rows / heads;
  const size_t half = head_rows / 2;
  const auto* source = static_cast<const uint8_t*>(view.data());
  std::vector<uint8_t> result(view.nbytes());
  for (size_t head = 0; head < heads; ++head) {
    for (size_t i = 0; i < half; ++i) {
      for (size_t j = 0; j < 2; ++j) {
        const size_t gguf_row = head * head_rows + 2 * i + j;
        const size_t hf_row = head * head_rows + j * half + i;
        std::memcpy(result.data() + hf_row * row_bytes, source + gguf_row * row_bytes, row_bytes);
      }
    }
  }
  return result;
}

// The expert index of a per-expert HF name: the second all-digit component
// ("model.layers.3.mlp.experts.17.up_proj.weight" -> 17).
std::optional<size_t> expert_index(std::string_view hf_name) {
  size_t numbers_seen = 0;
  size_t start = 0;
  while (start < hf_name.size()) {
    size_t end = hf_name.find('.', start);
    if (end == std::string_view::npos) end = hf_name.size();
    const std::string_view part = hf_name.substr(start, end - start);
    const bool numeric =
        !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (numeric && ++numbers_seen == 2) return static_cast<size_t>(std::stoull(std::string(part)));
    start = end + 1;
  }
  return std::nullopt;
}

// A tensor built here (not a view of the file) owns its bytes through keep_alive.
WeightTensor owned_tensor(std::vector<uint8_t> bytes, DType dtype, const Shape& shape) {
  auto storage = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  return WeightTensor{TensorView(storage->data(), dtype, shape), storage};
}

}  // namespace

Expected<std::unique_ptr<GgufSource>> GgufSource::open(const std::filesystem::path& path, const ModelConfig& config) {
  FERRUM_ASSIGN_OR_RETURN(GgufFile file, GgufFile::open(path));
  return wrap(std::move(file), config);
}

std::unique_ptr<GgufSource> GgufSource::wrap(GgufFile file, const ModelConfig& config) {
  return std::unique_ptr<GgufSource>(new GgufSource(std::move(file), config));
}

const GgufTensorInfo* GgufSource::gguf_tensor_for(std::string_view hf_name) const {
  for (const TensorNameMapping& mapping : hf_to_gguf_tensor_names(config_.arch, hf_name)) {
    if (mapping.relation != TensorNameRelation::kSame) continue;
    if (const GgufTensorInfo* info = file_.find_tensor(mapping.name)) return info;
  }
  return nullptr;
}

const GgufTensorInfo* GgufSource::stacked_expert_tensor_for(std::string_view hf_name) const {
  for (const TensorNameMapping& mapping : hf_to_gguf_tensor_names(config_.arch, hf_name)) {
    if (mapping.relation != TensorNameRelation::kExpertSlice) continue;
    if (const GgufTensorInfo* info = file_.find_tensor(mapping.name); info && info->shape.rank() == 3) return info;
  }
  return nullptr;
}

bool GgufSource::contains(std::string_view hf_name) const {
  return gguf_tensor_for(hf_name) != nullptr || stacked_expert_tensor_for(hf_name) != nullptr;
}

Expected<WeightTensor> GgufSource::expert_slice(std::string_view hf_name, const GgufTensorInfo& stacked) const {
  const std::optional<size_t> expert = expert_index(hf_name);
  const TensorView view = file_.tensor_view(stacked);
  const size_t experts = static_cast<size_t>(view.shape()[0]);
  FERRUM_CHECK(expert && *expert < experts, ErrorCode::kNotFound, file_.path(), ": ", hf_name,
               " names no expert of the ", experts, " in ", stacked.name);
  // Experts are outermost, so each is a contiguous run of whole rows (blocks stay as stored).
  const size_t expert_bytes = view.nbytes() / experts;
  const auto* start = static_cast<const uint8_t*>(view.data()) + *expert * expert_bytes;
  return WeightTensor{TensorView(start, view.dtype(), Shape{view.shape()[1], view.shape()[2]}), file_.mapping()};
}

Expected<WeightTensor> GgufSource::find(std::string_view hf_name) const {
  const GgufTensorInfo* info = gguf_tensor_for(hf_name);
  if (info == nullptr) {
    if (const GgufTensorInfo* stacked = stacked_expert_tensor_for(hf_name)) return expert_slice(hf_name, *stacked);
  }
  FERRUM_CHECK(info != nullptr, ErrorCode::kNotFound, file_.path(), ": no GGUF tensor for ", hf_name);
  const TensorView view = file_.tensor_view(*info);
  const DecoderConfig* decoder = config_.decoder();

  if (config_.arch == ModelArch::kLlama && decoder != nullptr &&
      (ends_with(hf_name, "self_attn.q_proj.weight") || ends_with(hf_name, "self_attn.k_proj.weight"))) {
    const bool is_q = ends_with(hf_name, "q_proj.weight");
    const size_t heads = static_cast<size_t>(is_q ? decoder->num_heads : decoder->num_kv_heads);
    const size_t rows = static_cast<size_t>(view.shape()[0]);
    FERRUM_CHECK(heads > 0 && rows % (2 * heads) == 0, ErrorCode::kShapeMismatch, file_.path(), ": ", info->name,
                 " has ", rows, " rows, not a whole number of rotary pairs for ", heads, " heads");
    return owned_tensor(unpermute_rope_rows(view, heads), view.dtype(), view.shape());
  }
  if (config_.arch == ModelArch::kGemma3 && ends_with(hf_name, "norm.weight")) {
    FERRUM_ASSIGN_OR_RETURN(std::vector<float> values, tensor_to_f32(view));
    for (float& value : values) value -= 1.0f;
    std::vector<uint8_t> bytes(values.size() * sizeof(float));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return owned_tensor(std::move(bytes), DType::kF32, view.shape());
  }
  return WeightTensor{view, file_.mapping()};
}

}  // namespace ferrum
