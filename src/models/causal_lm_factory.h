// Builds the CausalLm for a model's architecture on backend B. Instantiated once per backend
// (causal_lm_cpu.cpp; the CUDA build adds its own), so adding an architecture is one case here.
#pragma once

#include <algorithm>
#include <memory>

#include "models/causal_lm.h"
#include "models/llama_impl.h"
#include "models/model_files.h"

namespace ferrum {

struct ModelRuntimeOptions {
  size_t max_context = 4096;         // capped at the model's max_position_embeddings
  size_t max_batch_tokens = 512;     // tokens per forward step (prefill runs in chunks of this)
  std::optional<DType> dense_dtype;  // dense weights converted to this dtype (nullopt: as stored)
};

template <Backend B>
Expected<std::unique_ptr<CausalLm>> create_causal_lm(const ModelFiles& files, const ModelRuntimeOptions& options,
                                                     const char* device) {
  WeightLoaderOptions loader_options = files.loader_options();
  loader_options.dense_dtype = options.dense_dtype;
  WeightLoader<B> loader(*files.weights, loader_options);
  switch (files.config.arch) {
    case ModelArch::kLlama:
    case ModelArch::kMistral:
    case ModelArch::kQwen2:
    case ModelArch::kQwen3:
    case ModelArch::kGemma3: {
      FERRUM_ASSIGN_OR_RETURN(LlamaHParams hparams, llama_hparams(files.config));
      const size_t context = std::min(options.max_context, hparams.max_positions);
      FERRUM_ASSIGN_OR_RETURN(auto model, LlamaModel<B>::load(hparams, loader, options.max_batch_tokens, context));
      CausalLmInfo info;
      info.architecture = hparams.architecture;
      info.device = device;
      info.vocab_size = hparams.vocab_size;
      info.max_context = context;
      info.max_batch_tokens = options.max_batch_tokens;
      info.num_layers = hparams.num_layers;
      info.hidden_size = hparams.hidden_size;
      info.weight_bytes = model.weight_bytes();
      info.kv_bytes_per_token = 2 * hparams.num_layers * hparams.kv_dim() * dtype_info(B::kActivationDType).block_bytes;
      return std::unique_ptr<CausalLm>(new CausalLmAdapter<B, LlamaModel<B>>(std::move(model), std::move(info)));
    }
    default:
      return make_error(ErrorCode::kUnsupported, "architecture ", files.config.architecture,
                        " is not a causal language model ferrum can run yet");
  }
}

// The CPU instantiation.
Expected<std::unique_ptr<CausalLm>> create_cpu_causal_lm(const ModelFiles& files, const ModelRuntimeOptions& options);

}  // namespace ferrum
