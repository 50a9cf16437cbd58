// CudaBackend: norms, element-wise, layout and row-reduction ops. Each checks its arguments on the
// host, then enqueues one kernel (two for wide argmax / top-k) on the context's stream.
#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/backend_checks.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/elementwise.h"
#include "backend/cuda/kernels/launch_settings.h"
#include "backend/cuda/kernels/layout.h"
#include "backend/cuda/kernels/logits.h"
#include "backend/cuda/kernels/norm.h"
#include "backend/cuda/kernels/quant_gemv.h"
#include "backend/cuda/kernels/reduce.h"
#include "backend/cuda/kernels/rope.h"
#include "backend/cuda/kernels/sample.h"
#include "backend/cuda/nccl_communicator.h"

namespace ferrum {

using cuda::check_float;
using cuda::check_same_dtype;
using cuda::elem_bytes;

namespace {

// The activation checks most ops share: x and out float, same dtype, each at least `numel`.
Status check_activation_pair(std::string_view op, const CudaBuffer& x, const CudaBuffer& out,
                             std::initializer_list<size_t> dims) {
  FERRUM_TRY(check_float(op, "x", x));
  FERRUM_TRY(check_same_dtype(op, "out", out, "x", x));
  FERRUM_TRY(check_numel(op, "x", x, dims));
  return check_numel(op, "out", out, dims);
}

Status check_act_mul_split(std::string_view op, const CudaBuffer& gate_up, const CudaBuffer& out, size_t tokens,
                           size_t im) {
  FERRUM_TRY(check_float(op, "gate_up", gate_up));
  FERRUM_TRY(check_same_dtype(op, "out", out, "gate_up", gate_up));
  FERRUM_TRY(check_numel(op, "gate_up", gate_up, {tokens, 2, im}));
  return check_numel(op, "out", out, {tokens, im});
}

const int32_t* dyn_state_if(CudaContext& ctx) {
  return ctx.dev_state_mode() ? ctx.decode_state() : nullptr;
}

}  // namespace

// ── Norms ──

namespace {

// The checks of rms_norm (with `residual`: fused_add_rms_norm), and its kernel arguments.
Expected<cuda::NormArgs> rms_norm_args(std::string_view op, CudaBuffer* residual, const CudaBuffer& x,
                                       const CudaBuffer& w, float eps, CudaBuffer& out, size_t tokens, size_t dim) {
  FERRUM_TRY(check_activation_pair(op, x, out, {tokens, dim}));
  if (residual != nullptr) {
    FERRUM_TRY(check_same_dtype(op, "residual", *residual, "x", x));
    FERRUM_TRY(check_numel(op, "residual", *residual, {tokens, dim}));
  }
  FERRUM_TRY(check_float(op, "w", w));
  FERRUM_TRY(check_numel(op, "w", w, dim));
  cuda::NormArgs args;
  args.x = x.data();
  args.residual = residual != nullptr ? residual->data() : nullptr;
  args.weight = w.data();
  args.out = out.data();
  args.act_dtype = x.dtype();
  args.weight_dtype = w.dtype();
  args.rows = tokens;
  args.dim = dim;
  args.eps = eps;
  return args;
}

// Checks that `rounded` can hold the rounding of out [rows, cols], then records that it will and
// returns where it goes (nullptr when FERRUM_CUDA_ROUND_AHEAD=0: the op is then its plain self).
Expected<void*> claim_rounded_rows(std::string_view op, CudaRoundedRows& rounded, const CudaBuffer& out, size_t rows,
                                   size_t cols) {
  FERRUM_CHECK(cols % 32 == 0, ErrorCode::kInvalidArgument, op, ": rounding to int8 per 32 values needs rows of a ",
               "multiple of 32 values, got ", cols);
  const size_t bytes = cuda::quant_gemv_scratch_bytes(rows, cols);
  FERRUM_CHECK(bytes <= rounded.bytes.nbytes(), ErrorCode::kShapeMismatch, op, ": the rounding of ", rows, " x ", cols,
               " needs ", bytes, " bytes, the rounded rows hold ", rounded.bytes.nbytes());
  if (!cuda::round_ahead_enabled()) {
    rounded.of = nullptr;
    return nullptr;
  }
  rounded.of = out.data();
  rounded.rows = rows;
  rounded.cols = cols;
  return rounded.bytes.data();
}

}  // namespace

Status CudaBackend::rms_norm(CudaContext& ctx, const CudaBuffer& x, const CudaBuffer& w, float eps, CudaBuffer& out,
                             size_t tokens, size_t dim) {
  FERRUM_TRY(ctx.usable());
  FERRUM_ASSIGN_OR_RETURN(cuda::NormArgs args, rms_norm_args("rms_norm", nullptr, x, w, eps, out, tokens, dim));
  return cuda::launch_rms_norm(args, ctx.stream());
}

Status CudaBackend::fused_add_rms_norm(CudaContext& ctx, CudaBuffer& residual, const CudaBuffer& x, const CudaBuffer& w,
                                       float eps, CudaBuffer& out, size_t tokens, size_t dim) {
  FERRUM_TRY(ctx.usable());
  FERRUM_ASSIGN_OR_RETURN(cuda::NormArgs args,
                          rms_norm_args("fused_add_rms_norm", &residual, x, w, eps, out, tokens, dim));
  return cuda::launch_fused_add_rms_norm(args, ctx.stream());
}

// ── Rounded activations (CudaRoundedRows) ──

Expected<CudaRoundedRows> CudaBackend::alloc_rounded_rows(size_t rows, size_t cols) {
  FERRUM_CHECK(cols % 32 == 0, ErrorCode::kInvalidArgument, "alloc_rounded_rows: rows of ", cols,
               " values are not a whole number of groups of 32");
  CudaRoundedRows rounded;
  FERRUM_ASSIGN_OR_RETURN(
      rounded.bytes,
      CudaBuffer::allocate(DType::kU8, std::max<size_t>(cuda::quant_gemv_scratch_bytes(rows, cols), 16)));
  return rounded;
}

Status CudaBackend::rms_norm_rounded(CudaContext& ctx, const CudaBuffer& x, const CudaBuffer& w, float eps,
                                     CudaBuffer& out, size_t tokens, size_t dim, CudaRoundedRows& rounded) {
  constexpr std::string_view op = "rms_norm_rounded";
  FERRUM_TRY(ctx.usable());
  FERRUM_ASSIGN_OR_RETURN(cuda::NormArgs args, rms_norm_args(op, nullptr, x, w, eps, out, tokens, dim));
  FERRUM_ASSIGN_OR_RETURN(args.rounded, claim_rounded_rows(op, rounded, out, tokens, dim));
  return cuda::launch_rms_norm(args, ctx.stream());
}

Status CudaBackend::fused_add_rms_norm_rounded(CudaContext& ctx, CudaBuffer& residual, const CudaBuffer& x,
                                               const CudaBuffer& w, float eps, CudaBuffer& out, size_t tokens,
                                               size_t dim, CudaRoundedRows& rounded) {
  constexpr std::string_view op = "fused_add_rms_norm_rounded";
  FERRUM_TRY(ctx.usable());
  FERRUM_ASSIGN_OR_RETURN(cuda::NormArgs args, rms_norm_args(op, &residual, x, w, eps, out, tokens, dim));
  FERRUM_ASSIGN_OR_RETURN(args.rounded, claim_rounded_rows(op, rounded, out, tokens, dim));
  return cuda::launch_fused_add_rms_norm(args, ctx.stream());
}

Status CudaBackend::all_reduce_add_rms_norm(CudaContext& ctx, CudaBuffer& x, CudaBuffer& residual, const CudaBuffer& w,
                                            float eps, CudaBuffer& out, size_t tokens, size_t dim,
                                            CudaRoundedRows* rounded) {
  constexpr std::string_view op = "all_reduce_add_rms_norm";
  cuda::IpcAllReduce* ipc = ctx.state().nccl ? ctx.state().nccl->ipc() : nullptr;
  if (ipc == nullptr || !ipc->takes_add_rms_norm(tokens, dim, x.dtype())) {
    // The two ops, each checking its operands (one rank: all_reduce returns at once).
    FERRUM_TRY(all_reduce(ctx, x, tokens * dim, ReduceOp::kSum));
    if (rounded != nullptr) return fused_add_rms_norm_rounded(ctx, residual, x, w, eps, out, tokens, dim, *rounded);
    return fused_add_rms_norm(ctx, residual, x, w, eps, out, tokens, dim);
  }
  FERRUM_TRY(ctx.usable());
  FERRUM_ASSIGN_OR_RETURN(cuda::NormArgs args, rms_norm_args(op, &residual, x, w, eps, out, tokens, dim));
  if (rounded != nullptr) {
    FERRUM_ASSIGN_OR_RETURN(args.rounded, claim_rounded_rows(op, *rounded, out, tokens, dim));
  }
  return ipc->run_add_rms_norm(args, ctx.stream());
}

Status CudaBackend::fused_act_mul_split_rounded(CudaContext& ctx, const CudaBuffer& gate_up, CudaBuffer& out,
                                                size_t tokens, size_t im, Activation act, CudaRoundedRows& rounded) {
  constexpr std::string_view op = "fused_act_mul_split_rounded";
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_act_mul_split(op, gate_up, out, tokens, im));
  FERRUM_ASSIGN_OR_RETURN(void* bytes, claim_rounded_rows(op, rounded, out, tokens, im));
  if (bytes == nullptr)
    return cuda::launch_act_mul_split(gate_up.data(), out.data(), gate_up.dtype(), tokens, im, act, ctx.stream());
  return cuda::launch_act_mul_split_rounded(gate_up.data(), out.data(), gate_up.dtype(), tokens, im, act, bytes,
                                            ctx.stream());
}

