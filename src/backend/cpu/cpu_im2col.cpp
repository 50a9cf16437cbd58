// im2col_1d and im2col_2d: the patch matrices that turn a convolution into one gemm.
//
// Each output row is one output position; its columns run over (channel, kernel offset) in the
// order PyTorch stores convolution weights, so the weight needs no reordering. Rows are
// independent, so they are spread over the pool; padding reads as zeros.
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/op_checks.h"

namespace ferrum {
namespace {

// Output positions along one axis, or an error when the kernel does not fit the padded input.
Expected<size_t> output_extent(std::string_view op, std::string_view axis, size_t extent, size_t kernel, size_t stride,
                               size_t padding) {
  FERRUM_TRY(check_positive(op, "kernel", kernel));
  FERRUM_TRY(check_positive(op, "stride", stride));
  FERRUM_CHECK(padding <= (SIZE_MAX - extent) / 2, ErrorCode::kOutOfRange, op, ": padding ", padding, " overflows");
  const size_t padded = extent + 2 * padding;
  FERRUM_CHECK(padded >= kernel, ErrorCode::kInvalidArgument, op, ": kernel ", kernel, " is larger than the padded ",
               axis, " ", padded, " (", extent, " + 2 x padding ", padding, ")");
  return (padded - kernel) / stride + 1;
}

// Index `position + offset - padding` into [0, extent), or -1 when it falls into the padding.
inline ptrdiff_t source_index(size_t position, size_t offset, size_t padding, size_t extent) {
  const ptrdiff_t index = static_cast<ptrdiff_t>(position + offset) - static_cast<ptrdiff_t>(padding);
  return index >= 0 && index < static_cast<ptrdiff_t>(extent) ? index : -1;
}

}  // namespace

Status CpuBackend::im2col_1d(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& out, size_t channels, size_t length,
                             size_t kernel, size_t stride, size_t padding) {
  constexpr std::string_view op = "im2col_1d";
  FERRUM_TRY(check_dtype(op, "x", x, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_ASSIGN_OR_RETURN(size_t out_length, output_extent(op, "length", length, kernel, stride, padding));
  FERRUM_TRY(check_numel(op, "x", x, {channels, length}));
  FERRUM_ASSIGN_OR_RETURN(size_t row, checked_product(op, {channels, kernel}));
  FERRUM_TRY(check_numel(op, "out", out, {out_length, row}));
  FERRUM_CHECK(x.data() != out.data(), ErrorCode::kInvalidArgument, op, ": x and out are the same buffer");
  const float* src = x.data_as<float>();
  float* dst = out.data_as<float>();
  cpu::parallel_for(ctx, out_length, cpu::grain_for(row), [&](size_t begin, size_t end) {
    for (size_t t = begin; t < end; ++t) {
      float* out_row = dst + t * row;
      for (size_t c = 0; c < channels; ++c) {
        for (size_t k = 0; k < kernel; ++k) {
          const ptrdiff_t i = source_index(t * stride, k, padding, length);
          out_row[c * kernel + k] = i < 0 ? 0.0f : src[c * length + static_cast<size_t>(i)];
        }
      }
    }
  });
  return ok();
}

Status CpuBackend::im2col_2d(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& out, size_t channels, size_t height,
                             size_t width, size_t kernel, size_t stride, size_t padding) {
  constexpr std::string_view op = "im2col_2d";
  FERRUM_TRY(check_dtype(op, "x", x, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_ASSIGN_OR_RETURN(size_t out_h, output_extent(op, "height", height, kernel, stride, padding));
  FERRUM_ASSIGN_OR_RETURN(size_t out_w, output_extent(op, "width", width, kernel, stride, padding));
  FERRUM_TRY(check_numel(op, "x", x, {channels, height, width}));
  FERRUM_ASSIGN_OR_RETURN(size_t row, checked_product(op, {channels, kernel, kernel}));
  FERRUM_TRY(check_numel(op, "out", out, {out_h, out_w, row}));
  FERRUM_CHECK(x.data() != out.data(), ErrorCode::kInvalidArgument, op, ": x and out are the same buffer");
  const float* src = x.data_as<float>();
  float* dst = out.data_as<float>();
  cpu::parallel_for(ctx, out_h * out_w, cpu::grain_for(row), [&](size_t begin, size_t end) {
    for (size_t position = begin; position < end; ++position) {
      const size_t oy = position / out_w;
      const size_t ox = position % out_w;
      float* out_row = dst + position * row;
      for (size_t c = 0; c < channels; ++c) {
        for (size_t ky = 0; ky < kernel; ++ky) {
          float* taps = out_row + (c * kernel + ky) * kernel;
          const ptrdiff_t y = source_index(oy * stride, ky, padding, height);
          if (y < 0) {
            std::memset(taps, 0, kernel * sizeof(float));
            continue;
          }
          const float* image_row = src + (c * height + static_cast<size_t>(y)) * width;
          for (size_t kx = 0; kx < kernel; ++kx) {
            const ptrdiff_t xi = source_index(ox * stride, kx, padding, width);
            taps[kx] = xi < 0 ? 0.0f : image_row[xi];
          }
        }
      }
    }
  });
  return ok();
}

}  // namespace ferrum
