// flash_attention and mla_attention: argument checks, then the shared kernel in cpu_attention_kernel.
#include "backend/cpu/cpu_attention_kernel.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/op_checks.h"

namespace ferrum {
namespace {

// Checks shared by both ops; returns the row stride between KV heads.
Expected<size_t> check_attention_config(std::string_view op, size_t q_len, size_t kv_len, size_t pos_offset,
                                        const AttnConfig& cfg) {
  FERRUM_CHECK(cfg.kv_seq_stride == 0 || cfg.kv_seq_stride >= kv_len, ErrorCode::kShapeMismatch, op, ": kv_seq_stride ",
               cfg.kv_seq_stride, " is smaller than kv_len ", kv_len);
  FERRUM_CHECK(pos_offset <= SIZE_MAX - q_len, ErrorCode::kOutOfRange, op, ": pos_offset + q_len overflows");
  return cfg.kv_seq_stride == 0 ? kv_len : cfg.kv_seq_stride;
}

}  // namespace

Status CpuBackend::flash_attention(CpuContext& ctx, const CpuBuffer& q, const CpuBuffer& k, const CpuBuffer& v,
                                   CpuBuffer& out, size_t batch, size_t q_len, size_t kv_len, size_t pos_offset,
                                   const AttnConfig& cfg) {
  constexpr std::string_view op = "flash_attention";
  FERRUM_TRY(check_positive(op, "num_heads", cfg.num_heads));
  FERRUM_TRY(check_positive(op, "num_kv_heads", cfg.num_kv_heads));
  FERRUM_TRY(check_positive(op, "head_dim", cfg.head_dim));
  FERRUM_CHECK(cfg.num_heads % cfg.num_kv_heads == 0, ErrorCode::kInvalidArgument, op, ": num_heads ", cfg.num_heads,
               " is not a multiple of num_kv_heads ", cfg.num_kv_heads);
  FERRUM_ASSIGN_OR_RETURN(size_t stride, check_attention_config(op, q_len, kv_len, pos_offset, cfg));
  FERRUM_TRY(check_dtype(op, "q", q, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "k", k, {DType::kF32, DType::kF16, DType::kBF16}));
  FERRUM_CHECK(v.dtype() == k.dtype(), ErrorCode::kUnsupported, op, ": v has dtype ", v.dtype(), " but k has ",
               k.dtype(), " (they must match)");
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "q", q, {batch, cfg.num_heads, q_len, cfg.head_dim}));
  FERRUM_TRY(check_numel(op, "k", k, {batch, cfg.num_kv_heads, stride, cfg.head_dim}));
  FERRUM_TRY(check_numel(op, "v", v, {batch, cfg.num_kv_heads, stride, cfg.head_dim}));
  FERRUM_TRY(check_numel(op, "out", out, {batch, cfg.num_heads, q_len, cfg.head_dim}));
  if (batch == 0 || q_len == 0) return ok();
  cpu::with_float_type(k.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::AttentionProblem<T> problem;
    problem.batch = batch;
    problem.q_len = q_len;
    problem.kv_len = kv_len;
    problem.pos_offset = pos_offset;
    problem.num_heads = cfg.num_heads;
    problem.num_kv_heads = cfg.num_kv_heads;
    problem.kv_stride = stride;
    problem.causal = cfg.causal;
    problem.sliding_window = cfg.sliding_window;
    problem.scale = cfg.scale;
    problem.q = q.data_as<float>();
    problem.k1 = k.data_as<T>();
    problem.v = v.data_as<T>();
    problem.out = out.data_as<float>();
    problem.d1 = cfg.head_dim;
    problem.dv = cfg.head_dim;
    cpu::run_attention(*ctx.pool, problem);
  });
  return ok();
}

Status CpuBackend::mla_attention(CpuContext& ctx, const CpuBuffer& q, const CpuBuffer& kv_compressed,
                                 const CpuBuffer& kv_rope, CpuBuffer& out, size_t batch, size_t q_len, size_t kv_len,
                                 size_t pos_offset, const AttnConfig& cfg, size_t kv_lora_rank,
                                 size_t qk_rope_head_dim) {
  constexpr std::string_view op = "mla_attention";
  FERRUM_TRY(check_positive(op, "num_heads", cfg.num_heads));
  FERRUM_TRY(check_positive(op, "kv_lora_rank", kv_lora_rank));
  FERRUM_CHECK(qk_rope_head_dim <= SIZE_MAX - kv_lora_rank && cfg.head_dim == kv_lora_rank + qk_rope_head_dim,
               ErrorCode::kShapeMismatch, op, ": head_dim ", cfg.head_dim, " is not kv_lora_rank ", kv_lora_rank,
               " + qk_rope_head_dim ", qk_rope_head_dim);
  FERRUM_ASSIGN_OR_RETURN(size_t stride, check_attention_config(op, q_len, kv_len, pos_offset, cfg));
  FERRUM_TRY(check_dtype(op, "q", q, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "kv_compressed", kv_compressed, {DType::kF32, DType::kF16, DType::kBF16}));
  FERRUM_CHECK(kv_rope.dtype() == kv_compressed.dtype(), ErrorCode::kUnsupported, op, ": kv_rope has dtype ",
               kv_rope.dtype(), " but kv_compressed has ", kv_compressed.dtype(), " (they must match)");
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "q", q, {batch, cfg.num_heads, q_len, cfg.head_dim}));
  FERRUM_TRY(check_numel(op, "kv_compressed", kv_compressed, {batch, stride, kv_lora_rank}));
  FERRUM_TRY(check_numel(op, "kv_rope", kv_rope, {batch, stride, qk_rope_head_dim}));
  FERRUM_TRY(check_numel(op, "out", out, {batch, cfg.num_heads, q_len, kv_lora_rank}));
  if (batch == 0 || q_len == 0) return ok();
  cpu::with_float_type(kv_compressed.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu::AttentionProblem<T> problem;
    problem.batch = batch;
    problem.q_len = q_len;
    problem.kv_len = kv_len;
    problem.pos_offset = pos_offset;
    problem.num_heads = cfg.num_heads;
    problem.num_kv_heads = 1;  // the latent is shared by every head
    problem.kv_stride = stride;
    problem.causal = cfg.causal;
    problem.sliding_window = cfg.sliding_window;
    problem.scale = cfg.scale;
    problem.q = q.data_as<float>();
    problem.k1 = kv_compressed.data_as<T>();
    problem.k2 = qk_rope_head_dim > 0 ? kv_rope.data_as<T>() : nullptr;
    problem.v = kv_compressed.data_as<T>();
    problem.out = out.data_as<float>();
    problem.d1 = kv_lora_rank;
    problem.d2 = qk_rope_head_dim;
    problem.dv = kv_lora_rank;
    cpu::run_attention(*ctx.pool, problem);
  });
  return ok();
}

}  // namespace ferrum