Status CudaBackend::layer_norm(CudaContext& ctx, const CudaBuffer& x, const CudaBuffer& gamma, const CudaBuffer& beta,
                               float eps, CudaBuffer& out, size_t tokens, size_t dim) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_activation_pair("layer_norm", x, out, {tokens, dim}));
  FERRUM_TRY(check_float("layer_norm", "gamma", gamma));
  FERRUM_TRY(check_same_dtype("layer_norm", "beta", beta, "gamma", gamma));
  FERRUM_TRY(check_numel("layer_norm", "gamma", gamma, dim));
  FERRUM_TRY(check_numel("layer_norm", "beta", beta, dim));
  cuda::NormArgs args;
  args.x = x.data();
  args.weight = gamma.data();
  args.bias = beta.data();
  args.out = out.data();
  args.act_dtype = x.dtype();
  args.weight_dtype = gamma.dtype();
  args.rows = tokens;
  args.dim = dim;
  args.eps = eps;
  return cuda::launch_layer_norm(args, ctx.stream());
}

// ── Layout ──

namespace {

// The embedding kernel's arguments once table, out and dim are checked; ids are the caller's.
Expected<cuda::EmbeddingArgs> embedding_args(std::string_view op, const CudaBuffer& table, size_t count,
                                             size_t first_id, CudaBuffer& out, size_t dim) {
  FERRUM_TRY(check_positive(op, "dim", dim));
  const DType table_dtype = table.dtype();
  FERRUM_CHECK(cuda::is_float_dtype(table_dtype) || is_quantized(table_dtype), ErrorCode::kUnsupported, op,
               ": table dtype ", table_dtype, " is not a float or GGUF type");
  FERRUM_CHECK(dim % dtype_info(table_dtype).block_elems == 0, ErrorCode::kShapeMismatch, op, ": dim ", dim,
               " is not a whole number of ", table_dtype, " blocks");
  FERRUM_CHECK(first_id <= UINT32_MAX, ErrorCode::kOutOfRange, op, ": first_id ", first_id, " is not a u32 id");
  FERRUM_TRY(cuda::check_float(op, "out", out));
  FERRUM_TRY(check_numel(op, "out", out, {count, dim}));
  cuda::EmbeddingArgs args;
  args.table = table.data();
  args.table_dtype = table_dtype;
  args.rows = table.numel() / dim;
  args.dim = dim;
  args.count = count;
  args.first_id = static_cast<uint32_t>(first_id);
  args.out = out.data();
  args.out_dtype = out.dtype();
  return args;
}

// embedding_lookup(_slice): host ids, or in device-state mode the decode state's token.
Status lookup_host_ids(CudaContext& ctx, std::string_view op, const CudaBuffer& table, std::span<const uint32_t> ids,
                       size_t first_id, bool outside_is_error, CudaBuffer& out, size_t dim) {
  FERRUM_TRY(ctx.usable());
  FERRUM_ASSIGN_OR_RETURN(cuda::EmbeddingArgs args, embedding_args(op, table, ids.size(), first_id, out, dim));
  for (size_t i = 0; i < ids.size() && outside_is_error; ++i) {
    FERRUM_CHECK(ids[i] < args.rows, ErrorCode::kOutOfRange, op, ": ids[", i, "] = ", ids[i], " but the table has ",
                 args.rows, " rows");
  }
  if (ids.empty()) return ok();
  if (ctx.dev_state_mode() && ids.size() == 1) {
    args.dyn_state = ctx.decode_state();
  } else {
    FERRUM_ASSIGN_OR_RETURN(void* device_ids, ctx.scratch(ScratchSlot::kHostIds, ids.size_bytes()));
    // From pageable memory: the call returns once the ids are staged, so `ids` may die right after.
    FERRUM_CUDA_TRY(cudaMemcpyAsync(device_ids, ids.data(), ids.size_bytes(), cudaMemcpyHostToDevice, ctx.stream()),
                    "(embedding ids)");
    args.ids = static_cast<const uint32_t*>(device_ids);
  }
  return cuda::launch_embedding(args, ctx.stream());
}

// gather_rows(_slice): the ids are already on the device (an id outside the table reads zeros).
Status lookup_device_ids(CudaContext& ctx, std::string_view op, const CudaBuffer& table, const CudaBuffer& ids,
                         size_t count, size_t first_id, CudaBuffer& out, size_t dim) {
  FERRUM_TRY(ctx.usable());
  FERRUM_ASSIGN_OR_RETURN(cuda::EmbeddingArgs args, embedding_args(op, table, count, first_id, out, dim));
  FERRUM_TRY(check_i32(op, "ids", &ids, count));
  if (count == 0) return ok();
  // Non-negative i32 ids are the kernel's u32 ids; a negative one reads as huge, past the table.
  args.ids = static_cast<const uint32_t*>(ids.data());
  return cuda::launch_embedding(args, ctx.stream());
}

}  // namespace

