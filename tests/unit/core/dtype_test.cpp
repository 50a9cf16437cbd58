#include "core/dtype.h"
#include "core/tensor_view.h"

#include <gtest/gtest.h>

#include <vector>

namespace ferrum {
namespace {

TEST(DType, BlockSizesMatchGgml) {
  EXPECT_EQ(*dtype_bytes(DType::kQ4_0, 64), 36u);
  EXPECT_EQ(*dtype_bytes(DType::kQ4_K, 256), 144u);
  EXPECT_EQ(*dtype_bytes(DType::kQ6_K, 512), 420u);
  EXPECT_EQ(*dtype_bytes(DType::kQ2_K, 256), 84u);
  EXPECT_EQ(*dtype_bytes(DType::kQ3_K, 256), 110u);
  EXPECT_EQ(*dtype_bytes(DType::kQ5_K, 256), 176u);
  EXPECT_EQ(*dtype_bytes(DType::kBF16, 3), 6u);
}

TEST(DType, RejectsPartialBlocksAndOverflow) {
  Expected<size_t> partial = dtype_bytes(DType::kQ8_0, 33);
  ASSERT_FALSE(partial);
  EXPECT_EQ(partial.error().code(), ErrorCode::kShapeMismatch);
  EXPECT_FALSE(dtype_bytes(DType::kF64, ~size_t{0} / 2));
}

TEST(DType, ParsesNames) {
  EXPECT_EQ(parse_dtype("Q4_K"), DType::kQ4_K);
  EXPECT_EQ(parse_dtype("bf16"), DType::kBF16);
  EXPECT_FALSE(parse_dtype("q9_9").has_value());
}

TEST(TensorView, ShapesAndSlices) {
  float data[24];
  TensorView view(data, DType::kF32, Shape{2, 3, 4});
  EXPECT_EQ(view.numel(), 24);
  EXPECT_TRUE(view.is_contiguous());
  EXPECT_EQ(view.nbytes(), 96u);
  TensorView second = view.slice_outer(1);
  EXPECT_EQ(second.shape(), (Shape{3, 4}));
  EXPECT_EQ(second.data_as<float>(), data + 12);
  EXPECT_EQ(view.shape().to_string(), "[2, 3, 4]");
}

// A zero dim must not hide an overflowing product of the others (found by fuzz-gguf: the
// strides of [0, 2^32, 2^32] overflow even though the element count is 0).
TEST(Shape, CheckedNumelRejectsOverflowBehindAZeroDim) {
  const int64_t big = int64_t{1} << 32;
  EXPECT_EQ(Shape::checked_numel(std::vector<int64_t>{2, 3, 4}), 24);
  EXPECT_EQ(Shape::checked_numel(std::vector<int64_t>{5, 0, 7}), 0);
  EXPECT_EQ(Shape::checked_numel(std::vector<int64_t>{}), 1);
  EXPECT_FALSE(Shape::checked_numel(std::vector<int64_t>{big, big}));
  EXPECT_FALSE(Shape::checked_numel(std::vector<int64_t>{0, big, big}));
  EXPECT_FALSE(Shape::checked_numel(std::vector<int64_t>{big, 0, big}));
  EXPECT_FALSE(Shape::checked_numel(std::vector<int64_t>{-1, 2}));
}

}  // namespace
}  // namespace ferrum
