// CPU quantized GEMM (gemm_quant) at Llama-3.2-1B projection shapes, for the GGUF types of the
// Q4_K_M, Q5_K_M, Q3_K_M, Q2_K and Q8_0 recipes and the legacy Q4_0, Q4_1, Q5_0 and Q5_1. m = 1 is
// decode (row dots: judge by GB/s of the quantized weights read; the 128256-row lm_head shape is
// the only one past the caches, as a model's weights are), m = 64 is prefill (int8 panels: judge
// by GOP/s, 2 ops per multiply-add).
// Run with FERRUM_BENCH_THREADS=1 on a shared machine: the CPU-time rates are then per core.
#include <algorithm>
#include <vector>

#include "bench_util.h"
#include "quant/quantize.h"

namespace ferrum::bench {
namespace {

// The first (up to) 256 rows quantized from random values, repeated down the matrix: the speed
// does not depend on the values, and quantizing the lm_head shape's 263 M values with the K-quants'
// scale search would take minutes on one core.
CpuBuffer quantized_weights(size_t n, size_t k, DType type) {
  constexpr size_t kDistinctRows = 256;
  const size_t distinct = std::min(n, kDistinctRows);
  std::mt19937_64 engine(7);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> values(distinct * k);
  for (float& value : values) value = normal(engine);
  const size_t row_bytes = dtype_bytes(type, k).value();
  std::vector<uint8_t> blocks(row_bytes * n);
  if (!quantize_tensor(type, values.data(), distinct, k, blocks.data(), default_thread_pool())) return CpuBuffer();
  for (size_t row = distinct; row < n; ++row) {
    std::copy_n(blocks.begin() + static_cast<std::ptrdiff_t>((row % distinct) * row_bytes), row_bytes,
                blocks.begin() + static_cast<std::ptrdiff_t>(row * row_bytes));
  }
  return std::move(CpuBackend::from_bytes(blocks, type, n * k).value());
}

void BM_QuantGemm(benchmark::State& state, DType type) {
  const size_t m = static_cast<size_t>(state.range(0));
  const size_t n = static_cast<size_t>(state.range(1));
  const size_t k = static_cast<size_t>(state.range(2));
  CpuBuffer a = random_buffer(m * k, DType::kF32, 1);
  CpuBuffer w = quantized_weights(n, k, type);
  CpuBuffer out = std::move(CpuBackend::alloc(m * n, DType::kF32).value());
  CpuContext ctx = CpuBackend::new_context();
  const QuantWeights<CpuBuffer> weights{&w};
  for (auto _ : state) {
    if (!CpuBackend::gemm_quant(ctx, a, weights, out, m, n, k, GgufQuant{gguf_quant_type(type)})) {
      state.SkipWithError("gemm_quant failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
  report_rates(state, 2.0 * static_cast<double>(m * n * k), static_cast<double>(dtype_bytes(type, n * k).value()));
}

void quant_shapes(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"m", "n", "k"});
  for (int64_t m : {1, 4, 64}) {
    bench->Args({m, 2048, 2048});
    bench->Args({m, 8192, 2048});
    bench->Args({m, 2048, 8192});
  }
  // The tied lm_head: 0.2-0.3 GB, far past the caches, what decode streams from memory.
  bench->Args({1, 128256, 2048});
  bench->Unit(benchmark::kMillisecond);
}

BENCHMARK_CAPTURE(BM_QuantGemm, q4_K, DType::kQ4_K)->Apply(quant_shapes);
BENCHMARK_CAPTURE(BM_QuantGemm, q6_K, DType::kQ6_K)->Apply(quant_shapes);
BENCHMARK_CAPTURE(BM_QuantGemm, q8_0, DType::kQ8_0)->Apply(quant_shapes);
BENCHMARK_CAPTURE(BM_QuantGemm, q4_0, DType::kQ4_0)->Apply(quant_shapes);
BENCHMARK_CAPTURE(BM_QuantGemm, q4_1, DType::kQ4_1)->Apply(quant_shapes);
BENCHMARK_CAPTURE(BM_QuantGemm, q5_0, DType::kQ5_0)->Apply(quant_shapes);
BENCHMARK_CAPTURE(BM_QuantGemm, q5_1, DType::kQ5_1)->Apply(quant_shapes);
BENCHMARK_CAPTURE(BM_QuantGemm, q5_K, DType::kQ5_K)->Apply(quant_shapes);
BENCHMARK_CAPTURE(BM_QuantGemm, q3_K, DType::kQ3_K)->Apply(quant_shapes);
BENCHMARK_CAPTURE(BM_QuantGemm, q2_K, DType::kQ2_K)->Apply(quant_shapes);

}  // namespace
}  // namespace ferrum::bench