Status CudaBackend::embedding_lookup(CudaContext& ctx, const CudaBuffer& table, std::span<const uint32_t> ids,
                                     CudaBuffer& out, size_t dim) {
  return lookup_host_ids(ctx, "embedding_lookup", table, ids, 0, true, out, dim);
}

Status CudaBackend::embedding_lookup_slice(CudaContext& ctx, const CudaBuffer& table, std::span<const uint32_t> ids,
                                           size_t first_id, CudaBuffer& out, size_t dim) {
  return lookup_host_ids(ctx, "embedding_lookup_slice", table, ids, first_id, false, out, dim);
}

Status CudaBackend::gather_rows(CudaContext& ctx, const CudaBuffer& table, const CudaBuffer& ids, size_t count,
                                CudaBuffer& out, size_t dim) {
  return lookup_device_ids(ctx, "gather_rows", table, ids, count, 0, out, dim);
}

Status CudaBackend::gather_rows_slice(CudaContext& ctx, const CudaBuffer& table, const CudaBuffer& ids, size_t count,
                                      size_t first_id, CudaBuffer& out, size_t dim) {
  return lookup_device_ids(ctx, "gather_rows_slice", table, ids, count, first_id, out, dim);
}

Status CudaBackend::split_qkv(CudaContext& ctx, const CudaBuffer& qkv, CudaBuffer& q, CudaBuffer& k, CudaBuffer& v,
                              size_t tokens, size_t q_dim, size_t kv_dim) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_float("split_qkv", "qkv", qkv));
  for (const CudaBuffer* part : {&q, &k, &v}) FERRUM_TRY(check_same_dtype("split_qkv", "q/k/v", *part, "qkv", qkv));
  FERRUM_TRY(check_numel("split_qkv", "qkv", qkv, {tokens, q_dim + 2 * kv_dim}));
  FERRUM_TRY(check_numel("split_qkv", "q", q, {tokens, q_dim}));
  FERRUM_TRY(check_numel("split_qkv", "k", k, {tokens, kv_dim}));
  FERRUM_TRY(check_numel("split_qkv", "v", v, {tokens, kv_dim}));
  return cuda::launch_split_qkv(qkv.data(), q.data(), k.data(), v.data(), elem_bytes(qkv), tokens, q_dim, kv_dim,
                                ctx.stream());
}

