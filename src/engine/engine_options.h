// How the serving engine is sized and scheduled: the flags `serve`, `bench` and `run` share
// (--max-num-seqs, --max-num-batched-tokens, --max-model-len, --gpu-memory-utilization,
// --kv-cache-size, --block-size, --kv-cache-dtype, --no-prefix-caching, --no-chunked-prefill,
// --no-graphs, --host-sampling).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "core/error.h"
#include "engine/model_bundle.h"
#include "models/causal_lm.h"

namespace ferrum {

struct EngineOptions {
  size_t max_num_seqs = 256;          // sequences running at once
  size_t max_num_batched_tokens = 0;  // tokens per step; 0 = the model's max_batch_tokens
  size_t max_model_len = 0;           // tokens per sequence, prompt included; 0 = the model's context
  size_t block_size = 16;             // tokens per KV block
  // KV pool size: --num-kv-blocks wins, then --kv-cache-size (bytes), then the utilization fraction
  // of the device's memory (devices that report it), else room for max_num_seqs full sequences
  // capped at kDefaultHostKvBytes (the CPU).
  size_t num_kv_blocks = 0;
  std::optional<size_t> kv_cache_bytes;
  double gpu_memory_utilization = 0.9;
  std::string kv_cache_dtype = "auto";  // auto (the backend's activation dtype), f32, bf16, f16, fp8
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  // Decode steps of all-greedy batches as captured graphs, one per batch-size bucket (CUDA, dense
  // models; elsewhere the engine runs eagerly whatever this says).
  bool enable_graphs = true;
  // Steps whose sampled rows need only temperature / top-k / top-p / min-p draw their tokens on the
  // device (Backend::sample_rows) instead of copying every row's logits to the host.
  bool device_sampling = true;
  // One throwaway step per row-count bucket at start (CausalLm::warm_up_batches), so no request's
  // step pays a first-use cost; nullopt: on for devices other than the CPU (which has none).
  std::optional<bool> warm_up;
};

inline constexpr size_t kDefaultHostKvBytes = size_t{4} << 30;

// The options with every default resolved against the model, and the pool size.
struct ResolvedEngineOptions {
  EngineOptions options;
  size_t num_blocks = 0;
  size_t block_bytes = 0;
  DType kv_dtype = DType::kF32;
};

// Resolves and checks `options` for `model`: the budget within the model's batch limit, the
// sequence length within its context, a pool that holds at least one full-length sequence.
Expected<ResolvedEngineOptions> resolve_engine_options(const CausalLm& model, EngineOptions options);

// Model options the engine options imply (one configuration path): the model's per-step scratch
// must hold max_num_batched_tokens tokens and its RoPE tables max_model_len positions.
void apply_engine_options(const EngineOptions& engine, ModelOptions& model);

}  // namespace ferrum
