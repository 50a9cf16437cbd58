// CPU GPTQ through the load-time store (load_gptq + gemm_gptq: panels of 4-bit codes two to a byte,
// one scale entry per group of 128) at Llama-3.2-1B projection shapes. m = 1 is decode: judge by
// GB/s of the stored panel bytes read (copies of the weight are walked in turn, so every call reads
// from memory as a model's decode step does); m = 64 is prefill: judge by GOP/s.
// Run with FERRUM_BENCH_THREADS=1 on a shared machine: the CPU-time rates are then per core.
#include <algorithm>
#include <random>
#include <vector>

#include "bench_util.h"

namespace ferrum::bench {
namespace {

constexpr size_t kGroup = 128;

void BM_GptqGemm(benchmark::State& state) {
  const size_t m = static_cast<size_t>(state.range(0));
  const size_t n = static_cast<size_t>(state.range(1));
  const size_t k = static_cast<size_t>(state.range(2));
  std::mt19937 engine(3);
  std::vector<int32_t> qweight(k / 8 * n), qzeros(k / kGroup * n / 8);
  for (int32_t& word : qweight) word = static_cast<int32_t>(engine());
  for (int32_t& word : qzeros) word = static_cast<int32_t>(engine());
  std::vector<float> scales(k / kGroup * n);
  std::uniform_real_distribution<float> uniform(0.001f, 0.02f);
  for (float& scale : scales) scale = uniform(engine);
  // Enough copies that one pass over them all leaves the caches (256 MB), walked in turn, so that
  // every call reads its weights from memory as a decode step does.
  const size_t copies = std::max<size_t>(1, (size_t{256} << 20) / (n * k / 2));
  std::vector<CpuGptqStore> stores;
  for (size_t c = 0; c < copies; ++c) {
    auto store = CpuBackend::load_gptq(qweight, scales, qzeros, std::nullopt, 4, kGroup, k, n);
    if (!store) {
      state.SkipWithError("load_gptq failed");
      return;
    }
    stores.push_back(std::move(*store));
  }
  CpuBuffer a = random_buffer(m * k, DType::kF32, 1);
  CpuBuffer out = std::move(CpuBackend::alloc(m * n, DType::kF32).value());
  CpuContext ctx = CpuBackend::new_context();
  size_t call = 0;
  for (auto _ : state) {
    if (!CpuBackend::gemm_gptq(ctx, a, stores[call++ % copies], out, m)) state.SkipWithError("gemm_gptq failed");
    benchmark::DoNotOptimize(out.data());
  }
  // The panels' bytes: half a byte a code, two f32 per 16 rows and group.
  const double bytes = static_cast<double>(n * k) / 2 + static_cast<double>(n * (k / kGroup) * 2 * sizeof(float));
  report_rates(state, 2.0 * static_cast<double>(m * n * k), bytes);
}

void gptq_shapes(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"m", "n", "k"});
  for (int64_t m : {1, 4, 64}) {
    bench->Args({m, 2048, 2048});
    bench->Args({m, 16384, 2048});
    bench->Args({m, 2048, 8192});
  }
  bench->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_GptqGemm)->Apply(gptq_shapes);

}  // namespace
}  // namespace ferrum::bench
