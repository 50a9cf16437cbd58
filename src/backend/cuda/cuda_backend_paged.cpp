// CudaBackend: the serving engine's paged-cache ops, and the memory query that sizes its cache. Sizes are checked on
// the host; the batch metadata stays on the device (read only by the kernels, so a graph can replay over new values),
// and the kernels treat a block id outside the pool as a masked key rather than reading past it.
#include "backend/cuda/backend_checks.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_allocator.h"
#include "backend/cuda/kernels/launch_settings.h"
#include "backend/cuda/kernels/layout.h"
#include "backend/cuda/kernels/paged.h"

namespace ferrum {
namespace {

Status check_batch(std::string_view op, const PagedAttnBatch<CudaBuffer>& batch) {
  FERRUM_TRY(check_positive(op, "block_size", batch.block_size));
  FERRUM_TRY(check_i32(op, "query_start", batch.query_start, batch.num_seqs + 1));
  FERRUM_TRY(check_i32(op, "context_lens", batch.context_lens, batch.num_seqs));
  FERRUM_ASSIGN_OR_RETURN(size_t table_numel, checked_product(op, {batch.num_seqs, batch.max_blocks_per_seq}));
  FERRUM_TRY(check_i32(op, "block_tables", batch.block_tables, table_numel));
  FERRUM_CHECK(batch.max_query_len > 0 || batch.num_tokens == 0, ErrorCode::kInvalidArgument, op,
               ": max_query_len is 0 for a batch of ", batch.num_tokens, " tokens");
  return ok();
}

// KV pools: the float dtypes, or f8_e4m3 with its row scales.
Status check_pool(std::string_view op, std::string_view arg, const CudaBuffer& pool) {
  return check_dtype(op, arg, pool, {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3});
}

// The f32 row scales after a pool's `rows` rows of `width` values, or null when it keeps none.
const float* row_scales(const CudaBuffer& pool, size_t rows, size_t width) {
  if (!paged_pool_has_scales(pool.dtype())) return nullptr;
  return reinterpret_cast<const float*>(static_cast<const uint8_t*>(pool.data()) + rows * width);
}

cuda::PagedAttentionProblem problem_for(const PagedAttnBatch<CudaBuffer>& batch, const AttnConfig& cfg) {
  cuda::PagedAttentionProblem problem;
  problem.query_start = static_cast<const int32_t*>(batch.query_start->data());
  problem.context_lens = static_cast<const int32_t*>(batch.context_lens->data());
  problem.block_tables = static_cast<const int32_t*>(batch.block_tables->data());
  problem.num_seqs = batch.num_seqs;
  problem.num_tokens = batch.num_tokens;
  problem.max_blocks_per_seq = batch.max_blocks_per_seq;
  problem.block_size = batch.block_size;
  problem.max_query_len = batch.max_query_len;
  problem.max_context_len = batch.max_context_len;
  if (!batch.host_query_start.empty()) {
    // The sequences long enough for the tensor-core kernel, so its grid covers only their range.
    const size_t min_rows = cuda::paged_flash_min_rows();
    problem.flash_seq_begin = problem.flash_seq_end = 0;
    for (size_t s = 0; s + 1 < batch.host_query_start.size() && s < batch.num_seqs; ++s) {
      if (static_cast<size_t>(batch.host_query_start[s + 1] - batch.host_query_start[s]) < min_rows) continue;
      if (problem.flash_seq_end == 0) problem.flash_seq_begin = s;
      problem.flash_seq_end = s + 1;
    }
  }
  problem.heads = cfg.num_heads;
  problem.causal = cfg.causal;
  problem.window = cfg.sliding_window;
  problem.scale = cfg.scale;
  return problem;
}

Status run_paged(CudaContext& ctx, const cuda::PagedAttentionProblem& problem) {
  void* scratch = nullptr;
  if (const size_t bytes = cuda::paged_attention_scratch_bytes(problem, ctx.state().sm_count); bytes > 0) {
    FERRUM_ASSIGN_OR_RETURN(scratch, ctx.scratch(ScratchSlot::kAttentionPartials, bytes));
  }
  return cuda::launch_paged_attention(problem, ctx.state().sm_count, scratch, ctx.stream());
}

}  // namespace

Expected<CudaBackend::MemoryInfo> CudaBackend::memory_info() {
  MemoryInfo info;
  FERRUM_CUDA_TRY(cudaMemGetInfo(&info.free_bytes, &info.total_bytes), "(memory_info)");
  // Blocks our caching allocator holds idle (a model or KV pool released earlier in the process)
  // are free to us: an allocation that needs them returns the cache to the driver and retries.
  info.free_bytes += cuda::DeviceAllocator::instance().stats().bytes_cached;
  return info;
}

Status CudaBackend::paged_cache_write(CudaContext& ctx, CudaBuffer& pool, const CudaBuffer& rows,
                                      const CudaBuffer& slot_mapping, size_t tokens, size_t heads, size_t width,
                                      size_t block_size) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "paged_cache_write";
  FERRUM_TRY(check_positive(op, "heads", heads));
  FERRUM_TRY(check_positive(op, "width", width));
  FERRUM_TRY(check_positive(op, "block_size", block_size));
  FERRUM_TRY(check_pool(op, "pool", pool));
  FERRUM_TRY(cuda::check_float(op, "rows", rows));
  FERRUM_TRY(check_i32(op, "slot_mapping", &slot_mapping, tokens));
  FERRUM_TRY(check_numel(op, "rows", rows, {heads, tokens, width}));
  FERRUM_ASSIGN_OR_RETURN(size_t num_blocks, pool_blocks(op, "pool", pool, heads, block_size, width));
  cuda::PagedCacheWriteArgs args;
  args.pool = pool.data();
  args.pool_dtype = pool.dtype();
  args.rows = rows.data();
  args.rows_dtype = rows.dtype();
  args.slot_mapping = static_cast<const int32_t*>(slot_mapping.data());
  args.tokens = tokens;
  args.heads = heads;
  args.width = width;
  args.block_size = block_size;
  args.num_blocks = num_blocks;
  return cuda::launch_paged_cache_write(args, ctx.stream());
}

