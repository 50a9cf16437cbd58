// CudaBackend: the optional fused ops models use when a backend has them (backend.h, "Optional
// fused ops"): the attention prologue (split, QK-norm, RoPE, KV append) in one kernel, and the
// gated MLP's gate / up GEMM with its activation applied on the way out.
#include "backend/cuda/backend_checks.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention.h"
#include "backend/cuda/kernels/elementwise.h"
#include "backend/cuda/kernels/gemv.h"
#include "backend/cuda/kernels/launch_settings.h"
#include "backend/cuda/kernels/rope.h"

namespace ferrum {

namespace {

bool is_aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// The checks of qkv_rope_kv_append (and of qkv_rope_attention's prologue), and its kernel arguments.
Expected<cuda::QkvRopeAppendArgs> prepare_qkv_rope(CudaContext& ctx, std::string_view op, const CudaBuffer& qkv,
                                                   const CudaBuffer& q_norm_w, const CudaBuffer& k_norm_w,
                                                   const CudaBuffer& cos, const CudaBuffer& sin, CudaBuffer& q_heads,
                                                   CudaBuffer& cache_k, CudaBuffer& cache_v, size_t tokens,
                                                   size_t heads, size_t kv_heads, size_t head_dim, size_t pos_offset,
                                                   size_t cache_capacity, float eps, int mode) {
  FERRUM_CHECK(mode == kQkRope || mode == kQkNormRope, ErrorCode::kInvalidArgument, op, ": mode ", mode,
               " is not 1 (norm + RoPE) or 2 (RoPE)");
  FERRUM_CHECK(head_dim % 2 == 0 && head_dim > 0, ErrorCode::kInvalidArgument, op,
               ": RoPE needs a positive even head_dim, got ", head_dim);
  FERRUM_TRY(cuda::check_float(op, "qkv", qkv));
  FERRUM_TRY(cuda::check_same_dtype(op, "q_heads", q_heads, "qkv", qkv));
  FERRUM_TRY(cuda::check_same_dtype(op, "cache_k", cache_k, "qkv", qkv));
  FERRUM_TRY(cuda::check_same_dtype(op, "cache_v", cache_v, "qkv", qkv));
  FERRUM_TRY(check_dtype(op, "cos", cos, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "sin", sin, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "qkv", qkv, {tokens, heads + 2 * kv_heads, head_dim}));
  FERRUM_TRY(check_numel(op, "q_heads", q_heads, {heads, tokens, head_dim}));
  FERRUM_TRY(check_numel(op, "cache_k", cache_k, {kv_heads, cache_capacity, head_dim}));
  FERRUM_TRY(check_numel(op, "cache_v", cache_v, {kv_heads, cache_capacity, head_dim}));
  const int32_t* dyn_state = ctx.dev_state_mode() ? ctx.decode_state() : nullptr;
  const size_t half = head_dim / 2;
  if (dyn_state == nullptr) {
    FERRUM_CHECK(pos_offset + tokens <= cache_capacity, ErrorCode::kOutOfRange, op, ": rows ", pos_offset, " + ",
                 tokens, " exceed the cache capacity ", cache_capacity);
    FERRUM_TRY(check_numel(op, "cos", cos, {pos_offset + tokens, half}));
    FERRUM_TRY(check_numel(op, "sin", sin, {pos_offset + tokens, half}));
  }
  cuda::QkvRopeAppendArgs args;
  if (mode == kQkNormRope) {
    FERRUM_TRY(check_dtype(op, "q_norm_w", q_norm_w, {DType::kF32}));
    FERRUM_TRY(check_dtype(op, "k_norm_w", k_norm_w, {DType::kF32}));
    FERRUM_TRY(check_numel(op, "q_norm_w", q_norm_w, head_dim));
    FERRUM_TRY(check_numel(op, "k_norm_w", k_norm_w, head_dim));
    args.q_norm = q_norm_w.data_as<float>();
    args.k_norm = k_norm_w.data_as<float>();
  }
  args.qkv = qkv.data();
  args.q_heads = q_heads.data();
  args.cache_k = cache_k.data();
  args.cache_v = cache_v.data();
  args.dtype = qkv.dtype();
  args.cos = cos.data_as<float>();
  args.sin = sin.data_as<float>();
  args.positions = std::min(cos.numel(), sin.numel()) / half;
  args.tokens = tokens;
  args.heads = heads;
  args.kv_heads = kv_heads;
  args.head_dim = head_dim;
  args.capacity = cache_capacity;
  args.pos_offset = pos_offset;
  args.dyn_state = dyn_state;
  args.eps = eps;
  args.mode = mode;
  return args;
}

}  // namespace

Status CudaBackend::qkv_rope_kv_append(CudaContext& ctx, const CudaBuffer& qkv, const CudaBuffer& q_norm_w,
                                       const CudaBuffer& k_norm_w, const CudaBuffer& cos, const CudaBuffer& sin,
                                       CudaBuffer& q_heads, CudaBuffer& cache_k, CudaBuffer& cache_v, size_t tokens,
                                       size_t heads, size_t kv_heads, size_t head_dim, size_t pos_offset,
                                       size_t cache_capacity, float eps, int mode) {
  FERRUM_TRY(ctx.usable());
  FERRUM_ASSIGN_OR_RETURN(
      cuda::QkvRopeAppendArgs args,
      prepare_qkv_rope(ctx, "qkv_rope_kv_append", qkv, q_norm_w, k_norm_w, cos, sin, q_heads, cache_k, cache_v, tokens,
                       heads, kv_heads, head_dim, pos_offset, cache_capacity, eps, mode));
  return cuda::launch_qkv_rope_append(args, ctx.stream());
}

Status CudaBackend::paged_qkv_rope_write(CudaContext& ctx, const CudaBuffer& qkv, const CudaBuffer& q_norm_w,
                                         const CudaBuffer& k_norm_w, const CudaBuffer& cos_rows,
                                         const CudaBuffer& sin_rows, CudaBuffer& q_heads, CudaBuffer& k_pool,
                                         CudaBuffer& v_pool, const CudaBuffer& slot_mapping, size_t tokens,
                                         size_t heads, size_t kv_heads, size_t head_dim, size_t block_size, float eps,
                                         int mode) {
  constexpr std::string_view op = "paged_qkv_rope_write";
  FERRUM_TRY(ctx.usable());
  FERRUM_CHECK(block_size > 0 && kv_heads > 0 && head_dim > 0, ErrorCode::kInvalidArgument, op,
               ": block_size, kv_heads and head_dim must be positive");
  const size_t block_numel = kv_heads * block_size * head_dim;
  FERRUM_CHECK(k_pool.numel() % block_numel == 0 && v_pool.numel() == k_pool.numel(), ErrorCode::kShapeMismatch, op,
               ": pools of ", k_pool.numel(), " / ", v_pool.numel(), " values are not whole blocks of ", block_numel);
  FERRUM_TRY(check_dtype(op, "slot_mapping", slot_mapping, {DType::kI32}));
  FERRUM_TRY(check_numel(op, "slot_mapping", slot_mapping, tokens));
  // The pools as head-major caches of num_slots rows (the same element count); cos / sin one row
  // per token, from pos_offset 0.
  const size_t num_slots = k_pool.numel() / block_numel * block_size;
  FERRUM_CHECK(tokens <= num_slots, ErrorCode::kOutOfRange, op, ": ", tokens, " tokens for pools of ", num_slots,
               " slots");
  FERRUM_ASSIGN_OR_RETURN(cuda::QkvRopeAppendArgs args,
                          prepare_qkv_rope(ctx, op, qkv, q_norm_w, k_norm_w, cos_rows, sin_rows, q_heads, k_pool,
                                           v_pool, tokens, heads, kv_heads, head_dim, 0, num_slots, eps, mode));
  args.dyn_state = nullptr;  // positions come from the per-token rows, never the decode state
  args.slot_mapping = slot_mapping.data_as<int32_t>();
  args.block_size = block_size;
  args.num_slots = num_slots;
  return cuda::launch_qkv_rope_append(args, ctx.stream());
}

Status CudaBackend::qkv_rope_attention(CudaContext& ctx, const CudaBuffer& qkv, const CudaBuffer& q_norm_w,
                                       const CudaBuffer& k_norm_w, const CudaBuffer& cos, const CudaBuffer& sin,
                                       CudaBuffer& q_heads, CudaBuffer& cache_k, CudaBuffer& cache_v, CudaBuffer& out,
                                       size_t tokens, size_t pos_offset, float eps, int mode, const AttnConfig& cfg) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "qkv_rope_attention";
  FERRUM_TRY(check_positive(op, "num_kv_heads", cfg.num_kv_heads));
  FERRUM_CHECK(cfg.kv_seq_stride > 0, ErrorCode::kInvalidArgument, op, ": kv_seq_stride (the cache capacity) is 0");
  FERRUM_ASSIGN_OR_RETURN(
      cuda::QkvRopeAppendArgs args,
      prepare_qkv_rope(ctx, op, qkv, q_norm_w, k_norm_w, cos, sin, q_heads, cache_k, cache_v, tokens, cfg.num_heads,
                       cfg.num_kv_heads, cfg.head_dim, pos_offset, cfg.kv_seq_stride, eps, mode));
  if (tokens == 1 && cuda::fused_rope_attention_enabled() && cuda::decode_attention_kernel_enabled()) {
    FERRUM_TRY(cuda::check_same_dtype(op, "out", out, "qkv", qkv));
    FERRUM_TRY(check_numel(op, "out", out, {cfg.num_heads, cfg.head_dim}));
    cuda::AttentionProblem problem;
    problem.q = q_heads.data();
    problem.k1 = cache_k.data();
    problem.v = cache_v.data();
    problem.out = out.data();
    problem.dtype = qkv.dtype();
    problem.kv_dtype = cache_k.dtype();
    problem.d1 = problem.dv = cfg.head_dim;
    problem.batch = 1;
    problem.heads = cfg.num_heads;
    problem.kv_heads = cfg.num_kv_heads;
    problem.q_len = 1;
    problem.kv_len = pos_offset + 1;
    problem.kv_stride = cfg.kv_seq_stride;
    problem.pos_offset = pos_offset;
    problem.causal = cfg.causal;
    problem.window = cfg.sliding_window;
    problem.scale = cfg.scale;
    problem.dyn_state = args.dyn_state;
    if (cuda::decode_attention_supports(problem, CudaContextState::kAttentionCounters) && is_aligned16(qkv.data())) {
      const int sm_count = ctx.state().sm_count;
      void* partials = nullptr;
      if (const size_t bytes = cuda::decode_attention_scratch_bytes(problem, sm_count); bytes > 0) {
        FERRUM_ASSIGN_OR_RETURN(partials, ctx.scratch(ScratchSlot::kAttentionPartials, bytes));
      }
      cuda::DecodeRopeInputs rope;
      rope.qkv = qkv.data();
      rope.q_norm = args.q_norm;
      rope.k_norm = args.k_norm;
      rope.cos = args.cos;
      rope.sin = args.sin;
      rope.positions = args.positions;
      rope.mode = mode;
      rope.eps = eps;
      return cuda::launch_decode_attention(problem, sm_count, partials, ctx.attention_counters(), ctx.stream(), &rope);
    }
  }
  FERRUM_TRY(cuda::launch_qkv_rope_append(args, ctx.stream()));
  return flash_attention(ctx, q_heads, cache_k, cache_v, out, 1, tokens, pos_offset + tokens, pos_offset, cfg);
}

