// Balanced residency of the one-row GGUF GEMVs (launch_settings.h: balanced_residency_pad): a grid
// of under one wave is held to ceil(grid / SMs) blocks an SM, so a launch that starts early under
// PDL cannot pile onto the SMs that free first, and the padding never pushes it past one wave.
// Skips when there is no CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "backend/cuda/kernels/quant_gemv.h"
#include "core/dtype.h"

namespace ferrum {
namespace {

struct Shape {
  DType type;
  size_t n, k;
  bool exact = true;  // false: so few blocks that the cap would need over 48 KB of padding
};

TEST(CudaGemvResidency, UnderOneWaveSpreadsEvenlyAndStaysOneWave) {
  int count = 0, sms = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) GTEST_SKIP() << "no CUDA device";
  ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
  // Llama-3.1-8B's decode shapes (o, down, k / v, q / k / v, gate / up, lm_head) and small ones.
  const Shape shapes[] = {{DType::kQ8_0, 4096, 14336},     {DType::kQ8_0, 4096, 4096},    {DType::kQ8_0, 6144, 4096},
                          {DType::kQ8_0, 28672, 4096},     {DType::kQ8_0, 128256, 4096},  {DType::kQ4_K, 1024, 4096},
                          {DType::kQ4_K, 4096, 4096},      {DType::kQ6_K, 1024, 4096},    {DType::kQ6_K, 4096, 14336},
                          {DType::kQ4_0, 256, 512, false}, {DType::kQ5_K, 64, 256, false}};
  // Only the weight's alignment is read: a 256-byte aligned address stands for an uploaded weight.
  const void* weight = reinterpret_cast<const void*>(uintptr_t{256});
  for (const Shape& shape : shapes) {
    for (size_t m : {size_t{1}, size_t{4}}) {
      cuda::QuantGemvArgs args{nullptr, DType::kF32, weight, shape.type, nullptr, DType::kF32, m, shape.n, shape.k};
      const std::string what = std::string(dtype_name(shape.type)) + " m=" + std::to_string(m) +
                               " n=" + std::to_string(shape.n) + " k=" + std::to_string(shape.k);
      const cuda::QuantGemvResidency unbalanced = cuda::quant_gemv_residency(args);
      args.sm_count = sms;
      const cuda::QuantGemvResidency balanced = cuda::quant_gemv_residency(args);
      ASSERT_GT(unbalanced.blocks_per_sm, 0) << what;
      EXPECT_EQ(balanced.grid, unbalanced.grid) << what;
      const size_t one_wave = static_cast<size_t>(unbalanced.blocks_per_sm) * sms;
      if (unbalanced.grid <= one_wave) {
        const size_t even = (unbalanced.grid + sms - 1) / sms;
        if (shape.exact) {
          EXPECT_EQ(static_cast<size_t>(balanced.blocks_per_sm), even) << what;
        }
        EXPECT_LE(balanced.blocks_per_sm, unbalanced.blocks_per_sm) << what;
        EXPECT_LE(balanced.grid, static_cast<size_t>(balanced.blocks_per_sm) * sms) << what << ": past one wave";
      } else {
        EXPECT_EQ(balanced.blocks_per_sm, unbalanced.blocks_per_sm) << what << ": a multi-wave grid was padded";
      }
    }
  }
}

}  // namespace
}  // namespace ferrum
