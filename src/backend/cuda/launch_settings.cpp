#include "backend/cuda/kernels/launch_settings.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string_view>
#include <unordered_set>

namespace ferrum::cuda {
namespace {

long env_or(const char* name, long fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  return std::strtol(value, nullptr, 10);
}

// A warps-per-row setting: 2, 4 or 8, others rounded down (below 2: 2).
int split_warps(const char* name, int fallback) {
  const long value = env_or(name, fallback);
  return value >= 8 ? 8 : value >= 4 ? 4 : 2;
}

}  // namespace

bool pdl_enabled() {
  static const bool enabled = [] {
    if (env_or("FERRUM_CUDA_PDL", 1) == 0) return false;
    int device = 0, major = 0;
    if (cudaGetDevice(&device) != cudaSuccess) return false;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return false;
    return major >= 9;
  }();
  return enabled;
}

unsigned gemv_prefetch_bytes() {
  static const unsigned bytes = static_cast<unsigned>(std::max(0L, env_or("FERRUM_CUDA_PREFETCH", 0)));
  return bytes;
}

bool gemv_early_loads() {
  static const bool enabled = env_or("FERRUM_CUDA_GEMV_EARLY", 1) != 0;
  return enabled;
}

int gemv_split_warps() {
  static const int warps = split_warps("FERRUM_CUDA_GEMV_SPLIT", 4);
  return warps;
}

int gated_gemv_split_warps() {
  static const int warps = split_warps("FERRUM_CUDA_GATED_GEMV_SPLIT", 8);
  return warps;
}

bool decode_attention_resplit() {
  static const bool enabled = env_or("FERRUM_CUDA_DECODE_RESPLIT", 1) != 0;
  return enabled;
}

int decode_attention_threads() {
  static const int threads = env_or("FERRUM_CUDA_DECODE_THREADS", 256) >= 256 ? 256 : 128;
  return threads;
}

bool decode_attention_kernel_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("FERRUM_CUDA_DECODE_ATTENTION");
    return value == nullptr || std::string_view(value) != "v3";
  }();
  return enabled;
}

bool fused_rope_attention_enabled() {
  static const bool enabled = env_or("FERRUM_CUDA_FUSED_ROPE", 1) != 0;
  return enabled;
}

bool quant_gemv_enabled() {
  static const bool enabled = env_or("FERRUM_CUDA_QUANT_GEMV", 1) != 0;
  return enabled;
}

int quant_gemv_max_warps_per_row() {
  static const int warps = static_cast<int>(
      std::bit_floor(static_cast<unsigned long>(std::clamp(env_or("FERRUM_CUDA_QUANT_GEMV_SPLIT", 4), 1L, 8L))));
  return warps;
}

size_t quant_gemv_fill_override() {
  static const size_t fill = static_cast<size_t>(std::max(0L, env_or("FERRUM_CUDA_QUANT_GEMV_FILL", 0)));
  return fill;
}

bool quant_gemv_async_staging() {
  static const bool enabled = env_or("FERRUM_CUDA_QUANT_GEMV_ASYNC", 1) != 0;
  return enabled;
}

bool round_ahead_enabled() {
  static const bool enabled = env_or("FERRUM_CUDA_ROUND_AHEAD", 1) != 0;
  return enabled;
}

bool quant_parts_enabled() {
  static const bool enabled = env_or("FERRUM_CUDA_QUANT_PARTS", 1) != 0;
  return enabled;
}

size_t quant_gemv_max_rows(DType type, bool fragments) {
  if (!quant_gemv_enabled()) return 0;
  if (type == DType::kQ4_K || type == DType::kQ5_K) return 3;
  if (!fragments) return 8;
  return type == DType::kQ6_K ? 5 : 4;
}

namespace {

long quant_mma_rows_override() {
  static const long rows = env_or("FERRUM_CUDA_QUANT_MMA_MAX_ROWS", -1);
  return rows;
}

}  // namespace

size_t packed_mma_max_rows() {
  return quant_mma_rows_override() >= 0 ? static_cast<size_t>(quant_mma_rows_override()) : 128;
}

bool gptq_gemv_int8_x() {
  static const bool enabled = env_or("FERRUM_CUDA_GPTQ_INT8_X", 1) != 0;
  return enabled;
}

int packed_gemv_blocks_per_sm() {
  static const int blocks = static_cast<int>(std::clamp(env_or("FERRUM_CUDA_PACKED_GEMV_BLOCKS", 4), 1L, 32L));
  return blocks;
}

bool packed_gemv_enabled() {
  static const bool enabled = env_or("FERRUM_CUDA_PACKED_GEMV", 1) != 0;
  return enabled;
}

