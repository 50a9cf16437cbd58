// The paged-cache ops: paged_cache_write, paged_attention, paged_mla_attention, and the two ops that
// serve per-step metadata in device memory: gather_rows and copy_from_host.
// The batch metadata lives in host memory here, so every value is validated before the kernel
// runs: a bad block id or length is an error naming the sequence, never a wild read.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "backend/cpu/cpu_attention_kernel.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/op_checks.h"

namespace ferrum {
namespace {

// Every value of the batch against the pools' num_blocks.
Status check_paged_batch(std::string_view op, const PagedAttnBatch<CpuBuffer>& batch, size_t num_blocks) {
  FERRUM_TRY(check_positive(op, "block_size", batch.block_size));
  FERRUM_TRY(check_i32(op, "query_start", batch.query_start, batch.num_seqs + 1));
  FERRUM_TRY(check_i32(op, "context_lens", batch.context_lens, batch.num_seqs));
  FERRUM_ASSIGN_OR_RETURN(size_t table_numel, checked_product(op, {batch.num_seqs, batch.max_blocks_per_seq}));
  FERRUM_TRY(check_i32(op, "block_tables", batch.block_tables, table_numel));
  const int32_t* query_start = batch.query_start->data_as<int32_t>();
  const int32_t* context_lens = batch.context_lens->data_as<int32_t>();
  const int32_t* tables = batch.block_tables->data_as<int32_t>();
  FERRUM_CHECK(query_start[0] == 0, ErrorCode::kInvalidArgument, op, ": query_start[0] is ", query_start[0], ", not 0");
  FERRUM_CHECK(query_start[batch.num_seqs] >= 0 && static_cast<size_t>(query_start[batch.num_seqs]) == batch.num_tokens,
               ErrorCode::kShapeMismatch, op, ": query_start[", batch.num_seqs, "] is ", query_start[batch.num_seqs],
               " but num_tokens is ", batch.num_tokens);
  for (size_t s = 0; s < batch.num_seqs; ++s) {
    FERRUM_CHECK(query_start[s + 1] >= query_start[s], ErrorCode::kInvalidArgument, op, ": query_start decreases at ",
                 "sequence ", s, " (", query_start[s], " then ", query_start[s + 1], ")");
    const int32_t q_len = query_start[s + 1] - query_start[s];
    const int32_t context = context_lens[s];
    FERRUM_CHECK(context >= q_len, ErrorCode::kInvalidArgument, op, ": sequence ", s, " has ", q_len,
                 " query rows but context_lens ", context);
    const size_t blocks = cpu::ceil_div(static_cast<size_t>(context), batch.block_size);
    FERRUM_CHECK(blocks <= batch.max_blocks_per_seq, ErrorCode::kOutOfRange, op, ": sequence ", s, "'s context of ",
                 context, " tokens needs ", blocks, " blocks of ", batch.block_size, ", more than max_blocks_per_seq ",
                 batch.max_blocks_per_seq);
    for (size_t b = 0; b < blocks; ++b) {
      const int32_t id = tables[s * batch.max_blocks_per_seq + b];
      FERRUM_CHECK(id >= 0 && static_cast<size_t>(id) < num_blocks, ErrorCode::kOutOfRange, op, ": sequence ", s,
                   " names block ", id, " at table position ", b, ", outside the pool's ", num_blocks, " blocks");
    }
  }
  return ok();
}

// Calls f(T{}) with T the element type of a KV pool: with_float_type's, or f8e4m3.
template <class F>
void with_pool_type(DType dtype, F&& f) {
  if (dtype == DType::kF8E4M3) {
    f(f8e4m3{});
  } else {
    cpu::with_float_type(dtype, f);
  }
}

// The f32 row scales after a pool's `rows` rows of `width` values, or null when it keeps none.
template <class Buffer>
auto row_scales(Buffer& pool, size_t rows, size_t width) {
  using Byte = std::conditional_t<std::is_const_v<Buffer>, const uint8_t, uint8_t>;
  using Scale = std::conditional_t<std::is_const_v<Buffer>, const float, float>;
  if (!paged_pool_has_scales(pool.dtype())) return static_cast<Scale*>(nullptr);
  return reinterpret_cast<Scale*>(pool.template data_as<Byte>() + rows * width);
}

// One row into an f8_e4m3 pool: e4m3(value / s), s = max|value| / 448 (1 for zeros), as the
// pool layout of backend_types.h says; the divisions round as IEEE f32 (the CUDA kernel's do too).
void write_scaled_row(const float* src, size_t width, f8e4m3* dst, float& scale) {
  float largest = 0.0f;
  for (size_t d = 0; d < width; ++d) largest = std::max(largest, std::fabs(src[d]));
  scale = largest > 0.0f ? largest / kF8E4M3Max : 1.0f;
  for (size_t d = 0; d < width; ++d) dst[d] = to_f8e4m3(src[d] / scale);
}

template <class T>
cpu::PagedAttentionProblem<T> paged_problem(const PagedAttnBatch<CpuBuffer>& batch, const AttnConfig& cfg) {
  cpu::PagedAttentionProblem<T> problem;
  problem.num_seqs = batch.num_seqs;
  problem.num_tokens = batch.num_tokens;
  problem.query_start = batch.query_start->data_as<int32_t>();
  problem.context_lens = batch.context_lens->data_as<int32_t>();
  problem.block_tables = batch.block_tables->data_as<int32_t>();
  problem.max_blocks_per_seq = batch.max_blocks_per_seq;
  problem.block_size = batch.block_size;
  problem.num_heads = cfg.num_heads;
  problem.causal = cfg.causal;
  problem.sliding_window = cfg.sliding_window;
  problem.scale = cfg.scale;
  return problem;
}

}  // namespace

Status CpuBackend::paged_cache_write(CpuContext& ctx, CpuBuffer& pool, const CpuBuffer& rows,
                                     const CpuBuffer& slot_mapping, size_t tokens, size_t heads, size_t width,
                                     size_t block_size) {
  constexpr std::string_view op = "paged_cache_write";
  FERRUM_TRY(check_positive(op, "heads", heads));
  FERRUM_TRY(check_positive(op, "width", width));
  FERRUM_TRY(check_positive(op, "block_size", block_size));
  FERRUM_TRY(check_dtype(op, "pool", pool, {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3}));
  FERRUM_TRY(check_dtype(op, "rows", rows, {DType::kF32}));
  FERRUM_TRY(check_i32(op, "slot_mapping", &slot_mapping, tokens));
  FERRUM_TRY(check_numel(op, "rows", rows, {heads, tokens, width}));
  FERRUM_ASSIGN_OR_RETURN(size_t num_blocks, pool_blocks(op, "pool", pool, heads, block_size, width));
  const int32_t* slots = slot_mapping.data_as<int32_t>();
  for (size_t t = 0; t < tokens; ++t) {
    FERRUM_CHECK(slots[t] < 0 || static_cast<size_t>(slots[t]) < num_blocks * block_size, ErrorCode::kOutOfRange, op,
                 ": token ", t, " goes to slot ", slots[t], ", outside the pool's ", num_blocks, " blocks of ",
                 block_size);
  }
  const float* source = rows.data_as<float>();
  float* scales = row_scales(pool, num_blocks * heads * block_size, width);
  with_pool_type(pool.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* destination = pool.data_as<T>();
    cpu::parallel_for(ctx, tokens, cpu::grain_for(heads * width), [&](size_t begin, size_t end) {
      for (size_t t = begin; t < end; ++t) {
        if (slots[t] < 0) continue;
        const auto slot = static_cast<size_t>(slots[t]);
        const size_t block = slot / block_size;
        const size_t offset = slot % block_size;
        for (size_t h = 0; h < heads; ++h) {
          const float* src = source + (h * tokens + t) * width;
          const size_t row = (block * heads + h) * block_size + offset;
          T* dst = destination + row * width;
          if constexpr (std::is_same_v<T, f8e4m3>) {
            write_scaled_row(src, width, dst, scales[row]);
          } else {
            for (size_t d = 0; d < width; ++d) dst[d] = cpu::from_f32<T>(src[d]);
          }
        }
      }
    });
  });
  return ok();
}