namespace {

// paged_attention's checks and its launch description (out as [heads, tokens, head_dim]).
Expected<cuda::PagedAttentionProblem> paged_problem(std::string_view op, const CudaBuffer& q, const CudaBuffer& k_pool,
                                                    const CudaBuffer& v_pool, CudaBuffer& out,
                                                    const PagedAttnBatch<CudaBuffer>& batch, const AttnConfig& cfg) {
  FERRUM_TRY(check_positive(op, "num_heads", cfg.num_heads));
  FERRUM_TRY(check_positive(op, "num_kv_heads", cfg.num_kv_heads));
  FERRUM_TRY(check_positive(op, "head_dim", cfg.head_dim));
  FERRUM_CHECK(cfg.num_heads % cfg.num_kv_heads == 0, ErrorCode::kInvalidArgument, op, ": num_heads ", cfg.num_heads,
               " is not a multiple of num_kv_heads ", cfg.num_kv_heads);
  FERRUM_TRY(cuda::check_float(op, "q", q));
  FERRUM_TRY(cuda::check_same_dtype(op, "out", out, "q", q));
  FERRUM_TRY(check_pool(op, "k_pool", k_pool));
  FERRUM_CHECK(v_pool.dtype() == k_pool.dtype() && v_pool.numel() == k_pool.numel(), ErrorCode::kShapeMismatch, op,
               ": v_pool (", v_pool.dtype(), ", ", v_pool.numel(), " elements) does not match k_pool (", k_pool.dtype(),
               ", ", k_pool.numel(), ")");
  FERRUM_TRY(check_numel(op, "q", q, {cfg.num_heads, batch.num_tokens, cfg.head_dim}));
  FERRUM_TRY(check_numel(op, "out", out, {cfg.num_heads, batch.num_tokens, cfg.head_dim}));
  FERRUM_TRY(check_batch(op, batch));
  FERRUM_ASSIGN_OR_RETURN(size_t num_blocks,
                          pool_blocks(op, "k_pool", k_pool, cfg.num_kv_heads, batch.block_size, cfg.head_dim));
  cuda::PagedAttentionProblem problem = problem_for(batch, cfg);
  problem.q = q.data();
  problem.k1 = k_pool.data();
  problem.v = v_pool.data();
  problem.out = out.data();
  problem.dtype = q.dtype();
  problem.kv_dtype = k_pool.dtype();
  problem.d1 = problem.dv = cfg.head_dim;
  problem.kv_heads = cfg.num_kv_heads;
  problem.num_blocks = num_blocks;
  const size_t pool_rows = num_blocks * cfg.num_kv_heads * batch.block_size;
  problem.k1_scales = row_scales(k_pool, pool_rows, cfg.head_dim);
  problem.v_scales = row_scales(v_pool, pool_rows, cfg.head_dim);
  return problem;
}

}  // namespace

