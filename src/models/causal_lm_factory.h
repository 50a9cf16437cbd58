// Builds the CausalLm for a model's architecture on backend B. Instantiated once per backend
// (causal_lm_cpu.cpp; the CUDA build adds its own), so adding an architecture is one case here.
#pragma once

#include <algorithm>
#include <memory>

#include "dist/rank_group.h"
#include "models/causal_lm.h"
#include "models/deepseek_v3_impl.h"
#include "models/llama_impl.h"
#include "models/model_files.h"
#include "models/qwen3_moe_impl.h"

namespace ferrum {

struct ModelRuntimeOptions {
  size_t max_context = 4096;         // capped at the model's max_position_embeddings
  size_t max_batch_tokens = 512;     // tokens per forward step (prefill runs in chunks of this)
  std::optional<DType> dense_dtype;  // dense weights converted to this dtype (nullopt: as stored)
  // CUDA: the dtype activations and KV caches run in. bf16 converts dense weights to bf16 too
  // (unless dense_dtype says otherwise); f32 keeps them as stored, the exactness mode whose
  // results match f32 references. The CPU always runs f32.
  DType compute_dtype = DType::kBF16;
  // Tensor parallelism: the rank group this process belongs to (null: the whole model on one
  // device) and the device of its host this rank drives.
  std::shared_ptr<dist::RankGroup> rank_group;
  size_t local_device = 0;

  TensorParallel tensor_parallel() const {
    return rank_group ? TensorParallel{rank_group->rank(), rank_group->size()} : TensorParallel{};
  }
};

// The context a model runs in: the backend's plain one, or one joined to the rank group (whose
// collectives then reach the other ranks).
template <Backend B>
Expected<typename B::Context> new_model_context(const ModelRuntimeOptions& options) {
  if (!options.rank_group) return B::new_context();
  if constexpr (requires { B::new_parallel_context(options.rank_group, options.local_device); }) {
    return B::new_parallel_context(options.rank_group, options.local_device);
  } else {
    return make_error(ErrorCode::kUnsupported, "this backend has no collectives, so it cannot run tensor parallel");
  }
}

// Wraps a loaded model with the figures callers report (bandwidth per token, KV bytes).
template <Backend B, class Model>
std::unique_ptr<CausalLm> adapt(Model model, typename B::Context ctx, const char* device, std::string architecture,
                                size_t max_batch_tokens, size_t kv_bytes_per_token) {
  CausalLmInfo info;
  info.architecture = std::move(architecture);
  info.device = device;
  info.vocab_size = model.hparams().vocab_size;
  info.max_context = model.max_context();
  info.max_batch_tokens = max_batch_tokens;
  info.num_layers = model.hparams().num_layers;
  info.hidden_size = model.hparams().hidden_size;
  info.weight_bytes = model.weight_bytes();
  info.kv_bytes_per_token = kv_bytes_per_token;
  info.tensor_parallel_size = B::world_size(ctx);
  return std::unique_ptr<CausalLm>(new CausalLmAdapter<B, Model>(std::move(model), std::move(info), std::move(ctx)));
}

template <Backend B>
Expected<std::unique_ptr<CausalLm>> create_causal_lm(const ModelFiles& files, const ModelRuntimeOptions& options,
                                                     const char* device) {
  WeightLoaderOptions loader_options = files.loader_options();
  loader_options.dense_dtype = options.dense_dtype;
  WeightLoader<B> loader(*files.weights, loader_options);
  const size_t element = dtype_info(B::kActivationDType).block_bytes;
  const std::string architecture(model_arch_name(files.config.arch));
  const DecoderConfig* decoder = files.config.decoder();
  const size_t context =
      decoder ? std::min<size_t>(options.max_context, static_cast<size_t>(decoder->max_position_embeddings)) : 0;
  // Created before loading: on CUDA it selects the rank's GPU, where the weights must land.
  FERRUM_ASSIGN_OR_RETURN(typename B::Context ctx, new_model_context<B>(options));
  const TensorParallel tp = options.tensor_parallel();
  switch (files.config.arch) {
    case ModelArch::kLlama:
    case ModelArch::kMistral:
    case ModelArch::kQwen2:
    case ModelArch::kQwen3:
    case ModelArch::kGemma3: {
      FERRUM_ASSIGN_OR_RETURN(LlamaHParams hp, llama_hparams(files.config));
      hp.tp = tp;
      FERRUM_ASSIGN_OR_RETURN(auto model, LlamaModel<B>::load(hp, loader, options.max_batch_tokens, context));
      const size_t kv_heads = hp.num_kv_heads >= tp.size ? hp.num_kv_heads / tp.size : 1;
      return adapt<B>(std::move(model), std::move(ctx), device, architecture, options.max_batch_tokens,
                      2 * hp.num_layers * kv_heads * hp.head_dim * element);
    }
    case ModelArch::kQwen3Moe: {
      FERRUM_ASSIGN_OR_RETURN(Qwen3MoeHParams hp, qwen3_moe_hparams(files.config));
      hp.tp = hp.attention.tp = tp;
      FERRUM_ASSIGN_OR_RETURN(auto model, Qwen3MoeModel<B>::load(hp, loader, options.max_batch_tokens, context));
      return adapt<B>(std::move(model), std::move(ctx), device, architecture, options.max_batch_tokens,
                      2 * hp.num_layers * hp.attention.local_kv_dim() * element);
    }
    case ModelArch::kDeepseekV3: {
      FERRUM_ASSIGN_OR_RETURN(DeepseekV3HParams hp, deepseek_v3_hparams(files.config));
      hp.tp = tp;
      FERRUM_ASSIGN_OR_RETURN(auto model, DeepseekV3Model<B>::load(hp, loader, options.max_batch_tokens, context));
      return adapt<B>(std::move(model), std::move(ctx), device, architecture, options.max_batch_tokens,
                      hp.num_layers * (hp.attention.kv_lora_rank + hp.attention.qk_rope_head_dim) * element);
    }
    default:
      return make_error(ErrorCode::kUnsupported, "architecture ", files.config.architecture,
                        " is not a causal language model (use `ferrum embed` or `ferrum transcribe`)");
  }
}

// The CPU instantiation.
Expected<std::unique_ptr<CausalLm>> create_cpu_causal_lm(const ModelFiles& files, const ModelRuntimeOptions& options);
// The CUDA instantiations (models/cuda/, compiled only with FERRUM_CUDA): bf16 or f32 activations
// per options.compute_dtype.
Expected<std::unique_ptr<CausalLm>> create_cuda_causal_lm(const ModelFiles& files, const ModelRuntimeOptions& options);

}  // namespace ferrum
