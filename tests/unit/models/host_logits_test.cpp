// HostLogits: the host storage CausalLm::forward returns, reused between steps.
#include "models/host_logits.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "backend/cpu/cpu_backend.h"

namespace ferrum {
namespace {

using B = CpuBackend;

TEST(HostLogits, HoldsWhatToHostWritesAndGrows) {
  HostLogits<B> logits;
  for (size_t n : {size_t{5}, size_t{3}, size_t{1000}}) {
    std::vector<float> values(n);
    std::iota(values.begin(), values.end(), static_cast<float>(n));
    auto buffer = B::from_slice(values, DType::kF32);
    ASSERT_TRUE(buffer) << buffer.error().to_string();
    auto room = logits.resize(n);
    ASSERT_TRUE(room) << room.error().to_string();
    ASSERT_EQ(room->size(), n);
    ASSERT_TRUE(B::to_host(*buffer, logits.bytes()));
    ASSERT_EQ(logits.view().size(), n);
    EXPECT_EQ(std::vector<float>(logits.view().begin(), logits.view().end()), values);
  }
}

// A backend whose page-locked allocations always fail: storage falls back to pageable memory, and
// the failing allocation is not retried at every step.
struct NoPinnedMemory {
  struct HostMemory {
    std::span<uint8_t> bytes() { return {}; }
  };
  static inline int attempts = 0;
  static Expected<HostMemory> alloc_host(size_t) {
    ++attempts;
    return Error(ErrorCode::kOutOfMemory, "no page-locked memory here");
  }
};

TEST(HostLogits, FallsBackToPageableMemoryOnceWhenPageLockedMemoryFails) {
  detail::HostFloats<NoPinnedMemory> storage;
  for (size_t n : {size_t{16}, size_t{16}, size_t{64}}) {
    auto room = storage.resize(n);
    ASSERT_TRUE(room) << room.error().to_string();
    ASSERT_EQ(room->size(), n);
    (*room)[n - 1] = 1.0f;  // writable
  }
  EXPECT_EQ(NoPinnedMemory::attempts, 1);
}

}  // namespace
}  // namespace ferrum
