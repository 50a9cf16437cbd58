// Shared pieces of the CPU micro-benchmarks: random buffers and the counters every benchmark
// reports (achieved GFLOP/s and GB/s, so a time reads against the machine's peak and bandwidth).
#pragma once

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"

namespace ferrum::bench {

inline CpuBuffer random_buffer(size_t n, DType dtype, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(n);
  for (float& value : values) value = uniform(engine);
  return std::move(CpuBackend::from_slice(values, dtype).value());
}

// flops and bytes are per iteration; Google Benchmark divides by the measured time and prints the
// counters as "GFLOP=x/s" and "GB=y/s".
inline void report_rates(benchmark::State& state, double flops, double bytes) {
  state.counters["GFLOP"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

inline size_t dtype_size(DType dtype) {
  return dtype_info(dtype).block_bytes;
}

}  // namespace ferrum::bench
