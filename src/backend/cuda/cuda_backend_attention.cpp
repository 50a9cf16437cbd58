// CudaBackend: attention. Prefill with bf16/f16 and a common head_dim goes to the tensor-core
// flash kernel; decode (q_len < 16), device-state mode, f32 and unusual shapes go to the split-KV
// kernel; MLA is the split-KV kernel with a two-part key and the latent as the value.
#include "backend/cuda/backend_checks.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention.h"
#include "backend/cuda/kernels/launch_settings.h"

namespace ferrum {
namespace {

// The decode kernel's split counters (zeroed once per context; each launch leaves them zero):
// batch * kv_heads of them.
constexpr size_t kAttentionCounters = CudaContextState::kAttentionCounters;

// Below this many query rows per head the tensor-core kernel's 64-row tiles are mostly padding
// and too few blocks exist; the split-KV kernel spreads the keys over the SMs instead.
constexpr size_t kFlashMinQueryRows = 16;

Status check_attention_config(std::string_view op, const AttnConfig& cfg, size_t kv_len) {
  FERRUM_TRY(check_positive(op, "num_heads", cfg.num_heads));
  FERRUM_TRY(check_positive(op, "head_dim", cfg.head_dim));
  FERRUM_CHECK(cfg.kv_seq_stride == 0 || kv_len <= cfg.kv_seq_stride, ErrorCode::kShapeMismatch, op, ": kv_len ",
               kv_len, " exceeds kv_seq_stride ", cfg.kv_seq_stride);
  return ok();
}

Status run_attention(CudaContext& ctx, cuda::AttentionProblem& problem) {
  if (problem.kv_len == 0 && problem.dyn_state == nullptr) {
    // No keys: every output row is zeros (the softmax over nothing contributes nothing).
    FERRUM_CUDA_TRY(cudaMemsetAsync(
        problem.out, 0,
        problem.batch * problem.heads * problem.q_len * problem.dv * dtype_info(problem.dtype).block_bytes,
        ctx.stream()));
    return ok();
  }
  if (cuda::flash_attention_supports(problem) && problem.q_len >= kFlashMinQueryRows) {
    return cuda::launch_flash_attention(problem, ctx.stream());
  }
  const int sm_count = ctx.state().sm_count;
  if (cuda::decode_attention_supports(problem, kAttentionCounters) && cuda::decode_attention_kernel_enabled()) {
    void* partials = nullptr;
    if (const size_t bytes = cuda::decode_attention_scratch_bytes(problem, sm_count); bytes > 0) {
      FERRUM_ASSIGN_OR_RETURN(partials, ctx.scratch(ScratchSlot::kAttentionPartials, bytes));
    }
    return cuda::launch_decode_attention(problem, sm_count, partials, ctx.attention_counters(), ctx.stream());
  }
  void* scratch = nullptr;
  if (const size_t bytes = cuda::split_kv_scratch_bytes(problem, sm_count); bytes > 0) {
    FERRUM_ASSIGN_OR_RETURN(scratch, ctx.scratch(ScratchSlot::kAttentionPartials, bytes));
  }
  return cuda::launch_split_kv_attention(problem, sm_count, scratch, ctx.stream());
}

}  // namespace

Status CudaBackend::flash_attention(CudaContext& ctx, const CudaBuffer& q, const CudaBuffer& k, const CudaBuffer& v,
                                    CudaBuffer& out, size_t batch, size_t q_len, size_t kv_len, size_t pos_offset,
                                    const AttnConfig& cfg) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "flash_attention";
  FERRUM_TRY(check_attention_config(op, cfg, kv_len));
  FERRUM_TRY(check_positive(op, "num_kv_heads", cfg.num_kv_heads));
  FERRUM_CHECK(cfg.num_heads % cfg.num_kv_heads == 0, ErrorCode::kInvalidArgument, op, ": num_heads ", cfg.num_heads,
               " is not a multiple of num_kv_heads ", cfg.num_kv_heads);
  FERRUM_TRY(cuda::check_float(op, "q", q));
  FERRUM_TRY(cuda::check_same_dtype(op, "out", out, "q", q));
  FERRUM_TRY(cuda::check_float(op, "k", k));
  FERRUM_TRY(cuda::check_same_dtype(op, "v", v, "k", k));
  const size_t stride = cfg.kv_seq_stride != 0 ? cfg.kv_seq_stride : kv_len;
  FERRUM_TRY(check_numel(op, "q", q, {batch, cfg.num_heads, q_len, cfg.head_dim}));
  FERRUM_TRY(check_numel(op, "k", k, {batch, cfg.num_kv_heads, stride, cfg.head_dim}));
  FERRUM_TRY(check_numel(op, "v", v, {batch, cfg.num_kv_heads, stride, cfg.head_dim}));
  FERRUM_TRY(check_numel(op, "out", out, {batch, cfg.num_heads, q_len, cfg.head_dim}));
  cuda::AttentionProblem problem;
  problem.q = q.data();
  problem.k1 = k.data();
  problem.v = v.data();
  problem.out = out.data();
  problem.dtype = q.dtype();
  problem.kv_dtype = k.dtype();
  problem.d1 = problem.dv = cfg.head_dim;
  problem.batch = batch;
  problem.heads = cfg.num_heads;
  problem.kv_heads = cfg.num_kv_heads;
  problem.q_len = q_len;
  problem.kv_len = kv_len;
  problem.kv_stride = stride;
  problem.pos_offset = pos_offset;
  problem.causal = cfg.causal;
  problem.window = cfg.sliding_window;
  problem.scale = cfg.scale;
  problem.dyn_state = ctx.dev_state_mode() ? ctx.decode_state() : nullptr;
  return run_attention(ctx, problem);
}