Status CudaBackend::fused_silu_mul_split(CudaContext& ctx, const CudaBuffer& gate_up, CudaBuffer& out, size_t tokens,
                                         size_t im) {
  return fused_act_mul_split(ctx, gate_up, out, tokens, im, Activation::kSilu);
}

Status CudaBackend::fused_act_mul_split(CudaContext& ctx, const CudaBuffer& gate_up, CudaBuffer& out, size_t tokens,
                                        size_t im, Activation act) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_act_mul_split("fused_act_mul_split", gate_up, out, tokens, im));
  return cuda::launch_act_mul_split(gate_up.data(), out.data(), gate_up.dtype(), tokens, im, act, ctx.stream());
}

Status CudaBackend::qk_norm_rope(CudaContext& ctx, const CudaBuffer& input, const CudaBuffer& norm_w,
                                 const CudaBuffer& cos, const CudaBuffer& sin, CudaBuffer& output, size_t tokens,
                                 size_t heads, size_t head_dim, size_t pos_offset, float eps, int mode) {
  FERRUM_TRY(ctx.usable());
  FERRUM_CHECK(mode >= 0 && mode <= 2, ErrorCode::kInvalidArgument, "qk_norm_rope: mode ", mode,
               " is not 0 (transpose), 1 (norm + RoPE) or 2 (RoPE)");
  FERRUM_TRY(check_float("qk_norm_rope", "input", input));
  FERRUM_TRY(check_same_dtype("qk_norm_rope", "output", output, "input", input));
  FERRUM_TRY(check_numel("qk_norm_rope", "input", input, {tokens, heads, head_dim}));
  FERRUM_TRY(check_numel("qk_norm_rope", "output", output, {tokens, heads, head_dim}));
  cuda::QkNormRopeArgs args;
  args.input = input.data();
  args.output = output.data();
  args.act_dtype = input.dtype();
  args.tokens = tokens;
  args.heads = heads;
  args.head_dim = head_dim;
  args.pos_offset = pos_offset;
  args.eps = eps;
  args.mode = mode;
  args.dyn_state = dyn_state_if(ctx);
  if (mode != kQkTransposeOnly) {
    FERRUM_CHECK(head_dim % 2 == 0, ErrorCode::kInvalidArgument, "qk_norm_rope: RoPE needs an even head_dim, got ",
                 head_dim);
    FERRUM_TRY(check_float("qk_norm_rope", "cos", cos));
    FERRUM_TRY(check_same_dtype("qk_norm_rope", "sin", sin, "cos", cos));
    const size_t half = head_dim / 2;
    if (args.dyn_state == nullptr) {
      FERRUM_TRY(check_numel("qk_norm_rope", "cos", cos, {pos_offset + tokens, half}));
      FERRUM_TRY(check_numel("qk_norm_rope", "sin", sin, {pos_offset + tokens, half}));
    }
    args.cos = cos.data();
    args.sin = sin.data();
    args.rope_dtype = cos.dtype();
    args.positions = std::min(cos.numel(), sin.numel()) / half;
  }
  if (mode == kQkNormRope) {
    FERRUM_TRY(check_float("qk_norm_rope", "norm_w", norm_w));
    FERRUM_TRY(check_numel("qk_norm_rope", "norm_w", norm_w, head_dim));
    args.norm_w = norm_w.data();
    args.norm_dtype = norm_w.dtype();
  }
  return cuda::launch_qk_norm_rope(args, ctx.stream());
}

