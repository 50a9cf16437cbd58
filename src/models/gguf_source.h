// WeightSource over a GGUF file, answering Hugging Face names so one model implementation loads
// either kind of file. It presents tensors in the HF layout: Llama's Q / K rows, which llama.cpp's
// converter permuted for interleaved-pair RoPE, are permuted back to rotate-half order, and Gemma's
// RMSNorm weights, stored with the +1 folded in, get it taken out again. Routed experts, stacked in
// one ffn_{gate,up,down}_exps tensor per layer, are served one expert at a time under the
// per-expert HF names (model.layers.N.mlp.experts.E.gate_proj.weight), as views into the file.
#pragma once

#include <filesystem>
#include <memory>

#include "formats/gguf_file.h"
#include "formats/model_config.h"
#include "models/weight_source.h"

namespace ferrum {

class GgufSource final : public WeightSource {
 public:
  // `config` is the file's own (config_from_gguf): its head counts drive the Q / K un-permutation.
  static Expected<std::unique_ptr<GgufSource>> open(const std::filesystem::path& path, const ModelConfig& config);
  static std::unique_ptr<GgufSource> wrap(GgufFile file, const ModelConfig& config);

  Expected<WeightTensor> find(std::string_view hf_name) const override;
  bool contains(std::string_view hf_name) const override;
  std::string describe() const override { return file_.path(); }

  const GgufFile& file() const { return file_; }

 private:
  GgufSource(GgufFile file, const ModelConfig& config) : file_(std::move(file)), config_(config) {}

  const GgufTensorInfo* gguf_tensor_for(std::string_view hf_name) const;
  // The stacked ffn_*_exps tensor holding a per-expert HF tensor ("...experts.{E}.gate_proj.weight").
  const GgufTensorInfo* stacked_expert_tensor_for(std::string_view hf_name) const;
  Expected<WeightTensor> expert_slice(std::string_view hf_name, const GgufTensorInfo& stacked) const;

  GgufFile file_;
  ModelConfig config_;
};

}  // namespace ferrum