Status CudaBackend::mla_attention(CudaContext& ctx, const CudaBuffer& q, const CudaBuffer& kv_compressed,
                                  const CudaBuffer& kv_rope, CudaBuffer& out, size_t batch, size_t q_len, size_t kv_len,
                                  size_t pos_offset, const AttnConfig& cfg, size_t kv_lora_rank,
                                  size_t qk_rope_head_dim) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "mla_attention";
  FERRUM_TRY(check_attention_config(op, cfg, kv_len));
  FERRUM_CHECK(cfg.head_dim == kv_lora_rank + qk_rope_head_dim, ErrorCode::kShapeMismatch, op, ": head_dim ",
               cfg.head_dim, " must be kv_lora_rank ", kv_lora_rank, " + qk_rope_head_dim ", qk_rope_head_dim);
  FERRUM_TRY(check_positive(op, "kv_lora_rank", kv_lora_rank));
  FERRUM_TRY(cuda::check_float(op, "q", q));
  FERRUM_TRY(cuda::check_same_dtype(op, "out", out, "q", q));
  FERRUM_TRY(cuda::check_float(op, "kv_compressed", kv_compressed));
  FERRUM_TRY(cuda::check_same_dtype(op, "kv_rope", kv_rope, "kv_compressed", kv_compressed));
  const size_t stride = cfg.kv_seq_stride != 0 ? cfg.kv_seq_stride : kv_len;
  FERRUM_TRY(check_numel(op, "q", q, {batch, cfg.num_heads, q_len, cfg.head_dim}));
  FERRUM_TRY(check_numel(op, "kv_compressed", kv_compressed, {batch, stride, kv_lora_rank}));
  FERRUM_TRY(check_numel(op, "kv_rope", kv_rope, {batch, stride, qk_rope_head_dim}));
  FERRUM_TRY(check_numel(op, "out", out, {batch, cfg.num_heads, q_len, kv_lora_rank}));
  cuda::AttentionProblem problem;
  problem.q = q.data();
  problem.k1 = kv_compressed.data();
  problem.k2 = qk_rope_head_dim > 0 ? kv_rope.data() : nullptr;
  problem.v = kv_compressed.data();
  problem.out = out.data();
  problem.dtype = q.dtype();
  problem.kv_dtype = kv_compressed.dtype();
  problem.d1 = kv_lora_rank;
  problem.d2 = qk_rope_head_dim;
  problem.dv = kv_lora_rank;
  problem.batch = batch;
  problem.heads = cfg.num_heads;
  problem.kv_heads = 1;  // one latent head shared by every query head
  problem.q_len = q_len;
  problem.kv_len = kv_len;
  problem.kv_stride = stride;
  problem.pos_offset = pos_offset;
  problem.causal = cfg.causal;
  problem.window = cfg.sliding_window;
  problem.scale = cfg.scale;
  problem.dyn_state = ctx.dev_state_mode() ? ctx.decode_state() : nullptr;
  return run_attention(ctx, problem);
}

}  // namespace ferrum