Status CudaBackend::kv_cache_append_head_major(CudaContext& ctx, CudaBuffer& cache_k, CudaBuffer& cache_v,
                                               size_t cache_len, size_t cache_capacity, const CudaBuffer& new_k,
                                               const CudaBuffer& new_v, size_t new_tokens, size_t nkv, size_t hd) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "kv_cache_append_head_major";
  // New rows of any float dtype go into a cache of any float dtype (converted on the way in).
  FERRUM_TRY(check_float(op, "new_k", new_k));
  FERRUM_TRY(check_same_dtype(op, "new_v", new_v, "new_k", new_k));
  FERRUM_TRY(check_float(op, "cache_k", cache_k));
  FERRUM_TRY(check_same_dtype(op, "cache_v", cache_v, "cache_k", cache_k));
  FERRUM_TRY(check_numel(op, "cache_k", cache_k, {nkv, cache_capacity, hd}));
  FERRUM_TRY(check_numel(op, "cache_v", cache_v, {nkv, cache_capacity, hd}));
  FERRUM_TRY(check_numel(op, "new_k", new_k, {nkv, new_tokens, hd}));
  FERRUM_TRY(check_numel(op, "new_v", new_v, {nkv, new_tokens, hd}));
  const int32_t* dyn_state = dyn_state_if(ctx);
  FERRUM_CHECK(dyn_state != nullptr || cache_len + new_tokens <= cache_capacity, ErrorCode::kOutOfRange, op,
               ": cache_len ", cache_len, " + new_tokens ", new_tokens, " exceeds capacity ", cache_capacity);
  cuda::KvAppendArgs args;
  args.cache_k = cache_k.data();
  args.cache_v = cache_v.data();
  args.cache_dtype = cache_k.dtype();
  args.new_k = new_k.data();
  args.new_v = new_v.data();
  args.new_dtype = new_k.dtype();
  args.cache_len = cache_len;
  args.capacity = cache_capacity;
  args.new_tokens = new_tokens;
  args.nkv = nkv;
  args.hd = hd;
  args.dyn_state = dyn_state;
  return cuda::launch_kv_append(args, ctx.stream());
}