Status CudaBackend::gemm_gated(CudaContext& ctx, const CudaBuffer& a, const CudaBuffer& w, CudaBuffer& out, size_t m,
                               size_t im, size_t k, Activation act) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "gemm_gated";
  FERRUM_TRY(cuda::check_float(op, "a", a));
  FERRUM_TRY(cuda::check_same_dtype(op, "out", out, "a", a));
  FERRUM_TRY(cuda::check_float(op, "w", w));
  FERRUM_TRY(check_numel(op, "a", a, {m, k}));
  FERRUM_TRY(check_numel(op, "w", w, {2, im, k}));
  FERRUM_TRY(check_numel(op, "out", out, {m, im}));
  if (m == 0 || im == 0) return ok();
  const cuda::GatedGemvArgs args{a.data(), a.dtype(), w.data(), w.dtype(), out.data(), m, im, k, act};
  if (cuda::gated_gemv_supports(args)) return cuda::launch_gated_gemv(args, ctx.stream());
  // Prefill (and odd shapes): the GEMM into scratch, then the activation.
  FERRUM_ASSIGN_OR_RETURN(size_t bytes, checked_product(op, {m, 2, im, cuda::elem_bytes(a)}));
  FERRUM_ASSIGN_OR_RETURN(void* gate_up, ctx.scratch(ScratchSlot::kGatedGemm, bytes));
  FERRUM_TRY(cuda::run_dense_gemm(ctx, {a.data(), a.dtype(), w.data(), w.dtype(), gate_up, a.dtype(), m, 2 * im, k}));
  return cuda::launch_act_mul_split(gate_up, out.data(), a.dtype(), m, im, act, ctx.stream());
}

}  // namespace ferrum
