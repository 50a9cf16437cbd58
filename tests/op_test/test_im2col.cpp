// im2col_1d and im2col_2d (convolution patches): Whisper's two front-end convolutions and CLIP's
// patch embedding at their real sizes, plus padding wider than the kernel (all-zero rows), a kernel
// as long as the input, strides that skip input, non-square images, and the error paths.
#include "op_test.h"
#include "reference_ops.h"

namespace ferrum::op_test {
namespace {

struct Conv1dShape {
  size_t channels, length, kernel, stride, padding;
  bool heavy;
};
constexpr Conv1dShape kShapes1d[] = {
    {80, 3000, 3, 1, 1, false},  // Whisper conv1 (80 mel bins, 30 s)
    {384, 3000, 3, 2, 1, true},  // Whisper tiny's conv2
    {1, 1, 1, 1, 0, false},      // one sample
    {3, 17, 5, 3, 2, false},     // stride that skips samples, odd length
    {7, 10, 10, 1, 0, false},    // kernel as long as the input: one output row
    {2, 5, 3, 2, 4, false},      // padding wider than the kernel: leading and trailing zero rows
};

struct Conv2dShape {
  size_t channels, height, width, kernel, stride, padding;
  bool heavy;
};
constexpr Conv2dShape kShapes2d[] = {
    {3, 224, 224, 32, 32, 0, false},  // CLIP ViT-B/32 patches
    {3, 224, 224, 14, 14, 0, true},   // ViT-L/14
    {3, 32, 32, 8, 8, 0, false},      // the hf-tiny CLIP
    {2, 7, 5, 3, 2, 1, false},        // non-square, overlapping, padded
    {1, 1, 1, 1, 1, 0, false},       {4, 9, 9, 4, 3, 2, false},
};

template <Backend B>
CaseResult run_im2col_1d(const Conv1dShape& s) {
  Rng rng(s.channels * 7 + s.length + s.kernel);
  const std::vector<float> x = random_values(rng, s.channels * s.length, DType::kF32);
  const size_t out_length = (s.length + 2 * s.padding - s.kernel) / s.stride + 1;
  const size_t out_numel = out_length * s.channels * s.kernel;
  OP_ASSIGN(auto x_buffer, upload<B>(x, DType::kF32));
  // Random contents, so positions the op forgets to write (the padding zeros) show up.
  OP_ASSIGN(auto out, upload<B>(random_values(rng, out_numel, DType::kF32), DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::im2col_1d(ctx, x_buffer, out, s.channels, s.length, s.kernel, s.stride, s.padding));
  OP_ASSIGN(auto actual, download<B>(ctx, out, out_numel));
  return compare(actual, ref::im2col_1d(x, s.channels, s.length, s.kernel, s.stride, s.padding), kExact);
}

template <Backend B>
CaseResult run_im2col_2d(const Conv2dShape& s) {
  Rng rng(s.channels * 11 + s.height + s.width + s.kernel);
  const std::vector<float> x = random_values(rng, s.channels * s.height * s.width, DType::kF32);
  const size_t out_h = (s.height + 2 * s.padding - s.kernel) / s.stride + 1;
  const size_t out_w = (s.width + 2 * s.padding - s.kernel) / s.stride + 1;
  const size_t out_numel = out_h * out_w * s.channels * s.kernel * s.kernel;
  OP_ASSIGN(auto x_buffer, upload<B>(x, DType::kF32));
  OP_ASSIGN(auto out, upload<B>(random_values(rng, out_numel, DType::kF32), DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::im2col_2d(ctx, x_buffer, out, s.channels, s.height, s.width, s.kernel, s.stride, s.padding));
  OP_ASSIGN(auto actual, download<B>(ctx, out, out_numel));
  return compare(actual, ref::im2col_2d(x, s.channels, s.height, s.width, s.kernel, s.stride, s.padding), kExact);
}

template <Backend B>
void add_error_cases(CaseList& cases) {
  using Buffer = typename B::Buffer;
  auto conv1d = [](size_t out_numel, DType x_dtype, size_t kernel, size_t stride, size_t padding) -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(2 * 8, x_dtype));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(out_numel, DType::kF32));
    auto ctx = B::new_context();
    return B::im2col_1d(ctx, x, out, 2, 8, kernel, stride, padding);
  };
  // Two channels of 8 samples, kernel 3, stride 1, padding 1: 8 rows of 6.
  add_error_case<B>(cases, "im2col_1d", "out too small", ErrorCode::kShapeMismatch,
                    [=] { return conv1d(8 * 6 - 1, DType::kF32, 3, 1, 1); });
  add_error_case<B>(cases, "im2col_1d", "kernel longer than the padded input", ErrorCode::kInvalidArgument,
                    [=] { return conv1d(1000, DType::kF32, 11, 1, 1); });
  add_error_case<B>(cases, "im2col_1d", "stride 0", ErrorCode::kInvalidArgument,
                    [=] { return conv1d(1000, DType::kF32, 3, 0, 1); });
  add_error_case<B>(cases, "im2col_1d", "bf16 x", ErrorCode::kUnsupported,
                    [=] { return conv1d(1000, DType::kBF16, 3, 1, 1); });
  add_error_case<B>(cases, "im2col_2d", "x too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(3 * 8 * 8 - 1, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(4 * 3 * 4 * 4, DType::kF32));
    auto ctx = B::new_context();
    return B::im2col_2d(ctx, x, out, 3, 8, 8, 4, 4, 0);
  });
  add_error_case<B>(cases, "im2col_2d", "kernel 0", ErrorCode::kInvalidArgument, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(3 * 8 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(1000, DType::kF32));
    auto ctx = B::new_context();
    return B::im2col_2d(ctx, x, out, 3, 8, 8, 0, 4, 0);
  });
  add_error_case<B>(cases, "im2col_2d", "in place", ErrorCode::kInvalidArgument, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(1000, DType::kF32));
    auto ctx = B::new_context();
    return B::im2col_2d(ctx, x, x, 1, 4, 4, 2, 2, 0);
  });
}

template <Backend B>
void add_cases(CaseList& cases) {
  for (const Conv1dShape& s : kShapes1d) {
    add_case<B>(cases, "im2col_1d",
                shape_name({{"channels", s.channels},
                            {"length", s.length},
                            {"kernel", s.kernel},
                            {"stride", s.stride},
                            {"padding", s.padding}}),
                "f32", s.heavy, [s] { return run_im2col_1d<B>(s); });
  }
  for (const Conv2dShape& s : kShapes2d) {
    add_case<B>(cases, "im2col_2d",
                shape_name({{"channels", s.channels},
                            {"h", s.height},
                            {"w", s.width},
                            {"kernel", s.kernel},
                            {"stride", s.stride},
                            {"padding", s.padding}}),
                "f32", s.heavy, [s] { return run_im2col_2d<B>(s); });
  }
  add_error_cases<B>(cases);
}

}  // namespace

void add_im2col_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
