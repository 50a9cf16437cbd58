// HostLogits: the host storage CausalLm::forward returns, reused between steps.
#include "models/host_logits.h"

#include <gtest/gtest.h>

#include <numeric>
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

}  // namespace
}  // namespace ferrum
