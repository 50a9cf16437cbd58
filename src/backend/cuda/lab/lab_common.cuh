// Shared pieces of the kernel lab (llm.c dev/cuda style): fatal CUDA checks, deterministic random
// device data (never zeros), poisoning, event timing with warm-up and medians, input rotation
// beyond L2, the measured copy bandwidth, and the result table every harness prints.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace lab {

#define LAB_CHECK(call)                                                                                  \
  do {                                                                                                   \
    cudaError_t lab_code_ = (call);                                                                      \
    if (lab_code_ != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(lab_code_)); \
      std::exit(1);                                                                                      \
    }                                                                                                    \
  } while (0)

#define LAB_LAUNCH_CHECK(name)                                                                                    \
  do {                                                                                                            \
    cudaError_t lab_code_ = cudaGetLastError();                                                                   \
    if (lab_code_ != cudaSuccess) {                                                                               \
      std::fprintf(stderr, "%s:%d: launch of %s: %s\n", __FILE__, __LINE__, name, cudaGetErrorString(lab_code_)); \
      std::exit(1);                                                                                               \
    }                                                                                                             \
  } while (0)

// Exits naming `what` and the error when a backend call failed (a harness stops at the first).
inline void die_on(const ferrum::Status& status, const char* what) {
  if (!status) {
    std::fprintf(stderr, "%s: %s\n", what, status.error().to_string().c_str());
    std::exit(1);
  }
}

// The middle value (the upper one of an even count).
inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

template <class T>
T* device_alloc(size_t n) {
  T* p = nullptr;
  LAB_CHECK(cudaMalloc(&p, n * sizeof(T)));
  return p;
}

__device__ __forceinline__ uint32_t hash32(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return static_cast<uint32_t>(x);
}

template <class T>
__global__ void fill_uniform_kernel(T* p, size_t n, uint64_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    const float u = (hash32(seed * 0x9e3779b97f4a7c15ull + i) >> 8) * (1.0f / 16777216.0f);
    const float v = lo + (hi - lo) * u;
    if constexpr (sizeof(T) == 4) {
      p[i] = v;
    } else if constexpr (std::is_same_v<T, __half>) {
      p[i] = __float2half_rn(v);
    } else {
      p[i] = __float2bfloat16_rn(v);
    }
  }
}

// Uniform values in [lo, hi); deterministic in (seed, index).
template <class T>
void fill_uniform(T* p, size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  fill_uniform_kernel<<<1024, 256>>>(p, n, seed, lo, hi);
  LAB_LAUNCH_CHECK("fill_uniform");
}

// Copies of a random [elems] bf16 weight (uniform in [lo, hi), copy c seeded 100 + c), enough that
// one pass over them all exceeds 4x a 50 MB L2: harnesses rotate through them so that no timed call
// finds its weights in L2. Free them with free_all.
inline std::vector<__nv_bfloat16*> weight_copies(size_t elems, float lo, float hi) {
  const int copies = static_cast<int>(std::max<size_t>(1, (size_t{200} << 20) / (elems * 2) + 1));
  std::vector<__nv_bfloat16*> weights(copies);
  for (int c = 0; c < copies; ++c) {
    weights[c] = device_alloc<__nv_bfloat16>(elems);
    fill_uniform(weights[c], elems, 100 + c, lo, hi);
  }
  return weights;
}

template <class T>
void free_all(const std::vector<T*>& blocks) {
  for (T* p : blocks) LAB_CHECK(cudaFree(p));
}

template <class T>
__global__ void dense_reference_kernel(const T* x, const T* w, double* out, int m, int n, int k) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i >= size_t{1} * m * n) return;
  const int t = static_cast<int>(i / n), j = static_cast<int>(i % n);
  double acc = 0;
  for (int c = 0; c < k; ++c) acc += double(float(w[size_t{1} * j * k + c])) * float(x[size_t{1} * t * k + c]);
  out[i] = acc;
}

// out[m, n] = x[m, k] @ w[n, k]^T in f64 (one thread an output), on the host; `scratch` holds m * n
// doubles on the device.
template <class T>
std::vector<double> dense_reference(const T* x, const T* w, int m, int n, int k, double* scratch) {
  dense_reference_kernel<<<(m * n + 255) / 256, 256>>>(x, w, scratch, m, n, k);
  LAB_LAUNCH_CHECK("dense_reference");
  std::vector<double> ref(size_t{1} * m * n);
  LAB_CHECK(cudaMemcpy(ref.data(), scratch, ref.size() * sizeof(double), cudaMemcpyDeviceToHost));
  return ref;
}

template <class Byte>
__global__ void fill_bytes_kernel(Byte* p, size_t bytes, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < bytes; i += size_t{gridDim.x} * blockDim.x) {
    p[i] = static_cast<Byte>(hash32(seed * 0x9e3779b97f4a7c15ull + i));
  }
}

