// CudaBackend: dense and quantized GEMM.
//
// out[m, n] = a[m, k] @ w[n, k]^T. For m <= 8 (decode) our GEMV kernel reads the weight once at
// memory bandwidth and takes any mix of float dtypes. Above that cuBLASLt runs with f32
// accumulation and TF32 off (so f32 GEMMs reproduce f32 references). cuBLASLt wants both operands
// in one dtype: equal dtypes run as they are; otherwise both are widened to f32 (exact), so f32
// activations over bf16 weights keep f32 accuracy (the bf16-activation path never converts). An
// output dtype cuBLASLt cannot write (a half type from f32, f16 from bf16) goes through f32 scratch.
// GGUF weights take, by type and m (kernels/launch_settings.h): the fused dp4a GEMV
// (kernels/quant_gemv.h: Q4_0 / Q8_0 / Q4_K / Q5_K / Q6_K, decode sizes), which rounds x to int8 per 32 values;
// the tensor-core kernel (kernels/quant_mma.h: every GGUF type, batches), which rounds x and the
// weights to bf16; or, for larger m (prefill), a dense expansion of the weight into scratch (in the
// activation's dtype: exact for f32) and cuBLASLt. GPTQ (without act-order) and AWQ take the
// tensor-core kernel up to 128 rows, the dense expansion above.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <numeric>
#include <vector>

#include "backend/cuda/backend_checks.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/dequant.h"
#include "backend/cuda/kernels/elementwise.h"
#include "backend/cuda/kernels/gemv.h"
#include "backend/cuda/kernels/gptq_repack.h"
#include "backend/cuda/kernels/launch_settings.h"
#include "backend/cuda/kernels/quant_gemv.h"
#include "backend/cuda/kernels/quant_mma.h"
#include "core/half.h"
#include "quant/awq.h"
#include "quant/gptq.h"

