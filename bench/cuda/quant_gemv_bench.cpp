// ferrum-cuda-quant-gemv-bench: CudaBackend::gemm_quant on GGUF Q8_0, Q4_K and Q6_K weights at
// Llama-3.1-8B layer shapes, timed the way decode runs it: calls back to back inside a CUDA graph,
// over weight copies that together exceed L2 (as lab/quant_gemv_lab.cu does), bf16 activations
// and output. Each time includes the kernel that rounds x to int8 (the op's full cost), which the
// lab leaves out. Bytes are the quantized weight bytes read once; the bound is 3.0 TB/s (an H100's
// copy bandwidth, ~3.0 TB/s measured in lab/NOTES.md), and the measured copy is printed beside it.
//
//   ferrum-cuda-quant-gemv-bench [--m ROWS] [--reps N] [--only TYPE:SHAPE] [--bf16]
//
// --only runs one type and shape (e.g. q4_K:gate_up; the shape by its first word), for profilers.
// --bf16 times CudaBackend::gemm over bf16 weights instead (cuBLASLt above 8 rows): the whole
// model's shapes and one rank's at tensor parallelism 2.
//
// FERRUM_CUDA_QUANT_GEMV=0 times the dequantize + dense path instead, for comparison. Weights are
// random bytes with small positive f16 scales (the values do not matter to the timing); correctness
// is the op test's job.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"

#include "device_copy.h"

