// CPU GEMM at Llama-like projection shapes: out[m, n] = a[m, k] @ w[n, k]^T.
// m = 1 is decode (a GEMV: memory-bound, judge by GB/s of weights read; the 2048-wide shapes fit
// in the caches, f16's 128256-row lm_head does not); m = 64 / 512 is prefill
// (compute-bound, judge by GFLOP/s against the FMA peak).
#include "bench_util.h"

namespace ferrum::bench {
namespace {

void BM_Gemm(benchmark::State& state, DType weight_dtype) {
  const size_t m = static_cast<size_t>(state.range(0));
  const size_t n = static_cast<size_t>(state.range(1));
  const size_t k = static_cast<size_t>(state.range(2));
  CpuBuffer a = random_buffer(m * k, DType::kF32, 1);
  CpuBuffer w = random_buffer(n * k, weight_dtype, 2);
  CpuBuffer out = std::move(CpuBackend::alloc(m * n, DType::kF32).value());
  CpuContext ctx = CpuBackend::new_context();
  for (auto _ : state) {
    if (!CpuBackend::gemm(ctx, a, w, out, m, n, k)) state.SkipWithError("gemm failed");
    benchmark::DoNotOptimize(out.data());
  }
  const double bytes = static_cast<double>(n * k * dtype_size(weight_dtype) + (m * k + m * n) * sizeof(float));
  report_rates(state, 2.0 * static_cast<double>(m * n * k), bytes);
}

void gemm_shapes(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"m", "n", "k"});
  for (int64_t m : {1, 64, 512}) {
    bench->Args({m, 2048, 2048});
    bench->Args({m, 8192, 2048});
    bench->Args({m, 2048, 8192});
  }
  bench->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK_CAPTURE(BM_Gemm, f32, DType::kF32)->Apply(gemm_shapes);
BENCHMARK_CAPTURE(BM_Gemm, bf16, DType::kBF16)->Apply(gemm_shapes);
// The tied lm_head of Llama-3.2-1B in a safetensors checkpoint: 0.5 GB, far past the caches, what
// a decode step streams from memory.
BENCHMARK_CAPTURE(BM_Gemm, f16, DType::kF16)
    ->Args({1, 2048, 2048})
    ->Args({64, 2048, 2048})
    ->Args({1, 128256, 2048})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ferrum::bench