Status CpuBackend::paged_attention(CpuContext& ctx, const CpuBuffer& q, const CpuBuffer& k_pool,
                                   const CpuBuffer& v_pool, CpuBuffer& out, const PagedAttnBatch<CpuBuffer>& batch,
                                   const AttnConfig& cfg) {
  constexpr std::string_view op = "paged_attention";
  FERRUM_TRY(check_positive(op, "num_heads", cfg.num_heads));
  FERRUM_TRY(check_positive(op, "num_kv_heads", cfg.num_kv_heads));
  FERRUM_TRY(check_positive(op, "head_dim", cfg.head_dim));
  FERRUM_CHECK(cfg.num_heads % cfg.num_kv_heads == 0, ErrorCode::kInvalidArgument, op, ": num_heads ", cfg.num_heads,
               " is not a multiple of num_kv_heads ", cfg.num_kv_heads);
  FERRUM_TRY(check_dtype(op, "q", q, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "k_pool", k_pool, {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3}));
  FERRUM_CHECK(v_pool.dtype() == k_pool.dtype() && v_pool.numel() == k_pool.numel(), ErrorCode::kShapeMismatch, op,
               ": v_pool (", v_pool.dtype(), ", ", v_pool.numel(), " elements) does not match k_pool (", k_pool.dtype(),
               ", ", k_pool.numel(), ")");
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "q", q, {cfg.num_heads, batch.num_tokens, cfg.head_dim}));
  FERRUM_TRY(check_numel(op, "out", out, {cfg.num_heads, batch.num_tokens, cfg.head_dim}));
  FERRUM_TRY(check_positive(op, "block_size", batch.block_size));
  FERRUM_ASSIGN_OR_RETURN(size_t num_blocks,
                          pool_blocks(op, "k_pool", k_pool, cfg.num_kv_heads, batch.block_size, cfg.head_dim));
  FERRUM_TRY(check_paged_batch(op, batch, num_blocks));
  if (batch.num_tokens == 0) return ok();
  const size_t pool_rows = num_blocks * cfg.num_kv_heads * batch.block_size;
  with_pool_type(k_pool.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::PagedAttentionProblem<T> problem = paged_problem<T>(batch, cfg);
    problem.num_kv_heads = cfg.num_kv_heads;
    problem.q = q.data_as<float>();
    problem.k1 = k_pool.data_as<T>();
    problem.v = v_pool.data_as<T>();
    problem.out = out.data_as<float>();
    problem.d1 = cfg.head_dim;
    problem.dv = cfg.head_dim;
    problem.k1_scales = row_scales(k_pool, pool_rows, cfg.head_dim);
    problem.v_scales = row_scales(v_pool, pool_rows, cfg.head_dim);
    cpu::run_paged_attention(*ctx.pool, problem);
  });
  return ok();
}

