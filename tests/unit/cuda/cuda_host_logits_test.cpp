// HostLogits on the CUDA backend: page-locked storage (alloc_host) that to_host fills with one DMA,
// and to_host_async, which queues that DMA behind a step.
// Skips when there is no CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
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

// to_host_async is queued behind the stream's work: a 64 MB device copy queued just before it must
// be complete in what it reads (a copy on another stream, or before the queue drained, would read
// the destination's zeros).
TEST(CudaHostLogits, ToHostAsyncReadsAfterTheWorkQueuedBeforeIt) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) GTEST_SKIP() << "no CUDA device";
  constexpr size_t kFloats = size_t{16} << 20;
  std::vector<float> values(kFloats);
  std::iota(values.begin(), values.end(), 1.0f);
  auto source = B::from_slice(values, DType::kF32);
  auto destination = B::alloc(kFloats, DType::kF32);
  ASSERT_TRUE(source && destination);
  HostLogits<B> logits;
  ASSERT_TRUE(logits.resize(kFloats));
  auto ctx = B::new_context();
  ASSERT_TRUE(B::copy_slice(ctx, *source, 0, *destination, 0, kFloats));
  ASSERT_TRUE(B::to_host_async(ctx, *destination, logits.bytes()));
  ASSERT_TRUE(B::sync(ctx));
  EXPECT_TRUE(std::equal(values.begin(), values.end(), logits.view().begin()));

  // More bytes than the buffer holds: an error, and nothing queued.
  std::vector<uint8_t> too_many(kFloats * sizeof(float) + 1);
  EXPECT_FALSE(B::to_host_async(ctx, *destination, too_many));
  EXPECT_TRUE(B::sync(ctx));
}

}  // namespace
}  // namespace ferrum
