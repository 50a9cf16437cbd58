#include "backend/cuda/kernels/launch_settings.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>

namespace ferrum::cuda {
namespace {

long env_or(const char* name, long fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  return std::strtol(value, nullptr, 10);
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
  static const unsigned bytes = static_cast<unsigned>(std::max(0L, env_or("FERRUM_CUDA_PREFETCH", 2048)));
  return bytes;
}

}  // namespace ferrum::cuda