Status CudaBackend::transpose_head_to_token(CudaContext& ctx, const CudaBuffer& src, CudaBuffer& dst, size_t tokens,
                                            size_t heads, size_t dim) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_activation_pair("transpose_head_to_token", src, dst, {tokens, heads, dim}));
  return cuda::launch_transpose_head_to_token(src.data(), dst.data(), elem_bytes(src), tokens, heads, dim,
                                              ctx.stream());
}

// ── Element-wise ──

Status CudaBackend::add_inplace(CudaContext& ctx, CudaBuffer& residual, const CudaBuffer& x, size_t len) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_activation_pair("add_inplace", x, residual, {len}));
  return cuda::launch_add_inplace(residual.data(), x.data(), x.dtype(), len, ctx.stream());
}

Status CudaBackend::add_bias(CudaContext& ctx, CudaBuffer& data, const CudaBuffer& bias, size_t rows, size_t cols) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_float("add_bias", "data", data));
  FERRUM_TRY(check_float("add_bias", "bias", bias));
  FERRUM_TRY(check_numel("add_bias", "data", data, {rows, cols}));
  FERRUM_TRY(check_numel("add_bias", "bias", bias, cols));
  return cuda::launch_add_bias(data.data(), data.dtype(), bias.data(), bias.dtype(), rows, cols, ctx.stream());
}