Status CpuBackend::paged_mla_attention(CpuContext& ctx, const CpuBuffer& q, const CpuBuffer& latent_pool,
                                       const CpuBuffer& rope_pool, CpuBuffer& out,
                                       const PagedAttnBatch<CpuBuffer>& batch, const AttnConfig& cfg,
                                       size_t kv_lora_rank, size_t qk_rope_head_dim) {
  constexpr std::string_view op = "paged_mla_attention";
  FERRUM_TRY(check_positive(op, "num_heads", cfg.num_heads));
  FERRUM_TRY(check_positive(op, "kv_lora_rank", kv_lora_rank));
  FERRUM_CHECK(qk_rope_head_dim <= SIZE_MAX - kv_lora_rank && cfg.head_dim == kv_lora_rank + qk_rope_head_dim,
               ErrorCode::kShapeMismatch, op, ": head_dim ", cfg.head_dim, " is not kv_lora_rank ", kv_lora_rank,
               " + qk_rope_head_dim ", qk_rope_head_dim);
  FERRUM_TRY(check_dtype(op, "q", q, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "latent_pool", latent_pool, {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3}));
  FERRUM_CHECK(rope_pool.dtype() == latent_pool.dtype(), ErrorCode::kUnsupported, op, ": rope_pool has dtype ",
               rope_pool.dtype(), " but latent_pool has ", latent_pool.dtype(), " (they must match)");
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "q", q, {cfg.num_heads, batch.num_tokens, cfg.head_dim}));
  FERRUM_TRY(check_numel(op, "out", out, {cfg.num_heads, batch.num_tokens, kv_lora_rank}));
  FERRUM_TRY(check_positive(op, "block_size", batch.block_size));
  FERRUM_ASSIGN_OR_RETURN(size_t num_blocks,
                          pool_blocks(op, "latent_pool", latent_pool, 1, batch.block_size, kv_lora_rank));
  FERRUM_TRY(check_rope_pool(op, rope_pool, num_blocks, batch.block_size, qk_rope_head_dim));
  FERRUM_TRY(check_paged_batch(op, batch, num_blocks));
  if (batch.num_tokens == 0) return ok();
  const size_t pool_rows = num_blocks * batch.block_size;
  with_pool_type(latent_pool.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::PagedAttentionProblem<T> problem = paged_problem<T>(batch, cfg);
    problem.num_kv_heads = 1;  // the latent is shared by every head
    problem.q = q.data_as<float>();
    problem.k1 = latent_pool.data_as<T>();
    problem.k2 = qk_rope_head_dim > 0 ? rope_pool.data_as<T>() : nullptr;
    problem.v = latent_pool.data_as<T>();
    problem.out = out.data_as<float>();
    problem.d1 = kv_lora_rank;
    problem.d2 = qk_rope_head_dim;
    problem.dv = kv_lora_rank;
    problem.k1_scales = row_scales(latent_pool, pool_rows, kv_lora_rank);
    problem.k2_scales = qk_rope_head_dim > 0 ? row_scales(rope_pool, pool_rows, qk_rope_head_dim) : nullptr;
    problem.v_scales = problem.k1_scales;
    cpu::run_paged_attention(*ctx.pool, problem);
  });
  return ok();
}

