// WeightSource over a GGUF file, answering Hugging Face names so one model implementation loads
// either kind of file. It presents tensors in the HF layout: Llama's Q / K rows, which llama.cpp's
// converter permuted for interleaved-pair RoPE, are permuted back to rotate-half order, and Gemma's
// RMSNorm weights, stored with the +1 folded in, get it taken out again.
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

  GgufFile file_;
  ModelConfig config_;
};

}  // namespace ferrum