namespace ferrum {
namespace cuda {
namespace {

cudaDataType_t cuda_type(DType dtype) {
  switch (dtype) {
    case DType::kF16: return CUDA_R_16F;
    case DType::kBF16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

#define FERRUM_LT_TRY(call)                                                                                        \
  do {                                                                                                             \
    const cublasStatus_t ferrum_lt_status_ = (call);                                                               \
    if (ferrum_lt_status_ != CUBLAS_STATUS_SUCCESS) {                                                              \
      return make_error(ErrorCode::kInternal, "cuBLASLt: ", #call, ": ", cublasLtGetStatusName(ferrum_lt_status_), \
                        " (m=", m, " n=", n, " k=", k, ")");                                                       \
    }                                                                                                              \
  } while (false)

// The heuristic's first pick for these descriptors within the workspace (NOT_SUPPORTED: none).
cublasStatus_t heuristic_pick(CudaContextState& state, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
                              cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
                              cublasLtMatmulHeuristicResult_t& result) {
  cublasLtMatmulPreference_t preference = nullptr;
  cublasStatus_t status = cublasLtMatmulPreferenceCreate(&preference);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  const size_t workspace = state.lt_workspace.capacity;
  cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                       sizeof workspace);
  if (!gemm_reduced_precision_reduction()) {
    // A split-k algorithm may add its partial sums in the output type (OUTPUT_TYPE, and INPLACE in
    // the output buffer): with bf16 out that rounds every partial to 8 bits. Only the compute type.
    const uint32_t schemes = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &schemes,
                                         sizeof schemes);
  }
  int found = 0;
  status = cublasLtMatmulAlgoGetHeuristic(state.lt, desc, a, b, c, c, preference, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(preference);
  return status == CUBLAS_STATUS_SUCCESS && found == 0 ? CUBLAS_STATUS_NOT_SUPPORTED : status;
}

// cuBLASLt's heuristic picks one of many kernel variants by m, and the first run of a variant costs
// 2 to 15 ms on an H100 (measured: a 16-row projection's first launch 15.7 ms, its second 0.06 ms).
// A server meets new token counts step after step, and each would stall its step. So the
// algorithm is chosen once per m bucket (backend_types.h's row_count_bucket; the heuristic run at
// its upper end), and every m of the bucket runs it where cuBLASLt accepts it
// (cublasLtMatmulAlgoCheck), else its own pick: a bounded set of variants, which the serving engine
// runs once at start (CausalLm::warm_up_batches). NOT_SUPPORTED: the bucket's algorithm does not
// fit this plan.
cublasStatus_t bucket_algo(CudaContextState& state, GemmPlan& plan, size_t m, size_t n, size_t k, DType in_dtype,
                           DType out_dtype) {
  const auto in = static_cast<int>(in_dtype), out = static_cast<int>(out_dtype);
  const GemmPlanKey key{row_count_bucket(m), n, k, in, in, out};
  auto found = state.gemm_algos.find(key);
  if (found == state.gemm_algos.end()) {
    const auto bucket = static_cast<uint64_t>(std::get<0>(key));
    cublasLtMatrixLayout_t b = nullptr, c = nullptr;
    cublasLtMatmulHeuristicResult_t result{};
    cublasStatus_t status = cublasLtMatrixLayoutCreate(&b, cuda_type(in_dtype), k, bucket, k);
    if (status == CUBLAS_STATUS_SUCCESS) status = cublasLtMatrixLayoutCreate(&c, cuda_type(out_dtype), n, bucket, n);
    if (status == CUBLAS_STATUS_SUCCESS) status = heuristic_pick(state, plan.desc, plan.a_layout, b, c, result);
    if (b != nullptr) cublasLtMatrixLayoutDestroy(b);
    if (c != nullptr) cublasLtMatrixLayoutDestroy(c);
    if (status != CUBLAS_STATUS_SUCCESS) return status;
    found = state.gemm_algos.emplace(key, result.algo).first;
  }
  cublasLtMatmulHeuristicResult_t check{};
  const cublasStatus_t status = cublasLtMatmulAlgoCheck(state.lt, plan.desc, plan.a_layout, plan.b_layout,
                                                        plan.c_layout, plan.c_layout, &found->second, &check);
  if (status != CUBLAS_STATUS_SUCCESS || check.workspaceSize > state.lt_workspace.capacity) {
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  plan.algo = found->second;
  plan.workspace_bytes = check.workspaceSize;
  return CUBLAS_STATUS_SUCCESS;
}

// The plan for one (shape, dtypes): descriptors built and an algorithm chosen once, reused after.
Expected<const GemmPlan*> gemm_plan(CudaContext& ctx, size_t m, size_t n, size_t k, DType in_dtype, DType out_dtype) {
  CudaContextState& state = ctx.state();
  const GemmPlanKey key{m, n, k, static_cast<int>(in_dtype), static_cast<int>(in_dtype), static_cast<int>(out_dtype)};
  if (auto found = state.gemm_plans.find(key); found != state.gemm_plans.end()) return &found->second;
  GemmPlan plan;
  // Column-major view: out^T [n, m] = w [n, k] (stored as k x n, transposed) times a^T [k, m].
  const cublasOperation_t transpose = CUBLAS_OP_T, no_transpose = CUBLAS_OP_N;
  cublasStatus_t status = cublasLtMatmulDescCreate(&plan.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof transpose);
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &no_transpose, sizeof no_transpose);
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatrixLayoutCreate(&plan.a_layout, cuda_type(in_dtype), k, n, k);
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatrixLayoutCreate(&plan.b_layout, cuda_type(in_dtype), k, m, k);
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatrixLayoutCreate(&plan.c_layout, cuda_type(out_dtype), n, m, n);
  }
  if (status == CUBLAS_STATUS_SUCCESS &&
      (!gemm_buckets_enabled() || bucket_algo(state, plan, m, n, k, in_dtype, out_dtype) != CUBLAS_STATUS_SUCCESS)) {
    // The bucket's algorithm does not fit this m (or buckets are off): the heuristic's own pick.
    cublasLtMatmulHeuristicResult_t result{};
    status = heuristic_pick(state, plan.desc, plan.a_layout, plan.b_layout, plan.c_layout, result);
    plan.algo = result.algo;
    plan.workspace_bytes = result.workspaceSize;
  }
  if (status != CUBLAS_STATUS_SUCCESS) {
    if (plan.desc != nullptr) cublasLtMatmulDescDestroy(plan.desc);
    if (plan.a_layout != nullptr) cublasLtMatrixLayoutDestroy(plan.a_layout);
    if (plan.b_layout != nullptr) cublasLtMatrixLayoutDestroy(plan.b_layout);
    if (plan.c_layout != nullptr) cublasLtMatrixLayoutDestroy(plan.c_layout);
    return make_error(ErrorCode::kUnsupported, "cuBLASLt has no algorithm for gemm m=", m, " n=", n, " k=", k, " ",
                      in_dtype, " -> ", out_dtype, ": ", cublasLtGetStatusName(status));
  }
  return &state.gemm_plans.emplace(key, plan).first->second;
}

Status run_cublaslt(CudaContext& ctx, const void* a, const void* w, DType in_dtype, void* out, DType out_dtype,
                    size_t m, size_t n, size_t k) {
  FERRUM_ASSIGN_OR_RETURN(const GemmPlan* plan, gemm_plan(ctx, m, n, k, in_dtype, out_dtype));
  const float alpha = 1.0f, beta = 0.0f;
  FERRUM_LT_TRY(cublasLtMatmul(ctx.state().lt, plan->desc, &alpha, w, plan->a_layout, a, plan->b_layout, &beta, out,
                               plan->c_layout, out, plan->c_layout, &plan->algo, ctx.state().lt_workspace.ptr,
                               plan->workspace_bytes, ctx.stream()));
  return ok();
}

}  // namespace

Status run_dense_gemm(CudaContext& ctx, const DenseGemm& g) {
  if (g.m == 0 || g.n == 0) return ok();
  if (g.k == 0) {
    FERRUM_CUDA_TRY(cudaMemsetAsync(g.out, 0, g.m * g.n * dtype_info(g.out_dtype).block_bytes, ctx.stream()));
    return ok();
  }
  if (g.m <= kGemvMaxRows) {
    GemvArgs args{g.a, g.a_dtype, g.w, g.w_dtype, g.out, g.out_dtype, g.m, g.n, g.k};
    return launch_gemv(args, ctx.stream());
  }
  const size_t m = g.m, n = g.n, k = g.k;
  const DType in_dtype = g.a_dtype == g.w_dtype ? g.w_dtype : DType::kF32;
  const void* a = g.a;
  const void* w = g.w;
  if (g.a_dtype != in_dtype) {
    FERRUM_ASSIGN_OR_RETURN(void* converted, ctx.scratch(ScratchSlot::kGemmInput, m * k * sizeof(float)));
    FERRUM_TRY(launch_convert(g.a, g.a_dtype, converted, in_dtype, m * k, ctx.stream()));
    a = converted;
  }
  if (g.w_dtype != in_dtype) {
    FERRUM_ASSIGN_OR_RETURN(void* widened, ctx.scratch(ScratchSlot::kGemmWeight, n * k * sizeof(float)));
    FERRUM_TRY(launch_convert(g.w, g.w_dtype, widened, in_dtype, n * k, ctx.stream()));
    w = widened;
  }
  if (g.out_dtype == in_dtype || g.out_dtype == DType::kF32) {
    return run_cublaslt(ctx, a, w, in_dtype, g.out, g.out_dtype, m, n, k);
  }
  FERRUM_ASSIGN_OR_RETURN(void* staged, ctx.scratch(ScratchSlot::kGemmOutput, m * n * sizeof(float)));
  FERRUM_TRY(run_cublaslt(ctx, a, w, in_dtype, staged, DType::kF32, m, n, k));
  return launch_convert(staged, DType::kF32, g.out, g.out_dtype, m * n, ctx.stream());
}

}  // namespace cuda

namespace {

Status check_gemm_operands(std::string_view op, const CudaBuffer& a, CudaBuffer& out, size_t m, size_t n, size_t k) {
  FERRUM_TRY(cuda::check_float(op, "a", a));
  FERRUM_TRY(cuda::check_float(op, "out", out));
  FERRUM_TRY(check_numel(op, "a", a, {m, k}));
  return check_numel(op, "out", out, {m, n});
}

// g_idx lives on the device; a group index past `groups` would read out of bounds, so the indices
// are checked on the host (a k-int copy: this generic path is not the fast GPTQ path, which is
// load_gptq + gemm_gptq, checked once at load). Inside a graph capture the copy is not allowed and
// the check is skipped.
Status check_group_indices(CudaContext& ctx, std::string_view op, const CudaBuffer& g_idx, size_t k, size_t groups) {
  if (ctx.state().capturing) return ok();
  std::vector<int32_t> host(k);
  FERRUM_CUDA_TRY(cudaMemcpy(host.data(), g_idx.data(), k * sizeof(int32_t), cudaMemcpyDeviceToHost), "(g_idx)");
  for (size_t kk = 0; kk < k; ++kk) {
    FERRUM_CHECK(host[kk] >= 0 && static_cast<size_t>(host[kk]) < groups, ErrorCode::kOutOfRange, op, ": g_idx[", kk,
                 "] = ", host[kk], " outside 0..", groups - 1);
  }
  return ok();
}

// Dense weight dtype for expanded quantized weights: f32 for f32 activations (exact), else the
// activation's half type, so cuBLASLt needs no further conversion.
DType expansion_dtype(DType activation) {
  return activation == DType::kF32 ? DType::kF32 : activation;
}

// A GEMM's activations: a buffer's, or scratch holding them rearranged (act-order GPTQ).
struct GemmX {
  const void* data;
  DType dtype;
};

GemmX x_of(const CudaBuffer& a) {
  return {a.data(), a.dtype()};
}

// The arguments of the quantized kernels for out[m, n] = x @ W^T, with `scratch_bytes(sm_count)` of
// split-k scratch (none when it is 0).
template <class ScratchBytes>
Expected<cuda::QuantMmaArgs> quant_kernel_args(CudaContext& ctx, GemmX x, CudaBuffer& out, size_t m, size_t n, size_t k,
                                               ScratchBytes scratch_bytes) {
  cuda::QuantMmaArgs args;
  args.x = x.data;
  args.x_dtype = x.dtype;
  args.out = out.data();
  args.out_dtype = out.dtype();
  args.m = m;
  args.n = n;
  args.k = k;
  args.num_sms = ctx.state().sm_count;
  args.compute_capability = ctx.state().compute_capability;
  if (const size_t bytes = scratch_bytes(args.num_sms); bytes > 0) {
    FERRUM_ASSIGN_OR_RETURN(args.scratch, ctx.scratch(ScratchSlot::kQuantPartials, bytes));
  }
  return args;
}

Expected<cuda::QuantMmaArgs> quant_mma_args(CudaContext& ctx, GemmX x, CudaBuffer& out, size_t m, size_t n, size_t k) {
  return quant_kernel_args(ctx, x, out, m, n, k,
                           [&](int sm_count) { return cuda::quant_mma_scratch_bytes(m, n, k, sm_count); });
}

static_assert(CudaContextState::kGemvCounters >= cuda::kPackedGemvCounters, "the packed GEMV's split counters");

// GPTQ / AWQ: their GEMV at one row, the tensor-core kernel up to packed_mma_max_rows(), else the
// weight expanded into dense scratch in the activation's dtype, then multiplied. `rounded`, when not
// null, holds x's rounding (CudaRoundedRows::holds checked), which the 4-bit GPTQ GEMV reads.
Status run_packed_int_gemm(CudaContext& ctx, GemmX x, CudaBuffer& out, size_t m, const cuda::PackedIntWeight& packed,
                           bool awq, const CudaRoundedRows* rounded = nullptr) {
  if (m == 1 && cuda::packed_gemv_enabled() && cuda::packed_gemv_supports(packed, awq, x.dtype, x.data)) {
    const void* x_rounded = rounded != nullptr ? rounded->bytes.data() : nullptr;
    FERRUM_ASSIGN_OR_RETURN(cuda::QuantMmaArgs args,
                            quant_kernel_args(ctx, x, out, m, packed.n, packed.k, [&](int sm_count) {
                              return cuda::packed_gemv_scratch_bytes(packed, awq, sm_count, x_rounded != nullptr);
                            }));
    args.x_rounded = x_rounded;
    return cuda::launch_packed_gemv(args, packed, awq, ctx.stream(), ctx.gemv_counters());
  }
  if (m <= cuda::packed_mma_max_rows() && cuda::quant_mma_supports_packed(packed, awq, x.dtype, x.data, m)) {
    FERRUM_ASSIGN_OR_RETURN(const cuda::QuantMmaArgs args, quant_mma_args(ctx, x, out, m, packed.n, packed.k));
    return cuda::launch_quant_mma_packed(args, packed, awq, ctx.stream());
  }
  const DType dense_dtype = expansion_dtype(x.dtype);
  FERRUM_ASSIGN_OR_RETURN(
      size_t dense_bytes,
      checked_product("gemm (packed int)", {packed.n, packed.k, dtype_info(dense_dtype).block_bytes}));
  FERRUM_ASSIGN_OR_RETURN(void* dense, ctx.scratch(ScratchSlot::kDequantWeight, dense_bytes));
  if (awq) {
    FERRUM_TRY(cuda::launch_awq_dequantize(packed, dense, dense_dtype, ctx.stream()));
  } else {
    FERRUM_TRY(cuda::launch_gptq_dequantize(packed, dense, dense_dtype, ctx.stream()));
  }
  return cuda::run_dense_gemm(ctx,
                              {x.data, x.dtype, dense, dense_dtype, out.data(), out.dtype(), m, packed.n, packed.k});
}

}  // namespace

Status CudaBackend::gemm(CudaContext& ctx, const CudaBuffer& a, const CudaBuffer& b, CudaBuffer& out, size_t m,
                         size_t n, size_t k) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_gemm_operands("gemm", a, out, m, n, k));
  FERRUM_TRY(cuda::check_float("gemm", "b", b));
  FERRUM_TRY(check_numel("gemm", "b", b, {n, k}));
  return cuda::run_dense_gemm(ctx, {a.data(), a.dtype(), b.data(), b.dtype(), out.data(), out.dtype(), m, n, k});
}