Status CudaBackend::paged_attention(CudaContext& ctx, const CudaBuffer& q, const CudaBuffer& k_pool,
                                    const CudaBuffer& v_pool, CudaBuffer& out, const PagedAttnBatch<CudaBuffer>& batch,
                                    const AttnConfig& cfg) {
  FERRUM_TRY(ctx.usable());
  FERRUM_ASSIGN_OR_RETURN(cuda::PagedAttentionProblem problem,
                          paged_problem("paged_attention", q, k_pool, v_pool, out, batch, cfg));
  return run_paged(ctx, problem);
}

Status CudaBackend::paged_attention_token_major(CudaContext& ctx, const CudaBuffer& q, const CudaBuffer& k_pool,
                                                const CudaBuffer& v_pool, CudaBuffer& out,
                                                const PagedAttnBatch<CudaBuffer>& batch, const AttnConfig& cfg) {
  FERRUM_TRY(ctx.usable());
  FERRUM_ASSIGN_OR_RETURN(cuda::PagedAttentionProblem problem,
                          paged_problem("paged_attention_token_major", q, k_pool, v_pool, out, batch, cfg));
  if (cuda::paged_token_major_enabled() && cuda::paged_decode_takes(problem)) {
    problem.token_major_out = true;
    return run_paged(ctx, problem);
  }
  // Other batches: the head-major kernels into scratch, then transposed into out.
  const size_t bytes = cfg.num_heads * batch.num_tokens * cfg.head_dim * cuda::elem_bytes(out);
  FERRUM_ASSIGN_OR_RETURN(void* heads_major, ctx.scratch(ScratchSlot::kAttentionHeads, bytes));
  problem.out = heads_major;
  FERRUM_TRY(run_paged(ctx, problem));
  return cuda::launch_transpose_head_to_token(heads_major, out.data(), cuda::elem_bytes(out), batch.num_tokens,
                                              cfg.num_heads, cfg.head_dim, ctx.stream());
}

