#include "cli/model_flags.h"

#include <string>

namespace ferrum::cli {

void register_device_flags(ArgParser& parser, ModelOptions& options) {
  parser.option("--device", &options.device, "cpu or cuda (default cpu)");
  parser.option("--dtype", &options.dtype,
                "activation dtype on cuda: bf16 (default) or f32 (exact; weights kept as stored)");
  parser.option("-t,--threads", &options.threads, "CPU threads (default: all cores)");
}

void register_parallel_flags(ArgParser& parser, ModelOptions& options) {
  ParallelOptions& parallel = options.parallel;
  parser.option("-tp,--tensor-parallel-size", &parallel.tensor_parallel_size,
                "split the model over N processes, one per GPU (default 1; docs/tensor-parallel.md)");
  parser.option("--nnodes", &parallel.nnodes, "hosts the tensor-parallel ranks spread over (default 1)");
  parser.option("--node-rank", &parallel.node_rank,
                "this host's index among --nnodes; 0 serves, the others follow (default 0)");
  parser.option("--master-addr", &parallel.master_addr,
                "address of the --node-rank 0 host, as the other hosts reach it (default 127.0.0.1)");
  parser.option("--master-port", &parallel.master_port,
                "port rank 0 listens on for the other ranks (default: any free port; needed with --nnodes)");
}

void register_model_flags(ArgParser& parser, ModelOptions& options) {
  register_device_flags(parser, options);
  parser.option("-c,--ctx-size", &options.context, "context length in tokens (default 4096, capped by the model)");
  parser.option("-b,--batch-size", &options.batch_tokens, "tokens per forward step during prefill (default 512)");
  parser.option("--chat-template", &options.chat_template_file,
                "Jinja chat template file to use instead of the model's");
  register_parallel_flags(parser, options);
}

void register_sampling_flags(ArgParser& parser, SamplingFlags& flags) {
  parser.option("--temp", &flags.temperature, "temperature; 0 = greedy (default: model's, else 0.8)");
  parser.option("--top-k", &flags.top_k, "keep the k most likely tokens; 0 = off (default 40)");
  parser.option("--top-p", &flags.top_p, "nucleus sampling threshold (default 0.95)");
  parser.option("--min-p", &flags.min_p, "drop tokens below min-p x the top probability (default 0.05)");
  parser.option("--repeat-penalty", &flags.repeat_penalty, "penalise repeated tokens; 1 = off (default 1)");
  parser.option("--presence-penalty", &flags.presence_penalty, "OpenAI presence penalty (default 0)");
  parser.option("--frequency-penalty", &flags.frequency_penalty, "OpenAI frequency penalty (default 0)");
  parser.option("--seed", &flags.seed, "random seed, for reproducible sampling");
}

void register_engine_flags(ArgParser& parser, EngineFlags& flags) {
  EngineOptions& o = flags.options;
  parser.option("--max-num-seqs", &o.max_num_seqs, "sequences running at once (default 256)");
  parser.option("--max-num-batched-tokens", &o.max_num_batched_tokens,
                "tokens per engine step, prefill chunks and decodes together (default: --batch-size)");
  parser.option("--max-model-len", &o.max_model_len, "tokens per sequence, prompt included (default: --ctx-size)");
  parser.option("--block-size", &o.block_size, "tokens per KV cache block (default 16)");
  parser.option("--num-kv-blocks", &o.num_kv_blocks, "KV cache blocks (default: sized from memory)");
  parser.option("--kv-cache-size", &flags.kv_cache_gib, "KV cache size in GiB (default: sized from memory)");
  parser.option("--gpu-memory-utilization", &o.gpu_memory_utilization,
                "fraction of the GPU's memory weights, scratch and KV cache may use (default 0.9)");
  parser.option("--kv-cache-dtype", &o.kv_cache_dtype,
                "auto, f32, bf16, f16 or fp8 (e4m3, a scale per token and head; default auto: the activation dtype)");
  parser.flag("--no-prefix-caching", &flags.no_prefix_caching, "do not share cached prompt prefixes");
  parser.flag("--no-chunked-prefill", &flags.no_chunked_prefill, "run each prompt in one step");
  parser.flag("--no-graphs", &flags.no_graphs, "run decode steps eagerly, not as captured CUDA graphs");
  parser.flag("--host-sampling", &flags.host_sampling,
              "sample every token on the host from copied logits, not on the device");
}

EngineOptions EngineFlags::resolve(ModelOptions& model) const {
  EngineOptions resolved = options;
  if (kv_cache_gib) resolved.kv_cache_bytes = static_cast<size_t>(*kv_cache_gib * 1024.0 * 1024.0 * 1024.0);
  resolved.enable_prefix_caching = !no_prefix_caching;
  resolved.enable_chunked_prefill = !no_chunked_prefill;
  resolved.enable_graphs = !no_graphs;
  resolved.device_sampling = !host_sampling;
  apply_engine_options(resolved, model);
  return resolved;
}

SamplingParams SamplingFlags::resolve(SamplingParams params) const {
  if (temperature) params.temperature = *temperature;
  if (top_k) params.top_k = *top_k;
  if (top_p) params.top_p = *top_p;
  if (min_p) params.min_p = *min_p;
  if (repeat_penalty) params.repetition_penalty = *repeat_penalty;
  if (presence_penalty) params.presence_penalty = *presence_penalty;
  if (frequency_penalty) params.frequency_penalty = *frequency_penalty;
  if (seed) {
    params.seed = *seed;
    params.has_seed = true;
  }
  return params;
}

}  // namespace ferrum::cli