template <class Byte>
__global__ void fix_block_scales_kernel(Byte* p, size_t blocks, int block_bytes, int d_offset, int dmin_offset,
                                        uint64_t seed) {
  for (size_t b = blockIdx.x * size_t{blockDim.x} + threadIdx.x; b < blocks; b += size_t{gridDim.x} * blockDim.x) {
    Byte* block = p + b * block_bytes;
    const uint32_t h = hash32(seed + b * 7919);
    const unsigned short d = __half_as_ushort(__float2half(0.0005f + (h & 1023) * 1e-6f));
    const unsigned short dmin = __half_as_ushort(__float2half(0.0002f + ((h >> 10) & 1023) * 1e-6f));
    block[d_offset] = d & 0xFF;
    block[d_offset + 1] = d >> 8;
    if (dmin_offset >= 0) {
      block[dmin_offset] = dmin & 0xFF;
      block[dmin_offset + 1] = dmin >> 8;
    }
  }
}

// Random GGUF blocks: random bytes, then (a second kernel, so no block races the fill) each block's
// f16 scale fields (d at d_offset, dmin at dmin_offset unless negative) set to small positive
// values, since random bits there could be inf / NaN.
inline void fill_gguf_blocks(uint8_t* p, size_t blocks, int block_bytes, int d_offset, int dmin_offset, uint64_t seed) {
  fill_bytes_kernel<<<1024, 256>>>(p, blocks * block_bytes, seed);
  fix_block_scales_kernel<<<1024, 256>>>(p, blocks, block_bytes, d_offset, dmin_offset, seed);
  LAB_LAUNCH_CHECK("fill_gguf_blocks");
}

// A NaN pattern, so an output element nobody wrote fails the check.
template <class T>
void poison(T* p, size_t n) {
  LAB_CHECK(cudaMemset(p, 0xff, n * sizeof(T)));
}

template <class T>
float to_host_float(T v) {
  if constexpr (sizeof(T) == 4) {
    return v;
  } else if constexpr (std::is_same_v<T, __half>) {
    return __half2float(v);
  } else {
    return __bfloat162float(v);
  }
}

template <class T>
std::vector<float> download(const T* p, size_t n) {
  std::vector<T> raw(n);
  LAB_CHECK(cudaMemcpy(raw.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = to_host_float(raw[i]);
  return out;
}

// ||out - ref|| / ||ref|| and the worst absolute difference; NaN anywhere fails.
struct Error {
  double rel_l2 = 0;
  double max_abs = 0;
  bool has_nan = false;
};

inline Error compare(const std::vector<float>& out, const std::vector<double>& ref) {
  Error e;
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(out[i])) e.has_nan = true;
    const double d = out[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
    e.max_abs = std::max(e.max_abs, std::fabs(d));
  }
  e.rel_l2 = std::sqrt(num / std::max(den, 1e-300));
  return e;
}

// Median of `iters` timed calls after `warmup` untimed ones, in microseconds. `call(i)` gets the
// iteration number so harnesses can rotate through input copies that together exceed L2.
// Events are recorded on `stream`.
inline double time_us(const std::function<void(int)>& call, int warmup = 10, int iters = 50,
                      cudaStream_t stream = nullptr) {
  for (int i = 0; i < warmup; ++i) call(i);
  LAB_CHECK(cudaDeviceSynchronize());
  std::vector<cudaEvent_t> events(2 * iters);
  for (auto& e : events) LAB_CHECK(cudaEventCreate(&e));
  for (int i = 0; i < iters; ++i) {
    LAB_CHECK(cudaEventRecord(events[2 * i], stream));
    call(warmup + i);
    LAB_CHECK(cudaEventRecord(events[2 * i + 1], stream));
  }
  LAB_CHECK(cudaDeviceSynchronize());
  std::vector<double> times(iters);
  for (int i = 0; i < iters; ++i) {
    float ms = 0;
    LAB_CHECK(cudaEventElapsedTime(&ms, events[2 * i], events[2 * i + 1]));
    times[i] = ms * 1000.0;
  }
  for (auto& e : events) LAB_CHECK(cudaEventDestroy(e));
  return median(times);
}

// Microseconds a call when `enqueue()` puts `calls` calls on `stream` between two events: the
// median of 5 such runs.
inline double median_us_per_call(const std::function<void()>& enqueue, cudaStream_t stream, int calls) {
  cudaEvent_t begin, end;
  LAB_CHECK(cudaEventCreate(&begin));
  LAB_CHECK(cudaEventCreate(&end));
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    LAB_CHECK(cudaEventRecord(begin, stream));
    enqueue();
    LAB_CHECK(cudaEventRecord(end, stream));
    LAB_CHECK(cudaEventSynchronize(end));
    float ms = 0;
    LAB_CHECK(cudaEventElapsedTime(&ms, begin, end));
    runs.push_back(ms * 1000.0 / calls);
  }
  LAB_CHECK(cudaEventDestroy(begin));
  LAB_CHECK(cudaEventDestroy(end));
  return median(runs);
}

