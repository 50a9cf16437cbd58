// HostLogits on the CUDA backend: page-locked storage (alloc_host) that to_host fills with one DMA.
// Skips when there is no CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "models/host_logits.h"

namespace ferrum {
namespace {

using B = CudaBackend;

TEST(CudaHostLogits, PageLockedStorageHoldsWhatToHostWrites) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) GTEST_SKIP() << "no CUDA device";
  static_assert(requires(size_t bytes) { B::alloc_host(bytes); });
  HostLogits<B> logits;
  const float* first_storage = nullptr;
  for (size_t n : {size_t{128256}, size_t{7}, size_t{200000}}) {
    std::vector<float> values(n);
    std::iota(values.begin(), values.end(), 0.5f);
    auto buffer = B::from_slice(values, DType::kF32);
    ASSERT_TRUE(buffer) << buffer.error().to_string();
    ASSERT_TRUE(logits.resize(n));
    cudaPointerAttributes attributes{};
    ASSERT_EQ(cudaPointerGetAttributes(&attributes, logits.view().data()), cudaSuccess);
    EXPECT_EQ(attributes.type, cudaMemoryTypeHost) << "the storage is not page-locked";
    if (first_storage == nullptr) first_storage = logits.view().data();
    if (n == 7) {
      EXPECT_EQ(logits.view().data(), first_storage) << "a smaller resize reallocated";
    }
    ASSERT_TRUE(B::to_host(*buffer, logits.bytes()));
    EXPECT_EQ(std::vector<float>(logits.view().begin(), logits.view().end()), values);
  }
}

}  // namespace
}  // namespace ferrum
