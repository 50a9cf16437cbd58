#include "bench/system_info.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "core/thread_pool.h"
#include "core/version.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#ifdef FERRUM_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace ferrum::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::string read_cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (!line.starts_with("model name")) continue;
    const size_t colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "unknown CPU";
}

uint64_t read_meminfo_kib(const char* path, const char* key) {
  std::ifstream file(path);
  for (std::string line; std::getline(file, line);) {
    if (!line.starts_with(key)) continue;
    return std::strtoull(line.c_str() + std::strlen(key), nullptr, 10);
  }
  return 0;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// The threads each summing their part of a 512 MiB buffer (far beyond any last-level cache); best
// of five. Decode only reads its weights, so the bound is a read: a memcpy's rate (bytes read plus
// written) depends on how the machine mixes the two directions, and on the 2-core development
// machines it moved 41-44 GB/s while reading alone ran at 25-44 GB/s, as the load allowed.
Bound cpu_read_bandwidth(size_t threads) {
  constexpr size_t kWords = (size_t{512} << 20) / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> data(new uint64_t[kWords]);
  ThreadPool pool(threads);
  // Touch every page first, on the threads that will read it.
  pool.parallel_for(kWords, size_t{1} << 17, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) data[i] = i;
  });
  static std::atomic<uint64_t> sink{0};  // where the sums go, so the reads stay
  double best = 1e30;
  for (int repeat = 0; repeat < 5; ++repeat) {
    const auto start = Clock::now();
    pool.parallel_for(kWords, kWords / pool.size() + 1, [&](size_t begin, size_t end) {
      // Four chains, so even a scalar build adds faster than memory delivers.
      uint64_t sums[4] = {};
      size_t i = begin;
      for (; i + 4 <= end; i += 4) {
        for (size_t lane = 0; lane < 4; ++lane) sums[lane] += data[i + lane];
      }
      for (; i < end; ++i) sums[0] += data[i];
      sink += sums[0] + sums[1] + sums[2] + sums[3];
    });
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return {kWords * sizeof(uint64_t) / best / 1e9,
          "measured: read of 512 MiB on " + std::to_string(pool.size()) + " threads"};
}

// FMAs on independent register accumulators: the arithmetic peak with no memory in the way.
double fma_flops_one_thread(size_t iterations, std::string& isa) {
  constexpr int kAccumulators = 12;
#if defined(__AVX512F__)
  isa = "AVX-512 FMA";
  __m512 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 scale = _mm512_set1_ps(0.999f);
  const __m512 add = _mm512_set1_ps(1e-3f);
  for (size_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_fmadd_ps(acc[i], scale, add);
  }
  // Summed through memory: GCC 12's _mm512_reduce_add_ps trips -Wuninitialized at -O3.
  float lanes[16];
  float sink = 0;
  for (int i = 0; i < kAccumulators; ++i) {
    _mm512_storeu_ps(lanes, acc[i]);
    for (float lane : lanes) sink += lane;
  }
  constexpr double kLanes = 16;
#elif defined(__AVX2__) && defined(__FMA__)
  isa = "AVX2 FMA";
  __m256 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 scale = _mm256_set1_ps(0.999f);
  const __m256 add = _mm256_set1_ps(1e-3f);
  for (size_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm256_fmadd_ps(acc[i], scale, add);
  }
  float lanes[8];
  float sink = 0;
  for (int i = 0; i < kAccumulators; ++i) {
    _mm256_storeu_ps(lanes, acc[i]);
    for (float lane : lanes) sink += lane;
  }
  constexpr double kLanes = 8;
#else
  isa = "scalar FMA";
  float acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = static_cast<float>(i);
  for (size_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < kAccumulators; ++i) acc[i] = std::fma(acc[i], 0.999f, 1e-3f);
  }
  float sink = 0;
  for (float value : acc) sink += value;
  constexpr double kLanes = 1;
#endif
  // The result must look used, or the loop is optimised away.
  volatile float keep = sink;
  (void)keep;
  return 2.0 * kLanes * kAccumulators * static_cast<double>(iterations);
}

