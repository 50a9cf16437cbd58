#include "engine/engine_options.h"

#include <algorithm>

namespace ferrum {

Expected<ResolvedEngineOptions> resolve_engine_options(const CausalLm& model, EngineOptions options) {
  const CausalLmInfo& info = model.info();
  FERRUM_CHECK(model.supports_paged_batches(), ErrorCode::kUnsupported, "the serving engine needs a batched forward; ",
               info.architecture, " on ", info.device, " has none");
  FERRUM_CHECK(options.block_size > 0 && options.block_size <= 1024, ErrorCode::kInvalidArgument,
               "--block-size must be in 1..1024, got ", options.block_size);
  FERRUM_CHECK(options.max_num_seqs > 0, ErrorCode::kInvalidArgument, "--max-num-seqs must be positive");
  if (options.max_num_batched_tokens == 0) options.max_num_batched_tokens = info.max_batch_tokens;
  FERRUM_CHECK(options.max_num_batched_tokens <= info.max_batch_tokens, ErrorCode::kInvalidArgument,
               "--max-num-batched-tokens ", options.max_num_batched_tokens, " exceeds the ", info.max_batch_tokens,
               " tokens per step the model was loaded for (raise --batch-size)");
  if (options.max_model_len == 0) options.max_model_len = info.max_context;
  FERRUM_CHECK(options.max_model_len >= 2 && options.max_model_len <= info.max_context, ErrorCode::kInvalidArgument,
               "--max-model-len ", options.max_model_len, " is outside 2..", info.max_context,
               " (the context the model was loaded for)");
  FERRUM_CHECK(options.enable_chunked_prefill || options.max_num_batched_tokens >= options.max_model_len,
               ErrorCode::kInvalidArgument, "without chunked prefill, --max-num-batched-tokens (",
               options.max_num_batched_tokens, ") must hold a whole prompt of --max-model-len (", options.max_model_len,
               ") tokens");
  FERRUM_CHECK(options.gpu_memory_utilization > 0.0 && options.gpu_memory_utilization <= 1.0,
               ErrorCode::kInvalidArgument, "--gpu-memory-utilization must be in (0, 1], got ",
               options.gpu_memory_utilization);

  ResolvedEngineOptions resolved;
  if (options.kv_cache_dtype == "auto") {
    resolved.kv_dtype = model.default_kv_dtype();
  } else {
    // vLLM's names for the 8-bit cache: fp8 is e4m3.
    const bool fp8 = options.kv_cache_dtype == "fp8" || options.kv_cache_dtype == "fp8_e4m3";
    const std::optional<DType> dtype = fp8 ? DType::kF8E4M3 : parse_dtype(options.kv_cache_dtype);
    FERRUM_CHECK(
        dtype && (*dtype == DType::kF32 || *dtype == DType::kBF16 || *dtype == DType::kF16 || *dtype == DType::kF8E4M3),
        ErrorCode::kInvalidArgument, "--kv-cache-dtype must be auto, f32, bf16, f16 or fp8, got '",
        options.kv_cache_dtype, "'");
    resolved.kv_dtype = *dtype;
  }
  resolved.block_bytes = model.paged_block_bytes(options.block_size, resolved.kv_dtype);
  FERRUM_CHECK(resolved.block_bytes > 0, ErrorCode::kInternal, "the model reports no KV bytes per block");

  const size_t blocks_per_sequence = (options.max_model_len + options.block_size - 1) / options.block_size;
  if (options.num_kv_blocks > 0) {
    resolved.num_blocks = options.num_kv_blocks;
  } else if (options.kv_cache_bytes) {
    resolved.num_blocks = *options.kv_cache_bytes / resolved.block_bytes;
  } else if (const std::optional<DeviceMemory> memory = model.device_memory()) {
    // The fraction is of the whole device, as vLLM counts it: what is in use already (weights,
    // scratch, other processes) comes out of it.
    const double allowed = options.gpu_memory_utilization * static_cast<double>(memory->total_bytes);
    const double in_use = static_cast<double>(memory->total_bytes - memory->free_bytes);
    FERRUM_CHECK(allowed > in_use, ErrorCode::kOutOfMemory, "--gpu-memory-utilization ", options.gpu_memory_utilization,
                 " leaves no room for the KV cache: ", in_use / 1e9, " GB of the device's ", memory->total_bytes / 1e9,
                 " GB are in use already");
    resolved.num_blocks = static_cast<size_t>((allowed - in_use) / static_cast<double>(resolved.block_bytes));
  } else {
    const size_t wanted = blocks_per_sequence * options.max_num_seqs;
    resolved.num_blocks = std::min(wanted, std::max<size_t>(kDefaultHostKvBytes / resolved.block_bytes, 1));
  }
  FERRUM_CHECK(resolved.num_blocks >= blocks_per_sequence, ErrorCode::kOutOfMemory, "a KV cache of ",
               resolved.num_blocks, " blocks of ", options.block_size, " tokens cannot hold one sequence of ",
               options.max_model_len, " tokens (--max-model-len); give it at least ",
               blocks_per_sequence * resolved.block_bytes, " bytes");
  FERRUM_CHECK(resolved.num_blocks * options.block_size <= static_cast<size_t>(INT32_MAX), ErrorCode::kLimitExceeded,
               "a KV cache of ", resolved.num_blocks, " blocks has more slots than i32 tables can name");
  resolved.options = options;
  return resolved;
}

void apply_engine_options(const EngineOptions& engine, ModelOptions& model) {
  model.batch_tokens = std::max(model.batch_tokens, engine.max_num_batched_tokens);
  if (engine.max_model_len > 0) model.context = std::max(model.context, engine.max_model_len);
}

}  // namespace ferrum
