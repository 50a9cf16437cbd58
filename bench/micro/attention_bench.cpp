// CPU flash_attention at Llama-3.2-1B shape (32 query heads, 8 KV heads, head_dim 64).
// Decode (one query over kv 512 / 4096) is bound by reading K and V: judge by GB/s. Causal
// prefill of 512 tokens is compute-bound: judge by GFLOP/s (the masked half not counted).
#include <cmath>

#include "bench_util.h"

namespace ferrum::bench {
namespace {

constexpr size_t kHeads = 32;
constexpr size_t kKvHeads = 8;
constexpr size_t kHeadDim = 64;

void BM_Attention(benchmark::State& state, DType kv_dtype) {
  const size_t q_len = static_cast<size_t>(state.range(0));
  const size_t kv_len = static_cast<size_t>(state.range(1));
  CpuBuffer q = random_buffer(kHeads * q_len * kHeadDim, DType::kF32, 1);
  CpuBuffer k = random_buffer(kKvHeads * kv_len * kHeadDim, kv_dtype, 2);
  CpuBuffer v = random_buffer(kKvHeads * kv_len * kHeadDim, kv_dtype, 3);
  CpuBuffer out = std::move(CpuBackend::alloc(kHeads * q_len * kHeadDim, DType::kF32).value());
  AttnConfig cfg;
  cfg.num_heads = kHeads;
  cfg.num_kv_heads = kKvHeads;
  cfg.head_dim = kHeadDim;
  cfg.causal = true;
  cfg.scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  const size_t pos_offset = kv_len - q_len;
  CpuContext ctx = CpuBackend::new_context();
  for (auto _ : state) {
    if (!CpuBackend::flash_attention(ctx, q, k, v, out, 1, q_len, kv_len, pos_offset, cfg)) {
      state.SkipWithError("flash_attention failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
  // Visible (query, key) pairs under the causal mask; QK and PV are 2 flops per pair per dim each.
  double pairs = 0.0;
  for (size_t i = 0; i < q_len; ++i) pairs += static_cast<double>(pos_offset + i + 1);
  const double flops = 4.0 * static_cast<double>(kHeads * kHeadDim) * pairs;
  const double bytes = static_cast<double>(2 * kKvHeads * kv_len * kHeadDim * dtype_size(kv_dtype) +
                                           2 * kHeads * q_len * kHeadDim * sizeof(float));
  report_rates(state, flops, bytes);
}

void attention_shapes(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"q", "kv"})->Args({1, 512})->Args({1, 4096})->Args({512, 512});
  bench->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK_CAPTURE(BM_Attention, f32, DType::kF32)->Apply(attention_shapes);
BENCHMARK_CAPTURE(BM_Attention, bf16, DType::kBF16)->Apply(attention_shapes);

}  // namespace
}  // namespace ferrum::bench