Status CudaBackend::gemm_batched(CudaContext& ctx, const CudaBuffer& a, const CudaBuffer& b, CudaBuffer& out,
                                 size_t batch, size_t m, size_t n, size_t k) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "gemm_batched";
  FERRUM_TRY(cuda::check_float(op, "a", a));
  FERRUM_TRY(cuda::check_float(op, "b", b));
  FERRUM_TRY(cuda::check_float(op, "out", out));
  FERRUM_TRY(check_numel(op, "a", a, {batch, m, k}));
  FERRUM_TRY(check_numel(op, "b", b, {batch, n, k}));
  FERRUM_TRY(check_numel(op, "out", out, {batch, m, n}));
  // The per-head matrices are small (MLA's absorbed projections): one GEMM per problem on the
  // stream; each takes the GEMV path for decode.
  for (size_t i = 0; i < batch; ++i) {
    FERRUM_TRY(cuda::run_dense_gemm(ctx, {cuda::element_ptr(a, i * m * k), a.dtype(), cuda::element_ptr(b, i * n * k),
                                          b.dtype(), cuda::element_ptr(out, i * m * n), out.dtype(), m, n, k}));
  }
  return ok();
}

Status CudaBackend::gemm_quant(CudaContext& ctx, const CudaBuffer& a, const QuantWeights<CudaBuffer>& weights,
                               CudaBuffer& out, size_t m, size_t n, size_t k, const QuantKind& kind) {
  return gemm_quant_impl(ctx, a, nullptr, weights, out, m, n, k, kind);
}