// Microseconds a call when `calls` run back to back between two events (median of 5 such runs):
// what a kernel costs inside a decode step, where it follows other kernels.
inline double chained_us(const std::function<void(int)>& call, cudaStream_t stream, int calls = 40) {
  for (int i = 0; i < 5; ++i) call(i);
  int next = 0;
  return median_us_per_call(
      [&] {
        for (int i = 0; i < calls; ++i) call(next++);
      },
      stream, calls);
}

// Microseconds a call when `calls` calls are captured into one CUDA graph and replayed (median of
// 5 replays after one warm-up): kernels back to back without host launch gaps, as in a decode step.
inline double graph_us(const std::function<void(int)>& call, cudaStream_t stream, int calls = 40) {
  cudaGraph_t graph = nullptr;
  LAB_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < calls; ++i) call(i);
  LAB_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  LAB_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  LAB_CHECK(cudaGraphLaunch(exec, stream));
  const double us = median_us_per_call([&] { LAB_CHECK(cudaGraphLaunch(exec, stream)); }, stream, calls);
  LAB_CHECK(cudaGraphExecDestroy(exec));
  LAB_CHECK(cudaGraphDestroy(graph));
  return us;
}

// The bf16 decode GEMMs the GEMM labs time: Llama-3.1-8B's projections (n x k) and one TP=2
// rank's (`/2`).
struct DecodeGemmShape {
  const char* name;
  int n, k;
};
inline constexpr DecodeGemmShape kDecodeGemmShapes[] = {
    {"qkv 6144x4096", 6144, 4096},         {"o 4096x4096", 4096, 4096},     {"gate_up 28672x4096", 28672, 4096},
    {"down 4096x14336", 4096, 14336},      {"qkv/2 3072x4096", 3072, 4096}, {"o/2 4096x2048", 4096, 2048},
    {"gate_up/2 14336x4096", 14336, 4096}, {"down/2 4096x7168", 4096, 7168}};

// A decode GEMM's device operands for up to `max_m` rows: bf16 weight copies past L2
// (weight_copies), random x, the output and f64 scratch for dense_reference; freed with it.
struct DecodeGemmOperands {
  std::vector<__nv_bfloat16*> weights;
  int copies = 0;
  __nv_bfloat16* x = nullptr;
  __nv_bfloat16* out = nullptr;
  double* ref_scratch = nullptr;

  DecodeGemmOperands(const DecodeGemmShape& s, int max_m)
      : weights(weight_copies(size_t{1} * s.n * s.k, -0.05f, 0.05f)),
        copies(static_cast<int>(weights.size())),
        x(device_alloc<__nv_bfloat16>(size_t{1} * max_m * s.k)),
        out(device_alloc<__nv_bfloat16>(size_t{1} * max_m * s.n)),
        ref_scratch(device_alloc<double>(size_t{1} * max_m * s.n)) {
    fill_uniform(x, size_t{1} * max_m * s.k, 7);
  }
  ~DecodeGemmOperands() {
    free_all(weights);
    LAB_CHECK(cudaFree(x));
    LAB_CHECK(cudaFree(out));
    LAB_CHECK(cudaFree(ref_scratch));
  }
  DecodeGemmOperands(const DecodeGemmOperands&) = delete;
  DecodeGemmOperands& operator=(const DecodeGemmOperands&) = delete;
  // The copy call `i` reads: they rotate.
  const __nv_bfloat16* weight(int i) const { return weights[i % copies]; }
};

// Device-to-device copy bandwidth (bytes read + written per second), the practical memory bound.
inline double measure_copy_gbps() {
  const size_t bytes = size_t{1} << 30;
  char* a = device_alloc<char>(bytes);
  char* b = device_alloc<char>(bytes);
  LAB_CHECK(cudaMemset(a, 1, bytes));
  const double us = time_us([&](int) { LAB_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)); }, 3, 10);
  LAB_CHECK(cudaFree(a));
  LAB_CHECK(cudaFree(b));
  return 2.0 * bytes / us / 1e3;
}

inline void print_device_banner(const char* lab_name) {
  cudaDeviceProp prop{};
  LAB_CHECK(cudaGetDeviceProperties(&prop, 0));
  int driver = 0, runtime = 0;
  LAB_CHECK(cudaDriverGetVersion(&driver));
  LAB_CHECK(cudaRuntimeGetVersion(&runtime));
  std::printf("== %s on %s (%d SMs, %.0f MB L2), driver API %d, runtime %d\n", lab_name, prop.name,
              prop.multiProcessorCount, prop.l2CacheSize / 1e6, driver, runtime);
}

// One line of the result table.
inline void print_row(const std::string& version, const std::string& shape, double us, double rate, const char* unit,
                      double bound_pct, const Error& err, double tolerance) {
  const bool pass = !err.has_nan && err.rel_l2 <= tolerance;
  std::printf("%-34s %-30s %9.2f us %9.1f %-7s %6.1f%%  rel %.2e (tol %.0e) %s\n", version.c_str(), shape.c_str(), us,
              rate, unit, bound_pct, err.rel_l2, tolerance, pass ? "ok" : "FAIL");
}

}  // namespace lab
