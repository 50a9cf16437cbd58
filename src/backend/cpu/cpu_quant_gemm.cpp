// Quantized GEMM: weights are decoded tile by tile (k_step deep, one column block per task) into
// f32 scratch and multiplied by the dense kernels, so no full dequantized copy is ever made.
// GPTQ weights that are used many times should go through load_gptq / gemm_gptq instead, which
// decode once at load.
#include <algorithm>
#include <variant>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_gemm_kernels.h"
#include "backend/cpu/cpu_grouped_quant.h"
#include "backend/op_checks.h"
#include "quant/dequantize.h"

namespace ferrum {
namespace {

// Depth of a decoded tile: a multiple of every GGUF block (32, 256) and GPTQ word (4, 8, 16 codes).
constexpr size_t kDecodeDepth = 512;

// c[m, n] = a[m, k] x W^T where decode(j0, rows, p0, depth, dst) writes W[j0.., p0..] row-major.
template <class Decode>
void gemm_decoded(ThreadPool& pool, const float* a, float* c, size_t m, size_t n, size_t k, const Decode& decode) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum
    std::fill_n(c, m * n, 0.0f);
    return;
  }
  const cpu::GemmPlan plan = cpu::plan_gemm(m, n, pool.size());
  pool.parallel_for(plan.tasks(), 1, [&](size_t begin, size_t end) {
    float* tile = cpu::thread_scratch(cpu::Scratch::kDecodedWeights, plan.column_block * kDecodeDepth);
    for (size_t task = begin; task < end; ++task) {
      const size_t col = (task / plan.row_tasks) * plan.column_block;
      const size_t row = (task % plan.row_tasks) * plan.row_block;
      const size_t cols = std::min(plan.column_block, n - col);
      const size_t rows = std::min(plan.row_block, m - row);
      for (size_t p = 0; p < k; p += kDecodeDepth) {
        const size_t depth = std::min(kDecodeDepth, k - p);
        decode(col, cols, p, depth, tile);
        cpu::gemm_block(a + row * k + p, k, tile, depth, c + row * n + col, n, rows, cols, depth, p > 0);
      }
    }
  });
}

Status check_activations(std::string_view op, const CpuBuffer& a, const CpuBuffer& out, size_t m, size_t n, size_t k) {
  FERRUM_TRY(check_dtype(op, "a", a, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "a", a, {m, k}));
  return check_numel(op, "out", out, {m, n});
}

Status gemm_gguf(CpuContext& ctx, const CpuBuffer& a, const QuantWeights<CpuBuffer>& weights, CpuBuffer& out, size_t m,
                 size_t n, size_t k, const GgufQuant& quant) {
  const DType type = gguf_quant_dtype(quant.quant_type);
  const CpuBuffer& qweight = *weights.qweight;
  FERRUM_CHECK(qweight.dtype() == type, ErrorCode::kInvalidArgument, "gemm_quant: kind is gguf ", type,
               " but qweight holds ", qweight.dtype());
  FERRUM_CHECK(can_dequantize(type), ErrorCode::kUnsupported, "gemm_quant: gguf ", type,
               " cannot be dequantized in this build");
  const size_t block = dtype_info(type).block_elems;
  FERRUM_CHECK(k % block == 0, ErrorCode::kShapeMismatch, "gemm_quant: k=", k, " is not a whole number of ", type,
               " blocks of ", block);
  FERRUM_TRY(check_numel("gemm_quant", "qweight", qweight, {n, k}));
  const auto* base = static_cast<const uint8_t*>(qweight.data());
  const size_t row_bytes = row_bytes_unchecked(type, k);
  gemm_decoded(*ctx.pool, a.data_as<float>(), out.data_as<float>(), m, n, k,
               [&](size_t j0, size_t rows, size_t p0, size_t depth, float* dst) {
                 for (size_t j = 0; j < rows; ++j) {
                   const uint8_t* row = base + (j0 + j) * row_bytes + row_bytes_unchecked(type, p0);
                   dequantize_row(type, row, dst + j * depth, depth);
                 }
               });
  return ok();
}

// Fills the sizes and pointers of a GPTQ / AWQ weight from gemm_quant's buffers, checking each.
Expected<cpu::GroupedQuantWeight> grouped_weight_from_buffers(const QuantWeights<CpuBuffer>& weights,
                                                              cpu::PackedLayout layout, uint32_t bits,
                                                              size_t group_size, size_t n, size_t k) {
  constexpr std::string_view op = "gemm_quant";
  FERRUM_CHECK(weights.scales != nullptr && weights.zeros != nullptr, ErrorCode::kInvalidArgument, op,
               ": gptq / awq weights need scales and zeros");
  cpu::GroupedQuantWeight w;
  w.layout = layout;
  w.bits = bits;
  w.k = k;
  w.n = n;
  w.group_size = group_size;
  w.scale_dtype = weights.scales->dtype();
  FERRUM_TRY(check_dtype(op, "qweight", *weights.qweight, {DType::kI32}));
  FERRUM_TRY(check_dtype(op, "zeros", *weights.zeros, {DType::kI32}));
  FERRUM_TRY(check_dtype(op, "scales", *weights.scales, {DType::kF32, DType::kF16, DType::kBF16}));
  if (weights.g_idx != nullptr) FERRUM_TRY(check_dtype(op, "g_idx", *weights.g_idx, {DType::kI32}));
  // Sizes only once the packing factor is known to be valid (validate checks bits first).
  FERRUM_TRY(cpu::validate_grouped_quant(op, w));
  FERRUM_TRY(check_numel(op, "qweight", *weights.qweight, {k, n / w.codes_per_word()}));
  FERRUM_TRY(check_numel(op, "zeros", *weights.zeros, {w.groups(), n / w.codes_per_word()}));
  FERRUM_TRY(check_numel(op, "scales", *weights.scales, {w.groups(), n}));
  if (weights.g_idx != nullptr) {
    FERRUM_TRY(check_numel(op, "g_idx", *weights.g_idx, k));
    w.g_idx = weights.g_idx->data_as<int32_t>();
    FERRUM_TRY(cpu::validate_grouped_quant(op, w));  // now g_idx entries too
  }
  w.qweight = weights.qweight->data_as<int32_t>();
  w.qzeros = weights.zeros->data_as<int32_t>();
  w.scales = weights.scales->data();
  return w;
}

}  // namespace