Status CudaBackend::gemm_quant_rounded(CudaContext& ctx, const CudaBuffer& a, const CudaRoundedRows& rounded,
                                       const QuantWeights<CudaBuffer>& weights, CudaBuffer& out, size_t m, size_t n,
                                       size_t k, const QuantKind& kind) {
  return gemm_quant_impl(ctx, a, rounded.holds(a, m, k) ? &rounded : nullptr, weights, out, m, n, k, kind);
}

bool CudaBackend::gemm_quant_parts_supported(std::span<const GgufPart<CudaBuffer>> parts, size_t m) {
  return cuda::quant_parts_enabled() && !parts.empty() &&
         std::all_of(parts.begin(), parts.end(), [m](const GgufPart<CudaBuffer>& part) {
           const DType type = gguf_quant_dtype(part.type);
           return part.blocks != nullptr && m <= cuda::quant_gemv_max_rows(type) &&
                  cuda::quant_gemv_supports(type, m, part.blocks->data());
         });
}

Status CudaBackend::gemm_quant_parts(CudaContext& ctx, const CudaBuffer& a, const CudaRoundedRows* rounded,
                                     std::span<const GgufPart<CudaBuffer>> parts, CudaBuffer& out, size_t m, size_t k) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "gemm_quant_parts";
  FERRUM_CHECK(gemm_quant_parts_supported(parts, m), ErrorCode::kUnsupported, op, ": the fused GEMV takes not every ",
               "one of the ", parts.size(), " parts at ", m, " rows (run them one by one)");
  size_t width = 0;
  for (const GgufPart<CudaBuffer>& part : parts) {
    const DType type = gguf_quant_dtype(part.type);
    FERRUM_CHECK(part.blocks->dtype() == type, ErrorCode::kInvalidArgument, op, ": a part has dtype ",
                 part.blocks->dtype(), " but its type says ", type);
    FERRUM_CHECK(k % dtype_info(type).block_elems == 0, ErrorCode::kShapeMismatch, op, ": k = ", k,
                 " is not a whole number of ", type, " blocks");
    FERRUM_TRY(check_numel(op, "part", *part.blocks, {part.n, k}));
    width += part.n;
  }
  FERRUM_TRY(check_gemm_operands(op, a, out, m, width, k));
  if (m == 0 || width == 0 || k == 0) return ok();
  // Read only once rounded: the first part rounds a into scratch when `rounded` does not hold it.
  void* x_int8 = rounded != nullptr && rounded->holds(a, m, k) ? const_cast<void*>(rounded->bytes.data()) : nullptr;
  size_t column = 0;
  for (const GgufPart<CudaBuffer>& part : parts) {
    if (part.n == 0) continue;
    cuda::QuantGemvArgs args{a.data(),
                             a.dtype(),
                             part.blocks->data(),
                             gguf_quant_dtype(part.type),
                             cuda::element_ptr(out, column),
                             out.dtype(),
                             m,
                             part.n,
                             k};
    args.out_stride = width;
    args.x_rounded = x_int8 != nullptr;
    args.sm_count = ctx.state().sm_count;
    if (x_int8 == nullptr) {
      FERRUM_ASSIGN_OR_RETURN(x_int8, ctx.scratch(ScratchSlot::kQuantActivation, cuda::quant_gemv_scratch_bytes(m, k)));
    }
    args.scratch = x_int8;
    FERRUM_TRY(cuda::launch_quant_gemv(args, ctx.stream()));
    column += part.n;
  }
  return ok();
}