Status CudaBackend::paged_mla_attention(CudaContext& ctx, const CudaBuffer& q, const CudaBuffer& latent_pool,
                                        const CudaBuffer& rope_pool, CudaBuffer& out,
                                        const PagedAttnBatch<CudaBuffer>& batch, const AttnConfig& cfg,
                                        size_t kv_lora_rank, size_t qk_rope_head_dim) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "paged_mla_attention";
  FERRUM_TRY(check_positive(op, "num_heads", cfg.num_heads));
  FERRUM_TRY(check_positive(op, "kv_lora_rank", kv_lora_rank));
  FERRUM_CHECK(cfg.head_dim == kv_lora_rank + qk_rope_head_dim, ErrorCode::kShapeMismatch, op, ": head_dim ",
               cfg.head_dim, " is not kv_lora_rank ", kv_lora_rank, " + qk_rope_head_dim ", qk_rope_head_dim);
  FERRUM_TRY(cuda::check_float(op, "q", q));
  FERRUM_TRY(cuda::check_same_dtype(op, "out", out, "q", q));
  FERRUM_TRY(check_pool(op, "latent_pool", latent_pool));
  FERRUM_TRY(cuda::check_same_dtype(op, "rope_pool", rope_pool, "latent_pool", latent_pool));
  FERRUM_TRY(check_numel(op, "q", q, {cfg.num_heads, batch.num_tokens, cfg.head_dim}));
  FERRUM_TRY(check_numel(op, "out", out, {cfg.num_heads, batch.num_tokens, kv_lora_rank}));
  FERRUM_TRY(check_batch(op, batch));
  FERRUM_ASSIGN_OR_RETURN(size_t num_blocks,
                          pool_blocks(op, "latent_pool", latent_pool, 1, batch.block_size, kv_lora_rank));
  FERRUM_TRY(check_rope_pool(op, rope_pool, num_blocks, batch.block_size, qk_rope_head_dim));
  cuda::PagedAttentionProblem problem = problem_for(batch, cfg);
  problem.q = q.data();
  problem.k1 = latent_pool.data();
  problem.k2 = qk_rope_head_dim > 0 ? rope_pool.data() : nullptr;
  problem.v = latent_pool.data();
  problem.out = out.data();
  problem.dtype = q.dtype();
  problem.kv_dtype = latent_pool.dtype();
  problem.d1 = kv_lora_rank;
  problem.d2 = qk_rope_head_dim;
  problem.dv = kv_lora_rank;
  problem.kv_heads = 1;  // one latent head shared by every query head
  problem.num_blocks = num_blocks;
  const size_t pool_rows = num_blocks * batch.block_size;
  problem.k1_scales = problem.v_scales = row_scales(latent_pool, pool_rows, kv_lora_rank);
  problem.k2_scales = qk_rope_head_dim > 0 ? row_scales(rope_pool, pool_rows, qk_rope_head_dim) : nullptr;
  return run_paged(ctx, problem);
}

Status CudaBackend::copy_from_host(CudaContext& ctx, std::span<const uint8_t> bytes, CudaBuffer& dst,
                                   size_t dst_offset) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "copy_from_host";
  FERRUM_CHECK(!is_quantized(dst.dtype()), ErrorCode::kUnsupported, op, ": dst has block type ", dst.dtype());
  const size_t element = cuda::elem_bytes(dst);
  FERRUM_CHECK(bytes.size() % element == 0, ErrorCode::kShapeMismatch, op, ": ", bytes.size(),
               " bytes are not a whole number of ", dst.dtype(), " elements");
  const size_t count = bytes.size() / element;
  FERRUM_CHECK(dst_offset <= dst.numel() && count <= dst.numel() - dst_offset, ErrorCode::kShapeMismatch, op,
               ": dst has ", dst.numel(), " elements, the range [", dst_offset, ", ", dst_offset, " + ", count,
               ") does not fit");
  if (count == 0) return ok();
  FERRUM_CHECK(!ctx.state().capturing, ErrorCode::kInvalidArgument, op,
               ": host copies cannot be captured in a graph; write the metadata before replaying");
  // From pageable memory the call returns once the bytes are staged, so `bytes` may die right after;
  // the copy itself is ordered with the stream's work.
  FERRUM_CUDA_TRY(cudaMemcpyAsync(cuda::element_ptr(dst, dst_offset), bytes.data(), bytes.size(),
                                  cudaMemcpyHostToDevice, ctx.stream()),
                  "(copy_from_host, ", bytes.size(), " bytes)");
  return ok();
}

}  // namespace ferrum