#if defined(__AVX2__)
// 8-bit integer multiply-adds on independent register accumulators, in the instruction the CPU's
// quantized kernels use: AVX-512 VNNI's dpbusd (64 products of an unsigned and a signed byte, summed
// four at a time into int32) or AVX2's maddubs + madd + add (32 products). Counted as 2 operations
// per product, like FLOPs, so quantized prefill's FLOP rate compares with it directly.
double int8_ops_one_thread(size_t iterations, std::string& isa) {
  constexpr int kAccumulators = 12;
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
  isa = "AVX-512 VNNI dpbusd";
  __m512i acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i codes = _mm512_set1_epi8(3);
  const __m512i values = _mm512_set1_epi8(-5);
  for (size_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], codes, values);
  }
  int32_t lanes[16];
  int64_t sink = 0;
  for (int i = 0; i < kAccumulators; ++i) {
    _mm512_storeu_si512(lanes, acc[i]);
    for (int32_t lane : lanes) sink += lane;
  }
  constexpr double kProducts = 64;
#else
  isa = "AVX2 maddubs";
  __m256i acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm256_set1_epi32(i);
  const __m256i codes = _mm256_set1_epi8(3);
  const __m256i values = _mm256_set1_epi8(-5);
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < kAccumulators; ++i) {
      acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(codes, values), ones));
    }
  }
  int32_t lanes[8];
  int64_t sink = 0;
  for (int i = 0; i < kAccumulators; ++i) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes), acc[i]);
    for (int32_t lane : lanes) sink += lane;
  }
  constexpr double kProducts = 32;
#endif
  volatile int64_t keep = sink;  // the result must look used, or the loop is optimised away
  (void)keep;
  return 2.0 * kProducts * kAccumulators * static_cast<double>(iterations);
}
#endif

// Runs `work(iterations, isa)` (the operations it did) on every thread at once; best of three, in
// tera-operations per second.
template <typename Work>
Bound peak_over_threads(size_t threads, const std::string& what, Work work) {
  ThreadPool pool(threads);
  const size_t workers = pool.size();
  constexpr size_t kIterations = 20'000'000;
  std::string isa;
  double best = 0;
  for (int repeat = 0; repeat < 3; ++repeat) {
    std::vector<double> ops(workers, 0);
    const auto start = Clock::now();
    pool.parallel_for(workers, 1, [&](size_t begin, size_t end) {
      std::string local_isa;
      for (size_t i = begin; i < end; ++i) ops[i] = work(kIterations, local_isa);
      if (begin == 0) isa = local_isa;
    });
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    double total = 0;
    for (double value : ops) total += value;
    best = std::max(best, total / seconds / 1e12);
  }
  return Bound{best, "measured: " + what + " " + isa + " on " + std::to_string(workers) + " threads"};
}

// Dense bf16 tensor-core throughput from NVIDIA's datasheets (no sparsity).
std::optional<Bound> cuda_datasheet_peak(const std::string& name) {
  struct Card {
    const char* name_part;
    double tflops;
  };
  static constexpr Card kCards[] = {
      {"H200", 989.4},  {"H100 PCIe", 756.0}, {"H100 NVL", 835.0}, {"H100", 989.4}, {"GH200", 989.4},
      {"B200", 2250.0}, {"A100", 312.0},      {"A10G", 70.0},      {"L40S", 362.1}, {"L40", 181.0},
      {"L4", 121.0},    {"RTX 4090", 165.2},  {"A6000", 154.8},
  };
  for (const Card& card : kCards) {
    if (name.find(card.name_part) != std::string::npos) {
      return Bound{card.tflops, std::string("datasheet: dense bf16 of ") + card.name_part};
    }
  }
  return std::nullopt;
}

#ifdef FERRUM_HAS_CUDA
Status cuda_check(cudaError_t status, const char* what) {
  FERRUM_CHECK(status == cudaSuccess, ErrorCode::kUnsupported, what, ": ", cudaGetErrorString(status));
  return ok();
}