Status CudaBackend::gemm_quant_impl(CudaContext& ctx, const CudaBuffer& a, const CudaRoundedRows* rounded,
                                    const QuantWeights<CudaBuffer>& weights, CudaBuffer& out, size_t m, size_t n,
                                    size_t k, const QuantKind& kind) {
  FERRUM_TRY(ctx.usable());
  const std::string op = "gemm_quant(" + quant_kind_name(kind) + ")";
  FERRUM_TRY(check_gemm_operands(op, a, out, m, n, k));
  FERRUM_CHECK(weights.qweight != nullptr, ErrorCode::kInvalidArgument, op, ": qweight is missing");
  if (const auto* gguf = std::get_if<GgufQuant>(&kind)) {
    const DType type = gguf_quant_dtype(gguf->quant_type);
    FERRUM_CHECK(weights.qweight->dtype() == type, ErrorCode::kInvalidArgument, op, ": qweight has dtype ",
                 weights.qweight->dtype(), " but the kind says ", type);
    FERRUM_CHECK(k % dtype_info(type).block_elems == 0, ErrorCode::kShapeMismatch, op, ": k = ", k,
                 " is not a whole number of ", type, " blocks");
    FERRUM_TRY(check_numel(op, "qweight", *weights.qweight, {n, k}));
    const bool fragments = cuda::quant_mma_fragments_apply(type, a.dtype(), weights.qweight->data(), k);
    if (k > 0 && n > 0 && m <= cuda::quant_gemv_max_rows(type, fragments) &&
        cuda::quant_gemv_supports(type, m, weights.qweight->data())) {
      cuda::QuantGemvArgs args{a.data(), a.dtype(), weights.qweight->data(), type, out.data(), out.dtype(), m, n, k};
      args.sm_count = ctx.state().sm_count;
      if (rounded != nullptr) {
        // Read only: the kernel skips the rounding that would write it.
        args.scratch = const_cast<void*>(rounded->bytes.data());
        args.x_rounded = true;
      } else {
        FERRUM_ASSIGN_OR_RETURN(args.scratch,
                                ctx.scratch(ScratchSlot::kQuantActivation, cuda::quant_gemv_scratch_bytes(m, k)));
      }
      return cuda::launch_quant_gemv(args, ctx.stream());
    }
    if (k > 0 && n > 0 && m <= cuda::quant_mma_max_rows(type, fragments) &&
        cuda::quant_mma_supports(type, a.dtype(), a.data(), m, n, k)) {
      FERRUM_ASSIGN_OR_RETURN(cuda::QuantMmaArgs args, quant_mma_args(ctx, x_of(a), out, m, n, k));
      args.w = weights.qweight->data();
      args.w_dtype = type;
      return cuda::launch_quant_mma(args, ctx.stream());
    }
    const DType dense_dtype = expansion_dtype(a.dtype());
    FERRUM_ASSIGN_OR_RETURN(size_t dense_bytes, checked_product(op, {n, k, dtype_info(dense_dtype).block_bytes}));
    FERRUM_ASSIGN_OR_RETURN(void* dense, ctx.scratch(ScratchSlot::kDequantWeight, dense_bytes));
    FERRUM_TRY(cuda::launch_gguf_dequantize(weights.qweight->data(), type, n, k, dense, dense_dtype, ctx.stream()));
    return cuda::run_dense_gemm(ctx, {a.data(), a.dtype(), dense, dense_dtype, out.data(), out.dtype(), m, n, k});
  }
  FERRUM_CHECK(weights.scales != nullptr && weights.zeros != nullptr, ErrorCode::kInvalidArgument, op,
               ": scales and zeros are required");
  cuda::PackedIntWeight packed;
  packed.qweight = weights.qweight->data_as<int32_t>();
  packed.scales = weights.scales->data();
  packed.scales_dtype = weights.scales->dtype();
  packed.zeros = weights.zeros->data_as<int32_t>();
  packed.k = k;
  packed.n = n;
  FERRUM_TRY(check_dtype(op, "qweight", *weights.qweight, {DType::kI32}));
  FERRUM_TRY(check_dtype(op, "zeros", *weights.zeros, {DType::kI32}));
  FERRUM_TRY(cuda::check_float(op, "scales", *weights.scales));
  const bool is_gptq = std::holds_alternative<GptqQuant>(kind);
  packed.bits = is_gptq ? std::get<GptqQuant>(kind).bits : std::get<AwqQuant>(kind).bits;
  const size_t group_size = is_gptq ? std::get<GptqQuant>(kind).group_size : std::get<AwqQuant>(kind).group_size;
  packed.group_size = group_size == 0 ? k : group_size;
  // A k that is not a multiple of the group size leaves a short last group.
  const size_t groups = k == 0 ? 0 : (k + packed.group_size - 1) / packed.group_size;
  FERRUM_TRY(check_numel(op, "scales", *weights.scales, {groups, n}));
  if (is_gptq) {
    FERRUM_CHECK(packed.bits == 2 || packed.bits == 4 || packed.bits == 8, ErrorCode::kUnsupported, op, ": ",
                 packed.bits, "-bit GPTQ (the CUDA backend takes 2, 4 and 8)");
    const size_t per_word = 32 / packed.bits;
    FERRUM_CHECK(k % per_word == 0 && n % per_word == 0, ErrorCode::kShapeMismatch, op, ": k = ", k, " and n = ", n,
                 " must be multiples of ", per_word);
    FERRUM_TRY(check_numel(op, "qweight", *weights.qweight, {k / per_word, n}));
    FERRUM_TRY(check_numel(op, "zeros", *weights.zeros, {groups, n / per_word}));
    FERRUM_CHECK(!std::get<GptqQuant>(kind).desc_act || weights.g_idx != nullptr, ErrorCode::kInvalidArgument, op,
                 ": desc_act needs g_idx");
    if (weights.g_idx != nullptr) {
      FERRUM_TRY(check_dtype(op, "g_idx", *weights.g_idx, {DType::kI32}));
      FERRUM_TRY(check_numel(op, "g_idx", *weights.g_idx, k));
      FERRUM_TRY(check_group_indices(ctx, op, *weights.g_idx, k, groups));
      packed.g_idx = weights.g_idx->data_as<int32_t>();
    }
    return run_packed_int_gemm(ctx, x_of(a), out, m, packed, /*awq=*/false);
  }
  FERRUM_CHECK(packed.bits == 4, ErrorCode::kUnsupported, op, ": AWQ is 4-bit only");
  FERRUM_CHECK(n % 8 == 0, ErrorCode::kShapeMismatch, op, ": n = ", n, " must be a multiple of 8");
  FERRUM_TRY(check_numel(op, "qweight", *weights.qweight, {k, n / 8}));
  FERRUM_TRY(check_numel(op, "zeros", *weights.zeros, {groups, n / 8}));
  return run_packed_int_gemm(ctx, x_of(a), out, m, packed, /*awq=*/true);
}

