// Random GGUF blocks for comparing kernels with their references: random bytes make every bit
// pattern of the packed fields appear, and the f16 scale fields are overwritten with finite values
// in [-2, 2] so that NaN != NaN cannot hide a mismatch.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace ferrum::quant_test {

std::vector<uint8_t> random_blocks(DType type, size_t blocks, uint32_t seed);

}  // namespace ferrum::quant_test