Expected<Bound> cuda_copy_bandwidth() {
  constexpr size_t kBytes = size_t{1} << 30;
  void* source = nullptr;
  void* target = nullptr;
  FERRUM_TRY(cuda_check(cudaMalloc(&source, kBytes), "cudaMalloc"));
  if (Status status = cuda_check(cudaMalloc(&target, kBytes), "cudaMalloc"); !status) {
    cudaFree(source);
    return std::move(status).error();
  }
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  cudaMemcpy(target, source, kBytes, cudaMemcpyDeviceToDevice);  // warm-up
  float best_ms = 1e30f;
  for (int repeat = 0; repeat < 10; ++repeat) {
    cudaEventRecord(start);
    cudaMemcpy(target, source, kBytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    best_ms = std::min(best_ms, ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(source);
  cudaFree(target);
  FERRUM_TRY(cuda_check(cudaGetLastError(), "device-to-device copy"));
  return Bound{2.0 * kBytes / (best_ms / 1e3) / 1e9, "measured: device-to-device cudaMemcpy of 1 GiB (read + write)"};
}
#endif

}  // namespace

Expected<SystemInfo> describe_system(const std::string& device) {
  SystemInfo info;
  info.ferrum_version = ferrum_version();
  info.ferrum_commit = ferrum_git_commit();
  info.build_flags = ferrum_build_flags();
  info.date = utc_now();
  info.cpu_model = read_cpu_model();
  info.cpu_threads = std::thread::hardware_concurrency();
  info.host_memory_bytes = read_meminfo_kib("/proc/meminfo", "MemTotal:") * 1024;
  info.device = device;
  if (device == "cpu") {
    info.device_name = info.cpu_model;
    info.device_memory_bytes = info.host_memory_bytes;
    return info;
  }
  FERRUM_CHECK(device == "cuda", ErrorCode::kInvalidArgument, "unknown device '", device, "' (cpu or cuda)");
#ifdef FERRUM_HAS_CUDA
  cudaDeviceProp properties{};
  int current = 0;
  FERRUM_TRY(cuda_check(cudaGetDevice(&current), "cudaGetDevice"));
  FERRUM_TRY(cuda_check(cudaGetDeviceProperties(&properties, current), "cudaGetDeviceProperties"));
  int driver = 0;
  int runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  info.device_name = properties.name;
  info.device_memory_bytes = properties.totalGlobalMem;
  info.driver = "CUDA driver " + std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10) +
                ", runtime " + std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10) + ", " +
                std::to_string(properties.multiProcessorCount) + " SMs, sm_" + std::to_string(properties.major) +
                std::to_string(properties.minor);
  return info;
#else
  return make_error(ErrorCode::kUnsupported, "this build has no CUDA backend: build with `cmake --preset cuda`");
#endif
}

Expected<Bound> measure_memory_bandwidth(const std::string& device, size_t threads) {
  if (device == "cpu") return cpu_read_bandwidth(threads);
#ifdef FERRUM_HAS_CUDA
  if (device == "cuda") return cuda_copy_bandwidth();
#endif
  return make_error(ErrorCode::kUnsupported, "no bandwidth measurement for device '", device, "'");
}

Expected<std::optional<Bound>> peak_compute(const std::string& device, const std::string& device_name, size_t threads) {
  if (device == "cpu") return std::optional<Bound>(peak_over_threads(threads, "f32", fma_flops_one_thread));
  if (device == "cuda") return cuda_datasheet_peak(device_name);
  return make_error(ErrorCode::kUnsupported, "no compute peak for device '", device, "'");
}

std::optional<Bound> cpu_int8_peak(size_t threads) {
#if defined(__AVX2__)
  return peak_over_threads(threads, "int8", int8_ops_one_thread);
#else
  (void)threads;
  return std::nullopt;
#endif
}

uint64_t peak_memory_bytes(const std::string& device) {
#ifdef FERRUM_HAS_CUDA
  if (device == "cuda") {
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) return 0;
    return total_bytes - free_bytes;
  }
#endif
  (void)device;
  return read_meminfo_kib("/proc/self/status", "VmHWM:") * 1024;
}

void reset_peak_memory(const std::string& device) {
  if (device != "cpu") return;
  // "5" resets the peak resident set size (Linux 4.0 and later); older kernels keep the old peak.
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
}

}  // namespace ferrum::bench