namespace {

// The first `count` of `values` as a device i32 buffer.
Expected<CudaBuffer> upload_ints(std::span<const int32_t> values, size_t count) {
  return CudaBackend::from_bytes(std::span(reinterpret_cast<const uint8_t*>(values.data()), count * sizeof(int32_t)),
                                 DType::kI32, count);
}

}  // namespace

namespace {

// The narrowest float type that holds every scale exactly: checkpoints store f16 (or bf16) scales,
// which reach load_gptq / load_awq as floats; kept in f32 they were 6% more bytes than the 4-bit
// words they scale.
DType scales_dtype(std::span<const float> scales) {
  const auto exact = [&](auto round_trip) {
    return std::ranges::all_of(scales, [&](float value) { return round_trip(value) == value || value != value; });
  };
  if (exact([](float value) { return to_float(to_f16(value)); })) return DType::kF16;
  if (exact([](float value) { return to_float(to_bf16(value)); })) return DType::kBF16;
  return DType::kF32;
}

// Tiles the store's words (GptqWordLayout) where n is whole tiles: the decode GEMV then streams them.
Status tile_words(CudaGptqStore& store) {
  if (!cuda::gptq_tiled_enabled() || store.n % cuda::kGptqTileColumns != 0) return ok();
  const size_t rows = store.k * store.bits / 32;
  FERRUM_ASSIGN_OR_RETURN(CudaBuffer tiled, CudaBuffer::allocate(DType::kI32, rows * store.n, false));
  FERRUM_TRY(
      cuda::launch_gptq_tile_words(store.qweight.data_as<int32_t>(), tiled.data_as<int32_t>(), rows, store.n, nullptr));
  FERRUM_CUDA_TRY(cudaStreamSynchronize(nullptr), "(tiling GPTQ words)");
  store.qweight = std::move(tiled);
  store.tiled = true;
  return ok();
}

}  // namespace