namespace ferrum::bench {
namespace {

constexpr double kBoundGbps = 3000.0;

struct Shape {
  const char* name;
  size_t n, k;
};

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

constexpr GgufQuantType kTypes[] = {GgufQuantType::kQ8_0, GgufQuantType::kQ4_K, GgufQuantType::kQ6_K,
                                    GgufQuantType::kQ3_K, GgufQuantType::kQ2_K, GgufQuantType::kQ4_1,
                                    GgufQuantType::kQ5_0, GgufQuantType::kQ5_1};

// Random blocks whose f16 scale fields (d, and the min of the types with one) are small positive normals.
std::vector<uint8_t> random_blocks(DType type, size_t n, size_t k) {
  const DTypeInfo& info = dtype_info(type);
  std::vector<uint8_t> bytes(n * k / info.block_elems * info.block_bytes);
  uint64_t state = 42;
  for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
    const uint64_t word = splitmix64(state);
    std::memcpy(bytes.data() + i, &word, 8);
  }
  // Offsets of the f16 scale fields: d (and Q4_K's dmin) first, the other k-quants' at their ends.
  const bool with_min = type == DType::kQ4_K || type == DType::kQ4_1 || type == DType::kQ5_1;
  const std::vector<size_t> fields = with_min               ? std::vector<size_t>{0, 2}
                                     : type == DType::kQ6_K ? std::vector<size_t>{208}
                                     : type == DType::kQ3_K ? std::vector<size_t>{108}
                                     : type == DType::kQ2_K ? std::vector<size_t>{80, 82}
                                                            : std::vector<size_t>{0};
  for (size_t block = 0; block < bytes.size() / info.block_bytes; ++block) {
    for (size_t offset : fields) {
      const uint16_t bits = static_cast<uint16_t>(0x1000 + (splitmix64(state) & 0x3FF));  // ~2^-11
      std::memcpy(bytes.data() + block * info.block_bytes + offset, &bits, 2);
    }
  }
  return bytes;
}

// Microseconds per call of `call_one(weight)`: one call per weight copy (together past L2) captured
// in one graph, the graph replayed `reps` times per sample, median of 7 samples.
template <class CallOne>
Expected<double> time_calls(const std::vector<CudaBuffer>& weights, CudaContext& ctx, int reps, CallOne call_one) {
  using B = CudaBackend;
  auto call_all = [&]() -> Status {
    for (const CudaBuffer& w : weights) FERRUM_TRY(call_one(w));
    return ok();
  };
  FERRUM_TRY(call_all());  // sizes the scratch outside the capture
  FERRUM_TRY(B::sync(ctx));
  FERRUM_TRY(B::begin_graph_capture(ctx));
  FERRUM_TRY(call_all());
  FERRUM_TRY(B::end_graph_capture(ctx));
  FERRUM_TRY(B::sync(ctx));
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<double> samples;
  for (int sample = 0; sample < 7; ++sample) {
    cudaEventRecord(start, ctx.stream());
    for (int rep = 0; rep < reps; ++rep) {
      FERRUM_ASSIGN_OR_RETURN(const bool replayed, B::replay_last_graph(ctx));
      FERRUM_CHECK(replayed, ErrorCode::kInternal, "the captured graph is gone");
    }
    cudaEventRecord(stop, ctx.stream());
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    samples.push_back(ms * 1e3 / (static_cast<double>(reps) * weights.size()));
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  B::reset_graph(ctx);
  FERRUM_TRY(B::sync(ctx));
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

// Enough copies of `bytes` (a weight) to pass 256 MB, at least two.
Expected<std::vector<CudaBuffer>> weight_copies(const std::vector<uint8_t>& bytes, DType type, size_t numel) {
  std::vector<CudaBuffer> weights;
  const size_t copies = std::max<size_t>(2, (size_t{256} << 20) / bytes.size() + 1);
  for (size_t c = 0; c < copies; ++c) {
    FERRUM_ASSIGN_OR_RETURN(CudaBuffer w, CudaBackend::from_bytes(bytes, type, numel));
    weights.push_back(std::move(w));
  }
  return weights;
}

Expected<double> time_gemm_quant(GgufQuantType quant_type, const Shape& shape, size_t m, int reps) {
  using B = CudaBackend;
  const DType type = gguf_quant_dtype(quant_type);
  FERRUM_ASSIGN_OR_RETURN(const std::vector<CudaBuffer> weights,
                          weight_copies(random_blocks(type, shape.n, shape.k), type, shape.n * shape.k));
  FERRUM_ASSIGN_OR_RETURN(CudaBuffer x, B::alloc(m * shape.k, DType::kBF16));
  FERRUM_ASSIGN_OR_RETURN(CudaBuffer out, B::alloc(m * shape.n, DType::kBF16));
  CudaContext ctx = B::new_context();
  const GgufQuant kind{quant_type};
  return time_calls(weights, ctx, reps,
                    [&](const CudaBuffer& w) { return B::gemm_quant(ctx, x, {&w}, out, m, shape.n, shape.k, kind); });
}

// bf16 weights (small random values) through CudaBackend::gemm with bf16 x and output.
Expected<double> time_gemm_bf16(const Shape& shape, size_t m, int reps) {
  using B = CudaBackend;
  std::vector<uint8_t> bytes(shape.n * shape.k * 2);
  uint64_t state = 7;
  for (size_t i = 0; i + 2 <= bytes.size(); i += 2) {
    const uint16_t bits = static_cast<uint16_t>(0x3C00 + (splitmix64(state) & 0xFF));  // ~2^-7
    std::memcpy(bytes.data() + i, &bits, 2);
  }
  FERRUM_ASSIGN_OR_RETURN(const std::vector<CudaBuffer> weights, weight_copies(bytes, DType::kBF16, shape.n * shape.k));
  FERRUM_ASSIGN_OR_RETURN(CudaBuffer x, B::alloc(m * shape.k, DType::kBF16));
  FERRUM_ASSIGN_OR_RETURN(CudaBuffer out, B::alloc(m * shape.n, DType::kBF16));
  CudaContext ctx = B::new_context();
  return time_calls(weights, ctx, reps,
                    [&](const CudaBuffer& w) { return B::gemm(ctx, x, w, out, m, shape.n, shape.k); });
}

int run(int argc, char** argv) {
  size_t m = 1;
  int reps = 20;
  std::string only;
  bool bf16 = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--m" && i + 1 < argc) {
      m = std::strtoul(argv[++i], nullptr, 10);
    } else if (arg == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (arg == "--bf16") {
      bf16 = true;
    } else {
      std::fprintf(stderr, "usage: ferrum-cuda-quant-gemv-bench [--m ROWS] [--reps N] [--only TYPE:SHAPE] [--bf16]\n");
      return 2;
    }
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  int driver = 0;
  cudaDriverGetVersion(&driver);
  const double copy_gbps = measure_copy_gbps();
  const char* fused = std::getenv("FERRUM_CUDA_QUANT_GEMV");
  std::printf("device: %s, driver API %d; measured copy %.0f GB/s; m = %zu; path: %s\n", prop.name, driver, copy_gbps,
              m,
              fused != nullptr && std::strcmp(fused, "0") == 0 ? "dequantize + dense" : "fused GEMV where it applies");
  std::printf("%-6s %-20s %10s %10s %10s %12s\n", "type", "shape (n x k)", "MB", "us", "GB/s", "% of 3.0 TB/s");
  const Shape shapes[] = {{"k / v 1024x4096", 1024, 4096},  {"qkv 6144x4096", 6144, 4096},
                          {"o 4096x4096", 4096, 4096},      {"gate_up 28672x4096", 28672, 4096},
                          {"down 4096x14336", 4096, 14336}, {"lm_head 128256x4096", 128256, 4096}};
  int failures = 0;
  const auto report = [&](const char* type, const char* shape, double bytes, const Expected<double>& us) {
    if (!us) {
      std::printf("%-6s %-20s FAILED: %s\n", type, shape, us.error().to_string().c_str());
      ++failures;
      return;
    }
    const double gbps = bytes / (*us * 1e-6) / 1e9;
    std::printf("%-6s %-20s %10.1f %10.2f %10.0f %11.1f%%\n", type, shape, bytes / 1e6, *us, gbps,
                100.0 * gbps / kBoundGbps);
  };
  if (bf16) {
    // One rank's shapes at tensor parallelism 2 after the whole model's.
    const Shape dense_shapes[] = {{"qkv 6144x4096", 6144, 4096},         {"o 4096x4096", 4096, 4096},
                                  {"gate_up 28672x4096", 28672, 4096},   {"down 4096x14336", 4096, 14336},
                                  {"qkv/2 3072x4096", 3072, 4096},       {"o/2 4096x2048", 4096, 2048},
                                  {"gate_up/2 14336x4096", 14336, 4096}, {"down/2 4096x7168", 4096, 7168}};
    for (const Shape& shape : dense_shapes) {
      report("bf16", shape.name, static_cast<double>(shape.n * shape.k * 2), time_gemm_bf16(shape, m, reps));
    }
    return failures == 0 ? 0 : 1;
  }
  for (GgufQuantType quant_type : kTypes) {
    const DType type = gguf_quant_dtype(quant_type);
    for (const Shape& shape : shapes) {
      const std::string shape_word(shape.name, std::strcspn(shape.name, " "));
      if (!only.empty() && only != std::string(dtype_name(type)) + ":" + shape_word) continue;
      const DTypeInfo& info = dtype_info(type);
      const double bytes = static_cast<double>(shape.n * shape.k / info.block_elems * info.block_bytes);
      report(std::string(dtype_name(type)).c_str(), shape.name, bytes, time_gemm_quant(quant_type, shape, m, reps));
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace ferrum::bench

int main(int argc, char** argv) {
  return ferrum::bench::run(argc, argv);
}