Status CpuBackend::gemm_quant(CpuContext& ctx, const CpuBuffer& a, const QuantWeights<CpuBuffer>& weights,
                              CpuBuffer& out, size_t m, size_t n, size_t k, const QuantKind& kind) {
  FERRUM_CHECK(weights.qweight != nullptr, ErrorCode::kInvalidArgument, "gemm_quant: qweight is missing");
  FERRUM_TRY(check_activations("gemm_quant", a, out, m, n, k));
  if (const auto* gguf = std::get_if<GgufQuant>(&kind)) return gemm_gguf(ctx, a, weights, out, m, n, k, *gguf);

  Expected<cpu::GroupedQuantWeight> weight = [&]() -> Expected<cpu::GroupedQuantWeight> {
    if (const auto* gptq = std::get_if<GptqQuant>(&kind)) {
      FERRUM_CHECK(!gptq->desc_act || weights.g_idx != nullptr, ErrorCode::kInvalidArgument,
                   "gemm_quant: gptq with desc_act needs g_idx");
      return grouped_weight_from_buffers(weights, cpu::PackedLayout::kGptq, gptq->bits, gptq->group_size, n, k);
    }
    const auto& awq = std::get<AwqQuant>(kind);
    FERRUM_CHECK(weights.g_idx == nullptr, ErrorCode::kInvalidArgument, "gemm_quant: awq takes no g_idx");
    return grouped_weight_from_buffers(weights, cpu::PackedLayout::kAwq, awq.bits, awq.group_size, n, k);
  }();
  if (!weight) return std::move(weight).error();
  const cpu::GroupedQuantWeight& w = *weight;
  gemm_decoded(*ctx.pool, a.data_as<float>(), out.data_as<float>(), m, n, k,
               [&](size_t j0, size_t rows, size_t p0, size_t depth, float* dst) {
                 cpu::decode_grouped_tile(w, j0, rows, p0, depth, dst);
               });
  return ok();
}

Expected<CpuGptqStore> CpuBackend::load_gptq(std::span<const int32_t> qweight, std::span<const float> scales,
                                             std::span<const int32_t> qzeros,
                                             std::optional<std::span<const int32_t>> g_idx, uint32_t bits,
                                             size_t group_size, size_t k, size_t n) {
  constexpr std::string_view op = "load_gptq";
  cpu::GroupedQuantWeight w;
  w.layout = cpu::PackedLayout::kGptq;
  w.bits = bits;
  w.k = k;
  w.n = n;
  w.group_size = group_size;
  w.scale_dtype = DType::kF32;
  FERRUM_TRY(cpu::validate_grouped_quant(op, w));
  FERRUM_ASSIGN_OR_RETURN(size_t dense, checked_product(op, {n, k}));
  const size_t per_word = w.codes_per_word();
  FERRUM_CHECK(qweight.size() == dense / per_word, ErrorCode::kShapeMismatch, op, ": qweight has ", qweight.size(),
               " words, needs ", dense / per_word, " (k=", k, " / ", per_word, " x n=", n, ")");
  FERRUM_CHECK(qzeros.size() == w.groups() * (n / per_word), ErrorCode::kShapeMismatch, op, ": qzeros has ",
               qzeros.size(), " words, needs ", w.groups() * (n / per_word), " (", w.groups(), " groups x ",
               n / per_word, ")");
  FERRUM_CHECK(scales.size() == w.groups() * n, ErrorCode::kShapeMismatch, op, ": scales has ", scales.size(),
               " values, needs ", w.groups() * n, " (", w.groups(), " groups x n=", n, ")");
  if (g_idx) {
    FERRUM_CHECK(g_idx->size() == k, ErrorCode::kShapeMismatch, op, ": g_idx has ", g_idx->size(),
                 " entries, needs k=", k);
    w.g_idx = g_idx->data();
    FERRUM_TRY(cpu::validate_grouped_quant(op, w));
  }
  w.qweight = qweight.data();
  w.qzeros = qzeros.data();
  w.scales = scales.data();

  CpuGptqStore store;
  FERRUM_ASSIGN_OR_RETURN(store.weight, CpuBuffer::allocate(DType::kF32, dense));
  store.n = n;
  store.k = k;
  float* dst = store.weight.data_as<float>();
  // Once per weight at load: spread over the default pool by blocks of output rows.
  constexpr size_t kRowsPerTask = 64;
  default_thread_pool().parallel_for((n + kRowsPerTask - 1) / kRowsPerTask, 1, [&](size_t begin, size_t end) {
    for (size_t task = begin; task < end; ++task) {
      const size_t j0 = task * kRowsPerTask;
      cpu::decode_grouped_tile(w, j0, std::min(kRowsPerTask, n - j0), 0, k, dst + j0 * k);
    }
  });
  return store;
}

}  // namespace ferrum
