#include "unit/quant/random_blocks.h"

#include <cstddef>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "quant/block_types.h"

namespace ferrum::quant_test {
namespace {

// Byte offsets of the f16 fields of one block.
std::vector<size_t> f16_fields(DType type) {
  using namespace quant;
  switch (type) {
    case DType::kQ4_0:
    case DType::kQ5_0:
    case DType::kQ8_0: return {0};
    case DType::kQ4_1:
    case DType::kQ5_1:
    case DType::kQ8_1:
    case DType::kQ4_K:
    case DType::kQ5_K: return {0, 2};
    case DType::kQ2_K: return {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
    case DType::kQ3_K: return {offsetof(BlockQ3_K, d)};
    case DType::kQ6_K: return {offsetof(BlockQ6_K, d)};
    default: return {};
  }
}

}  // namespace

std::vector<uint8_t> random_blocks(DType type, size_t blocks, uint32_t seed) {
  std::mt19937 rng(seed);
  const size_t stride = dtype_info(type).block_bytes;
  std::vector<uint8_t> bytes(blocks * stride);
  for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-2.0f, 2.0f);
  for (size_t b = 0; b < blocks; ++b) {
    for (size_t offset : f16_fields(type)) {
      const f16 value = to_f16(scale(rng));
      std::memcpy(bytes.data() + b * stride + offset, &value, sizeof value);
    }
  }
  return bytes;
}

}  // namespace ferrum::quant_test