Expected<CudaGptqStore> CudaBackend::load_gptq(std::span<const int32_t> qweight, std::span<const float> scales,
                                               std::span<const int32_t> qzeros,
                                               std::optional<std::span<const int32_t>> g_idx, uint32_t bits,
                                               size_t group_size, size_t k, size_t n) {
  constexpr std::string_view op = "load_gptq";
  FERRUM_CHECK(bits == 2 || bits == 4 || bits == 8, ErrorCode::kUnsupported, op, ": ", bits,
               "-bit GPTQ (2, 4 and 8 are supported)");
  const size_t per_word = 32 / bits;
  const size_t group = group_size == 0 ? k : group_size;
  FERRUM_CHECK(k > 0 && n > 0 && k % per_word == 0 && n % per_word == 0, ErrorCode::kShapeMismatch, op, ": k = ", k,
               ", n = ", n, " must be multiples of ", per_word);
  const size_t groups = (k + group - 1) / group;  // a short last group when group does not divide k
  FERRUM_CHECK(qweight.size() >= k / per_word * n, ErrorCode::kShapeMismatch, op, ": qweight has ", qweight.size(),
               " words, needs ", k / per_word * n);
  FERRUM_CHECK(scales.size() >= groups * n, ErrorCode::kShapeMismatch, op, ": scales has ", scales.size(),
               " values, needs ", groups * n);
  FERRUM_CHECK(qzeros.size() >= groups * n / per_word, ErrorCode::kShapeMismatch, op, ": qzeros has ", qzeros.size(),
               " words, needs ", groups * n / per_word);
  if (g_idx) {
    FERRUM_CHECK(g_idx->size() >= k, ErrorCode::kShapeMismatch, op, ": g_idx has ", g_idx->size(), " entries, needs ",
                 k);
    for (size_t kk = 0; kk < k; ++kk) {
      FERRUM_CHECK((*g_idx)[kk] >= 0 && static_cast<size_t>((*g_idx)[kk]) < groups, ErrorCode::kOutOfRange, op,
                   ": g_idx[", kk, "] = ", (*g_idx)[kk], " outside 0..", groups - 1);
    }
  }
  // AutoGPTQ writes g_idx even without act-order; one that names each row's own group (kk / group)
  // changes nothing, and leaving it out lets the tensor-core kernel take the weight.
  if (g_idx && quant::gptq_g_idx_is_natural(g_idx->first(k), group)) g_idx.reset();
  CudaGptqStore store;
  FERRUM_ASSIGN_OR_RETURN(store.qweight, upload_ints(qweight, k / per_word * n));
  if (g_idx) {
    // Act-order whose groups hold as many channels as a plain layout's: the rows are sorted by group
    // (stably) once here, so every kernel sees a plain weight and x is gathered to match per call.
    std::vector<size_t> members(groups, 0);
    for (size_t kk = 0; kk < k; ++kk) ++members[static_cast<size_t>((*g_idx)[kk])];
    bool even = true;
    for (size_t g = 0; g < groups; ++g) even = even && members[g] == std::min(group, k - g * group);
    if (even) {
      std::vector<int32_t> order(k);
      std::iota(order.begin(), order.end(), 0);
      std::ranges::stable_sort(order, {}, [&](int32_t channel) { return (*g_idx)[static_cast<size_t>(channel)]; });
      FERRUM_ASSIGN_OR_RETURN(store.order, upload_ints(order, k));
      FERRUM_ASSIGN_OR_RETURN(CudaBuffer sorted, CudaBuffer::allocate(DType::kI32, k / per_word * n, false));
      FERRUM_TRY(cuda::launch_gptq_sort_rows(store.qweight.data_as<int32_t>(), store.order.data_as<int32_t>(),
                                             sorted.data_as<int32_t>(), bits, k, n, nullptr));
      FERRUM_CUDA_TRY(cudaStreamSynchronize(nullptr), "(load_gptq: sorting act-order rows)");
      store.qweight = std::move(sorted);
      g_idx.reset();
    }
  }
  FERRUM_ASSIGN_OR_RETURN(store.qzeros, upload_ints(qzeros, groups * n / per_word));
  FERRUM_ASSIGN_OR_RETURN(store.scales, from_slice(scales.first(groups * n), scales_dtype(scales.first(groups * n))));
  if (g_idx) {
    FERRUM_ASSIGN_OR_RETURN(store.g_idx, upload_ints(*g_idx, k));
  }
  store.bits = bits;
  store.group_size = group;
  store.k = k;
  store.n = n;
  if (store.g_idx.numel() == 0) FERRUM_TRY(tile_words(store));
  return store;
}

