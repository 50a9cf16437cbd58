// Throughput of the quantization kernels on one thread. Every benchmark reports bytes/s of the
// quantized data it reads or writes (the memory traffic that bounds a GEMV) and values/s.
//   Dequantize/<type>: quantized row -> f32 (the SIMD kernel where one exists)
//   DequantizeReference/<type>: the scalar decoder the SIMD ones are tested against
//   Quantize/<type>: f32 row -> blocks, with the full scale search
//   VecDot/<type>, VecDotReference/<type>: a [rows, 4096] weight matrix times one activation row
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "quant/dequantize.h"
#include "quant/dequantize_reference.h"
#include "quant/quantize.h"
#include "quant/vec_dot.h"

namespace ferrum {
namespace {

constexpr size_t kCols = 4096;

const DType kTypes[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                        DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

std::vector<float> gaussian(size_t count) {
  std::mt19937 rng(42);
  std::normal_distribution<float> normal;
  std::vector<float> values(count);
  for (float& value : values) value = normal(rng);
  return values;
}

std::vector<uint8_t> quantized_matrix(DType type, size_t rows) {
  const std::vector<float> values = gaussian(rows * kCols);
  std::vector<uint8_t> packed(rows * row_bytes_unchecked(type, kCols));
  ThreadPool pool;
  if (!quantize_tensor(type, values.data(), rows, kCols, packed.data(), pool)) std::abort();
  return packed;
}

void report(benchmark::State& state, size_t bytes_per_iteration, size_t values_per_iteration) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes_per_iteration));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * values_per_iteration));
}

template <bool kReference>
void dequantize_benchmark(benchmark::State& state, DType type) {
  constexpr size_t kRows = 64;
  const std::vector<uint8_t> packed = quantized_matrix(type, kRows);
  std::vector<float> out(kRows * kCols);
  const size_t row_bytes = row_bytes_unchecked(type, kCols);
  for (auto _ : state) {
    for (size_t row = 0; row < kRows; ++row) {
      if constexpr (kReference) {
        quant::dequantize_blocks_reference(type, packed.data() + row * row_bytes, out.data() + row * kCols, kCols);
      } else {
        dequantize_row(type, packed.data() + row * row_bytes, out.data() + row * kCols, kCols);
      }
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  report(state, packed.size(), out.size());
}

void quantize_benchmark(benchmark::State& state, DType type) {
  const std::vector<float> values = gaussian(kCols);
  std::vector<uint8_t> packed(row_bytes_unchecked(type, kCols));
  for (auto _ : state) {
    if (!quantize_row(type, values.data(), packed.data(), kCols)) std::abort();
    benchmark::DoNotOptimize(packed.data());
  }
  report(state, packed.size(), kCols);
}

template <bool kReference>
void vec_dot_benchmark(benchmark::State& state, DType type) {
  const auto rows = static_cast<size_t>(state.range(0));
  const std::vector<uint8_t> weights = quantized_matrix(type, rows);
  const DType activation_type = *vec_dot_activation_type(type);
  const std::vector<float> activations = gaussian(kCols);
  std::vector<uint8_t> quantized_activations(row_bytes_unchecked(activation_type, kCols));
  quantize_activation_row(activation_type, activations.data(), quantized_activations.data(), kCols);
  const size_t row_bytes = row_bytes_unchecked(type, kCols);
  std::vector<float> out(rows);
  for (auto _ : state) {
    for (size_t row = 0; row < rows; ++row) {
      const void* weight_row = weights.data() + row * row_bytes;
      out[row] = kReference ? quant::vec_dot_reference(type, weight_row, quantized_activations.data(), kCols)
                            : vec_dot(type, weight_row, quantized_activations.data(), kCols);
    }
    benchmark::DoNotOptimize(out.data());
  }
  report(state, weights.size(), rows * kCols);
}

// 256 rows (~0.6-1.1 MB of weights) stays in L2/L3; 4096 rows (9-18 MB) streams from memory.
const bool kRegistered = [] {
  for (DType type : kTypes) {
    const std::string name(dtype_name(type));
    benchmark::RegisterBenchmark(("Dequantize/" + name).c_str(), dequantize_benchmark<false>, type);
    benchmark::RegisterBenchmark(("DequantizeReference/" + name).c_str(), dequantize_benchmark<true>, type);
    benchmark::RegisterBenchmark(("Quantize/" + name).c_str(), quantize_benchmark, type);
    benchmark::RegisterBenchmark(("VecDot/" + name).c_str(), vec_dot_benchmark<false>, type)->Arg(256)->Arg(4096);
    benchmark::RegisterBenchmark(("VecDotReference/" + name).c_str(), vec_dot_benchmark<true>, type)->Arg(256);
  }
  return true;
}();

}  // namespace
}  // namespace ferrum