size_t paged_flash_min_rows() {
  static const size_t rows = static_cast<size_t>(std::max(0L, env_or("FERRUM_CUDA_PAGED_FLASH_MIN_ROWS", 16)));
  return rows;
}

int paged_decode_version() {
  static const int version = [] {
    const long asked = env_or("FERRUM_CUDA_PAGED_DECODE", 4);
    return asked == 0 || asked == 3 ? static_cast<int>(asked) : 4;
  }();
  return version;
}

int paged_decode_stages() {
  static const int stages = [] {
    const long asked = env_or("FERRUM_CUDA_PAGED_DECODE_STAGES", 0);
    return asked == 1 || asked == 2 ? static_cast<int>(asked) : 0;
  }();
  return stages;
}

bool paged_token_major_enabled() {
  static const bool enabled = env_or("FERRUM_CUDA_PAGED_TOKEN_MAJOR", 1) != 0;
  return enabled;
}

bool gemm_buckets_enabled() {
  static const bool enabled = env_or("FERRUM_CUDA_GEMM_BUCKETS", 1) != 0;
  return enabled;
}

bool awq_mma_enabled() {
  static const bool enabled = env_or("FERRUM_CUDA_AWQ_MMA", 1) != 0;
  return enabled;
}

bool gptq_tiled_enabled() {
  static const bool enabled = env_or("FERRUM_CUDA_GPTQ_TILED", 1) != 0;
  return enabled;
}

bool gemm_reduced_precision_reduction() {
  static const bool allowed = env_or("FERRUM_CUDA_GEMM_REDUCED_PRECISION_REDUCTION", 0) != 0;
  return allowed;
}

bool quant_mma_fragments_enabled() {
  static const bool enabled = env_or("FERRUM_CUDA_QUANT_MMA_FRAGMENTS", 1) != 0;
  return enabled;
}

bool quant_mma_wgmma_enabled() {
  static const bool enabled = env_or("FERRUM_CUDA_QUANT_MMA_WGMMA", 1) != 0;
  return enabled;
}

size_t quant_mma_max_rows(DType type, bool fragments) {
  if (quant_mma_rows_override() >= 0) return static_cast<size_t>(quant_mma_rows_override());
  if (fragments) return 128;
  switch (type) {
    case DType::kQ4_K: return 128;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ5_K: return 8;
    default: return 64;
  }
}

void apply_shared_carveout(const void* kernel, int percent) {
  static const long common = env_or("FERRUM_CUDA_CARVEOUT", 50);
  const long carveout = percent >= 0 ? percent : common;
  if (carveout < 0) return;
  static std::mutex mutex;
  static std::unordered_set<const void*> done;
  std::lock_guard lock(mutex);
  if (!done.insert(kernel).second) return;
  // A hint: a failure leaves the driver's choice, which is correct, only maybe slower.
  (void)cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                             static_cast<int>(std::min(carveout, 100L)));
}

size_t balanced_residency_pad(const void* kernel, int threads, size_t grid, int sm_count) {
  static const bool enabled = env_or("FERRUM_CUDA_BALANCED_RESIDENCY", 1) != 0;
  if (!enabled || sm_count <= 0 || grid == 0) return 0;
  const auto resident = [&](size_t pad) {
    int blocks = 0;
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, pad) == cudaSuccess ? blocks : 0;
  };
  // Both answers are kept, so a launch after the first of its shape costs two lookups.
  static std::mutex mutex;
  static std::map<const void*, int> most_blocks;                 // kernel -> blocks an SM, unpadded
  static std::map<std::pair<const void*, size_t>, size_t> pads;  // (kernel, blocks an SM wanted) -> pad
  std::lock_guard lock(mutex);
  auto [most, new_kernel] = most_blocks.try_emplace(kernel, 0);
  if (new_kernel) {
    apply_shared_carveout(kernel);  // before the first occupancy query: the answers depend on it
    most->second = resident(0);
  }
  if (most->second <= 0 || grid > static_cast<size_t>(most->second) * sm_count) return 0;
  const size_t target = (grid + sm_count - 1) / sm_count;
  if (target >= static_cast<size_t>(most->second)) return 0;
  auto [pad, new_target] = pads.try_emplace({kernel, target}, 0);
  if (new_target) {
    // Without opting in, dynamic shared memory stays below 48 KB; steps of 256 bytes (none found: 0).
    for (size_t bytes = 256; bytes < 48 * 1024; bytes += 256) {
      const int blocks = resident(bytes);
      if (blocks <= 0) break;
      if (static_cast<size_t>(blocks) <= target) {
        pad->second = bytes;
        break;
      }
    }
  }
  return pad->second;
}

}  // namespace ferrum::cuda