Status CudaBackend::gelu(CudaContext& ctx, const CudaBuffer& x, CudaBuffer& out, size_t len) {
  return activation(ctx, x, out, len, Activation::kGeluErf);
}

Status CudaBackend::activation(CudaContext& ctx, const CudaBuffer& x, CudaBuffer& out, size_t len, Activation act) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_activation_pair("activation", x, out, {len}));
  return cuda::launch_activation(x.data(), out.data(), x.dtype(), len, act, ctx.stream());
}

Status CudaBackend::scale(CudaContext& ctx, CudaBuffer& data, size_t len, float factor) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_float("scale", "data", data));
  FERRUM_TRY(check_numel("scale", "data", data, len));
  return cuda::launch_scale(data.data(), data.dtype(), len, factor, ctx.stream());
}

Status CudaBackend::softcap(CudaContext& ctx, CudaBuffer& data, size_t len, float cap) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_float("softcap", "data", data));
  FERRUM_TRY(check_numel("softcap", "data", data, len));
  FERRUM_CHECK(cap > 0.0f, ErrorCode::kInvalidArgument, "softcap: cap must be positive, got ", cap);
  return cuda::launch_softcap(data.data(), data.dtype(), len, cap, ctx.stream());
}

// ── Row reductions ──

Status CudaBackend::softmax_rows(CudaContext& ctx, const CudaBuffer& x, CudaBuffer& out, size_t rows, size_t cols) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_activation_pair("softmax_rows", x, out, {rows, cols}));
  return cuda::launch_softmax_rows(x.data(), out.data(), x.dtype(), rows, cols, ctx.stream());
}

Status CudaBackend::argmax_rows(CudaContext& ctx, const CudaBuffer& x, CudaBuffer& out, size_t rows, size_t cols) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_float("argmax_rows", "x", x));
  FERRUM_TRY(check_dtype("argmax_rows", "out", out, {DType::kI32}));
  FERRUM_TRY(check_positive("argmax_rows", "cols", cols));
  FERRUM_TRY(check_numel("argmax_rows", "x", x, {rows, cols}));
  FERRUM_TRY(check_numel("argmax_rows", "out", out, rows));
  void* scratch = nullptr;
  if (const size_t bytes = cuda::argmax_scratch_bytes(rows, cols); bytes > 0) {
    FERRUM_ASSIGN_OR_RETURN(scratch, ctx.scratch(ScratchSlot::kReducePartials, bytes));
  }
  return cuda::launch_argmax_rows(x.data(), x.dtype(), out.data_as<int32_t>(), rows, cols, scratch, ctx.stream());
}

