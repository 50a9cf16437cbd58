// The CUDA backend's optional fused ops against the contract's op chains they replace, on random
// data: the fused kernel does the same arithmetic in the same order, so the results must be equal
// to the bit. Skips when there is no CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "backend/cuda/cuda_backend.h"

namespace ferrum {
namespace {

using B = CudaBackend;

bool has_cuda_device() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(n);
  for (float& value : values) value = dist(rng);
  return values;
}

B::Buffer upload(const std::vector<float>& values, DType dtype) {
  auto buffer = B::from_slice(values, dtype);
  EXPECT_TRUE(buffer) << buffer.error().to_string();
  return std::move(*buffer);
}

std::vector<uint16_t> bits_of(const B::Buffer& buffer) {
  std::vector<uint16_t> bits(buffer.numel());
  EXPECT_TRUE(B::to_host(buffer, std::span<uint8_t>(reinterpret_cast<uint8_t*>(bits.data()), bits.size() * 2)));
  return bits;
}

// paged_qkv_rope_write against split_qkv + qk_norm_rope (q, k; v transposed) + paged_cache_write
// (k, v), bf16, with QK-norm (mode 1) and without (mode 2); some tokens have no slot (-1).
void expect_fused_write_matches_chain(int mode) {
  constexpr size_t kTokens = 37, kHeads = 8, kKvHeads = 2, kHeadDim = 128, kBlockSize = 16, kBlocks = 9;
  constexpr size_t kHalf = kHeadDim / 2;
  std::mt19937 rng(static_cast<unsigned>(mode) * 7 + 1);
  const std::vector<float> qkv = random_floats(rng, kTokens * (kHeads + 2 * kKvHeads) * kHeadDim, -2.0f, 2.0f);
  const std::vector<float> cos = random_floats(rng, kTokens * kHalf, -1.0f, 1.0f);
  const std::vector<float> sin = random_floats(rng, kTokens * kHalf, -1.0f, 1.0f);
  const std::vector<float> q_norm = random_floats(rng, kHeadDim, 0.5f, 1.5f);
  const std::vector<float> k_norm = random_floats(rng, kHeadDim, 0.5f, 1.5f);
  std::vector<float> slots(kTokens);
  std::vector<size_t> order(kBlocks * kBlockSize);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t t = 0; t < kTokens; ++t) slots[t] = t % 6 == 4 ? -1.0f : static_cast<float>(order[t]);

  const size_t pool_numel = kBlocks * kKvHeads * kBlockSize * kHeadDim;
  B::Buffer qkv_buffer = upload(qkv, DType::kBF16), cos_buffer = upload(cos, DType::kF32),
            sin_buffer = upload(sin, DType::kF32), q_norm_buffer = upload(q_norm, DType::kF32),
            k_norm_buffer = upload(k_norm, DType::kF32), slot_buffer = upload(slots, DType::kI32);
  const auto alloc = [](size_t n) {
    auto buffer = B::alloc(n, DType::kBF16);
    EXPECT_TRUE(buffer);
    return std::move(*buffer);
  };
  B::Buffer fused_q = alloc(kHeads * kTokens * kHeadDim), fused_k = alloc(pool_numel), fused_v = alloc(pool_numel);
  B::Buffer chain_q = alloc(kHeads * kTokens * kHeadDim), chain_k = alloc(pool_numel), chain_v = alloc(pool_numel);
  B::Buffer q = alloc(kTokens * kHeads * kHeadDim), k = alloc(kTokens * kKvHeads * kHeadDim),
            v = alloc(kTokens * kKvHeads * kHeadDim), k_heads = alloc(kKvHeads * kTokens * kHeadDim),
            v_heads = alloc(kKvHeads * kTokens * kHeadDim);
  auto ctx = B::new_context();
  const float eps = 1e-6f;
  ASSERT_TRUE(B::paged_qkv_rope_write(ctx, qkv_buffer, q_norm_buffer, k_norm_buffer, cos_buffer, sin_buffer, fused_q,
                                      fused_k, fused_v, slot_buffer, kTokens, kHeads, kKvHeads, kHeadDim, kBlockSize,
                                      eps, mode));
  ASSERT_TRUE(B::split_qkv(ctx, qkv_buffer, q, k, v, kTokens, kHeads * kHeadDim, kKvHeads * kHeadDim));
  ASSERT_TRUE(
      B::qk_norm_rope(ctx, q, q_norm_buffer, cos_buffer, sin_buffer, chain_q, kTokens, kHeads, kHeadDim, 0, eps, mode));
  ASSERT_TRUE(B::qk_norm_rope(ctx, k, k_norm_buffer, cos_buffer, sin_buffer, k_heads, kTokens, kKvHeads, kHeadDim, 0,
                              eps, mode));
  ASSERT_TRUE(B::qk_norm_rope(ctx, v, k_norm_buffer, cos_buffer, sin_buffer, v_heads, kTokens, kKvHeads, kHeadDim, 0,
                              eps, kQkTransposeOnly));
  ASSERT_TRUE(B::paged_cache_write(ctx, chain_k, k_heads, slot_buffer, kTokens, kKvHeads, kHeadDim, kBlockSize));
  ASSERT_TRUE(B::paged_cache_write(ctx, chain_v, v_heads, slot_buffer, kTokens, kKvHeads, kHeadDim, kBlockSize));
  ASSERT_TRUE(B::sync(ctx));
  EXPECT_EQ(bits_of(fused_q), bits_of(chain_q)) << "q, mode " << mode;
  EXPECT_EQ(bits_of(fused_k), bits_of(chain_k)) << "K pool, mode " << mode;
  EXPECT_EQ(bits_of(fused_v), bits_of(chain_v)) << "V pool, mode " << mode;
}

TEST(CudaFusedOps, PagedQkvRopeWriteMatchesTheOpChain) {
  if (!has_cuda_device()) GTEST_SKIP() << "no CUDA device";
  expect_fused_write_matches_chain(kQkRope);
  expect_fused_write_matches_chain(kQkNormRope);
}

TEST(CudaFusedOps, PagedQkvRopeWriteRejectsPartialPools) {
  if (!has_cuda_device()) GTEST_SKIP() << "no CUDA device";
  auto ctx = B::new_context();
  B::Buffer qkv = upload(std::vector<float>(2 * 6 * 8), DType::kBF16),
            rows = upload(std::vector<float>(2 * 4), DType::kF32);
  B::Buffer q = upload(std::vector<float>(2 * 4 * 8), DType::kBF16),
            pool = upload(std::vector<float>(100), DType::kBF16);
  B::Buffer pool_v = upload(std::vector<float>(100), DType::kBF16), slots = upload({0, 1}, DType::kI32);
  const Status status =
      B::paged_qkv_rope_write(ctx, qkv, rows, rows, rows, rows, q, pool, pool_v, slots, 2, 4, 1, 8, 4, 1e-6f, kQkRope);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kShapeMismatch);
}

}  // namespace
}  // namespace ferrum
