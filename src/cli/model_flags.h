// Flags shared by `run`, `serve` and `bench`: which model, on what device, and how to sample.
#pragma once

#include <optional>

#include "cli/arg_parser.h"
#include "engine/engine_options.h"
#include "engine/model_bundle.h"
#include "engine/sampling.h"

namespace ferrum::cli {

// --device, --dtype, -t/--threads: where the model runs. `bench` takes these alone, since it sizes
// the context and names its own batch dimensions (-b there is concurrent sequences).
void register_device_flags(ArgParser& parser, ModelOptions& options);

// Tensor parallelism: -tp/--tensor-parallel-size, --nnodes, --node-rank, --master-addr, --master-port
void register_parallel_flags(ArgParser& parser, ModelOptions& options);

// The device flags, -c/--ctx-size, -b/--batch-size, --chat-template and the parallel flags
void register_model_flags(ArgParser& parser, ModelOptions& options);

// Sampling flags as typed; unset ones fall back to the model's defaults.
struct SamplingFlags {
  std::optional<float> temperature, top_p, min_p, repeat_penalty, presence_penalty, frequency_penalty;
  std::optional<int> top_k;
  std::optional<uint64_t> seed;

  SamplingParams resolve(SamplingParams defaults) const;
};

// --temp, --top-k, --top-p, --min-p, --repeat-penalty, --presence-penalty, --frequency-penalty, --seed
void register_sampling_flags(ArgParser& parser, SamplingFlags& flags);

// The serving engine's flags as typed (`serve`, `bench`): resolve() gives the EngineOptions and
// raises the model options they imply (apply_engine_options), so the model is loaded to match.
struct EngineFlags {
  EngineOptions options;
  std::optional<double> kv_cache_gib;
  bool no_prefix_caching = false;
  bool no_chunked_prefill = false;
  bool no_graphs = false;
  bool host_sampling = false;

  EngineOptions resolve(ModelOptions& model) const;
};

// --max-num-seqs, --max-num-batched-tokens, --max-model-len, --block-size, --num-kv-blocks,
// --kv-cache-size (GiB), --gpu-memory-utilization, --kv-cache-dtype, --no-prefix-caching,
// --no-chunked-prefill, --no-graphs, --host-sampling
void register_engine_flags(ArgParser& parser, EngineFlags& flags);

}  // namespace ferrum::cli