namespace {

// The i32 device ids as the u32 ids the host lookups take, after checking none is negative.
Expected<std::span<const uint32_t>> non_negative_ids(std::string_view op, const CpuBuffer& ids, size_t count) {
  FERRUM_TRY(check_i32(op, "ids", &ids, count));
  const int32_t* values = ids.data_as<int32_t>();
  for (size_t i = 0; i < count; ++i) {
    FERRUM_CHECK(values[i] >= 0, ErrorCode::kOutOfRange, op, ": ids[", i, "] = ", values[i], " is negative");
  }
  return std::span<const uint32_t>(reinterpret_cast<const uint32_t*>(values), count);
}

}  // namespace

Status CpuBackend::gather_rows(CpuContext& ctx, const CpuBuffer& table, const CpuBuffer& ids, size_t count,
                               CpuBuffer& out, size_t dim) {
  FERRUM_ASSIGN_OR_RETURN(auto host_ids, non_negative_ids("gather_rows", ids, count));
  return embedding_lookup(ctx, table, host_ids, out, dim);
}

Status CpuBackend::gather_rows_slice(CpuContext& ctx, const CpuBuffer& table, const CpuBuffer& ids, size_t count,
                                     size_t first_id, CpuBuffer& out, size_t dim) {
  FERRUM_ASSIGN_OR_RETURN(auto host_ids, non_negative_ids("gather_rows_slice", ids, count));
  return embedding_lookup_slice(ctx, table, host_ids, first_id, out, dim);
}

Status CpuBackend::copy_from_host(CpuContext& /*ctx*/, std::span<const uint8_t> bytes, CpuBuffer& dst,
                                  size_t dst_offset) {
  constexpr std::string_view op = "copy_from_host";
  FERRUM_CHECK(!is_quantized(dst.dtype()), ErrorCode::kUnsupported, op, ": dst has block type ", dst.dtype());
  const size_t element = dtype_info(dst.dtype()).block_bytes;
  FERRUM_CHECK(bytes.size() % element == 0, ErrorCode::kShapeMismatch, op, ": ", bytes.size(),
               " bytes are not a whole number of ", dst.dtype(), " elements");
  const size_t count = bytes.size() / element;
  FERRUM_TRY(cpu::check_range(op, "dst", dst.numel(), dst_offset, count));
  if (count > 0) std::memcpy(static_cast<uint8_t*>(dst.data()) + dst_offset * element, bytes.data(), bytes.size());
  return ok();
}

}  // namespace ferrum