Status CudaBackend::topk_rows(CudaContext& ctx, const CudaBuffer& x, CudaBuffer& values, CudaBuffer& ids, size_t rows,
                              size_t cols, size_t k) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_float("topk_rows", "x", x));
  FERRUM_TRY(check_dtype("topk_rows", "values", values, {DType::kF32}));
  FERRUM_TRY(check_dtype("topk_rows", "ids", ids, {DType::kI32}));
  FERRUM_CHECK(k <= cols, ErrorCode::kInvalidArgument, "topk_rows: k = ", k, " exceeds cols = ", cols);
  FERRUM_CHECK(k <= cuda::kTopkMaxK, ErrorCode::kUnsupported, "topk_rows: k = ", k, " exceeds the CUDA kernel's ",
               cuda::kTopkMaxK);
  FERRUM_TRY(check_numel("topk_rows", "x", x, {rows, cols}));
  FERRUM_TRY(check_numel("topk_rows", "values", values, {rows, k}));
  FERRUM_TRY(check_numel("topk_rows", "ids", ids, {rows, k}));
  void* scratch_a = nullptr;
  void* scratch_b = nullptr;
  if (const size_t bytes = cuda::topk_scratch_bytes(rows, cols, k); bytes > 0) {
    FERRUM_ASSIGN_OR_RETURN(scratch_a, ctx.scratch(ScratchSlot::kReducePartials, bytes));
    FERRUM_ASSIGN_OR_RETURN(scratch_b, ctx.scratch(ScratchSlot::kReducePartials2, bytes));
  }
  return cuda::launch_topk_rows(x.data(), x.dtype(), values.data_as<float>(), ids.data_as<int32_t>(), rows, cols, k,
                                scratch_a, scratch_b, ctx.stream());
}

Status CudaBackend::argmax_gathered(CudaContext& ctx, const CudaBuffer& values, const CudaBuffer& ids, CudaBuffer& out,
                                    size_t ranks, size_t rows, size_t cols) {
  constexpr std::string_view op = "argmax_gathered";
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_argmax_gathered(values, ids, out, ranks, rows, cols));
  FERRUM_CHECK(ranks * cols < (size_t{1} << 31), ErrorCode::kUnsupported, op, ": ", ranks * cols,
               " columns exceed 32-bit ids");
  return cuda::launch_argmax_gathered(values.data_as<float>(), ids.data_as<int32_t>(), out.data_as<int32_t>(), ranks,
                                      rows, cols, ctx.stream());
}

Status CudaBackend::sample_rows(CudaContext& ctx, const CudaBuffer& x, const CudaBuffer& params, CudaBuffer& ids,
                                size_t rows, size_t cols) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_sample_rows(x, params, ids, rows, cols));
  // Fixed-point masses (2^40 per token at most) must sum within 64 bits.
  FERRUM_CHECK(cols <= (size_t{1} << 23), ErrorCode::kUnsupported, "sample_rows: cols = ", cols,
               " exceeds the CUDA kernel's 8,388,608");
  return cuda::launch_sample_rows(x.data_as<float>(), reinterpret_cast<const RowSampling*>(params.data_as<float>()),
                                  ids.data_as<int32_t>(), rows, cols, ctx.stream());
}

Status CudaBackend::adjust_logits(CudaContext& ctx, CudaBuffer& x, const CudaBuffer& adjustments, size_t rows,
                                  size_t cols) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_adjust_logits(x, adjustments, rows, cols));
  const size_t capacity = adjustments.numel() / kLogitAdjustmentWords - 1;
  return cuda::launch_adjust_logits(x.data_as<float>(), adjustments.data_as<int32_t>(), capacity, rows, cols,
                                    ctx.stream());
}

Status CudaBackend::log_softmax_at(CudaContext& ctx, const CudaBuffer& x, const CudaBuffer& ids, CudaBuffer& out,
                                   size_t rows, size_t cols, size_t k) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_log_softmax_at(x, ids, out, rows, cols, k));
  if (rows * k == 0) return ok();
  FERRUM_ASSIGN_OR_RETURN(void* scratch,
                          ctx.scratch(ScratchSlot::kReducePartials, cuda::log_softmax_scratch_bytes(rows, cols)));
  return cuda::launch_log_softmax_at(x.data_as<float>(), ids.data_as<int32_t>(), out.data_as<float>(), rows, cols, k,
                                     scratch, ctx.stream());
}

}  // namespace ferrum