Expected<CudaGptqStore> CudaBackend::load_awq(std::span<const int32_t> qweight, std::span<const float> scales,
                                              std::span<const int32_t> qzeros, size_t group_size, size_t k, size_t n) {
  constexpr std::string_view op = "load_awq";
  const size_t group = group_size == 0 ? k : group_size;
  FERRUM_CHECK(k > 0 && n > 0 && k % 8 == 0 && n % 8 == 0, ErrorCode::kShapeMismatch, op, ": k = ", k, ", n = ", n,
               " must be multiples of 8");
  const size_t groups = (k + group - 1) / group;  // a short last group when group does not divide k
  FERRUM_CHECK(qweight.size() >= k * n / 8 && scales.size() >= groups * n && qzeros.size() >= groups * n / 8,
               ErrorCode::kShapeMismatch, op, ": qweight, scales or qzeros too small for [", n, ", ", k, "]");
  // Zero points: AWQ's interleaved nibbles, as they are -> GPTQ's nibble per column, minus one.
  std::array<uint32_t, 8> awq_shift{};  // of column 8c + p's nibble in its word
  for (uint32_t nibble = 0; nibble < 8; ++nibble) awq_shift[quant::kAwqNibbleColumn[nibble]] = 4 * nibble;
  std::vector<int32_t> gptq_zeros(groups * n / 8, 0);
  for (size_t g = 0; g < groups; ++g) {
    for (size_t column = 0; column < n; ++column) {
      const size_t position = column % 8;
      const uint32_t zero = (static_cast<uint32_t>(qzeros[g * n / 8 + column / 8]) >> awq_shift[position]) & 0xFu;
      FERRUM_CHECK(zero != 0, ErrorCode::kUnsupported, op, ": group ", g, " of column ", column,
                   " has zero point 0, which the GPTQ layout (zero - 1 stored) cannot hold");
      int32_t& word = gptq_zeros[g * n / 8 + column / 8];
      word = static_cast<int32_t>(static_cast<uint32_t>(word) | ((zero - 1) << (4 * position)));
    }
  }
  FERRUM_ASSIGN_OR_RETURN(CudaBuffer awq_words, upload_ints(qweight, k * n / 8));
  CudaGptqStore store;
  FERRUM_ASSIGN_OR_RETURN(store.qweight, CudaBuffer::allocate(DType::kI32, k / 8 * n, false));
  FERRUM_TRY(cuda::launch_awq_to_gptq(awq_words.data_as<int32_t>(), store.qweight.data_as<int32_t>(), k, n, nullptr));
  FERRUM_CUDA_TRY(cudaStreamSynchronize(nullptr), "(load_awq: repacking)");
  FERRUM_ASSIGN_OR_RETURN(store.qzeros, upload_ints(gptq_zeros, gptq_zeros.size()));
  FERRUM_ASSIGN_OR_RETURN(store.scales, from_slice(scales.first(groups * n), scales_dtype(scales.first(groups * n))));
  store.bits = 4;
  store.group_size = group;
  store.k = k;
  store.n = n;
  FERRUM_TRY(tile_words(store));
  return store;
}

namespace {

Status run_gptq(CudaContext& ctx, const CudaBuffer& a, const CudaRoundedRows* rounded, const CudaGptqStore& weight,
                CudaBuffer& out, size_t m) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_gemm_operands("gemm_gptq", a, out, m, weight.n, weight.k));
  GemmX x = x_of(a);
  if (weight.order.numel() > 0) {
    // Rows sorted by group at load: x's columns follow them (a rounding made ahead does not).
    const size_t bytes = m * weight.k * dtype_info(a.dtype()).block_bytes;
    FERRUM_ASSIGN_OR_RETURN(void* gathered, ctx.scratch(ScratchSlot::kActOrderX, bytes));
    FERRUM_TRY(cuda::launch_gather_columns(a.data(), a.dtype(), weight.order.data_as<int32_t>(), gathered, m, weight.k,
                                           ctx.stream()));
    x = {gathered, a.dtype()};
    rounded = nullptr;
  }
  cuda::PackedIntWeight packed;
  packed.qweight = weight.qweight.data_as<int32_t>();
  packed.scales = weight.scales.data();
  packed.scales_dtype = weight.scales.dtype();
  packed.zeros = weight.qzeros.data_as<int32_t>();
  packed.g_idx = weight.g_idx.numel() > 0 ? weight.g_idx.data_as<int32_t>() : nullptr;
  packed.bits = weight.bits;
  packed.group_size = weight.group_size;
  packed.k = weight.k;
  packed.n = weight.n;
  packed.tiled = weight.tiled;
  return run_packed_int_gemm(ctx, x, out, m, packed, /*awq=*/false, rounded);
}

}  // namespace

Status CudaBackend::gemm_gptq(CudaContext& ctx, const CudaBuffer& a, const CudaGptqStore& weight, CudaBuffer& out,
                              size_t m) {
  return run_gptq(ctx, a, nullptr, weight, out, m);
}

Status CudaBackend::gemm_gptq_rounded(CudaContext& ctx, const CudaBuffer& a, const CudaRoundedRows& rounded,
                                      const CudaGptqStore& weight, CudaBuffer& out, size_t m) {
  return run_gptq(ctx, a, rounded.holds(a, m, weight.k) ? &rounded : nullptr, weight, out, m);
}

}  // namespace ferrum
