// The GGUF quant kinds and their block dtypes map onto each other both ways (the loader names a
// GGUF weight's kind from its dtype).
#include <gtest/gtest.h>

#include "backend/backend_types.h"

namespace ferrum {
namespace {

TEST(GgufQuantType, RoundTripsThroughItsDType) {
  for (GgufQuantType type :
       {GgufQuantType::kQ4_0, GgufQuantType::kQ4_1, GgufQuantType::kQ5_0, GgufQuantType::kQ5_1, GgufQuantType::kQ8_0,
        GgufQuantType::kQ2_K, GgufQuantType::kQ3_K, GgufQuantType::kQ4_K, GgufQuantType::kQ5_K, GgufQuantType::kQ6_K}) {
    EXPECT_EQ(gguf_quant_type(gguf_quant_dtype(type)), type) << dtype_name(gguf_quant_dtype(type));
  }
}

}  // namespace
}  // namespace ferrum
