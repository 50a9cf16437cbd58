// CudaBackend: scatter_add_rows (mixture-of-experts combine) and im2col (convolution patches).
// Argument checks follow the CPU backend's order and error codes; the CUDA versions also take
// bf16 / f16 activations (x or src and out must share the dtype).
#include <cuda_runtime.h>

#include <cstring>
#include <vector>

#include "backend/cuda/backend_checks.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/patches.h"

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

Status check_patch_operands(std::string_view op, const CudaBuffer& x, const CudaBuffer& out) {
  FERRUM_TRY(cuda::check_float(op, "x", x));
  FERRUM_TRY(cuda::check_same_dtype(op, "out", out, "x", x));
  return ok();
}

}  // namespace

Status CudaBackend::scatter_add_rows(CudaContext& ctx, const CudaBuffer& src, std::span<const uint32_t> ids,
                                     std::span<const float> weights, CudaBuffer& out, size_t cols) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "scatter_add_rows";
  FERRUM_TRY(cuda::check_float(op, "src", src));
  FERRUM_TRY(cuda::check_same_dtype(op, "out", out, "src", src));
  FERRUM_CHECK(weights.size() == ids.size(), ErrorCode::kShapeMismatch, op, ": ", weights.size(), " weights for ",
               ids.size(), " ids");
  FERRUM_TRY(check_numel(op, "src", src, {ids.size(), cols}));
  if (ids.empty() || cols == 0) return ok();
  const size_t rows = out.numel() / cols;
  // Distinct ids give every output row one writer, so the kernel needs no atomics.
  std::vector<bool> seen(rows, false);
  for (size_t i = 0; i < ids.size(); ++i) {
    FERRUM_CHECK(ids[i] < rows, ErrorCode::kOutOfRange, op, ": ids[", i, "] = ", ids[i], " is not below out's ", rows,
                 " rows of ", cols);
    FERRUM_CHECK(!seen[ids[i]], ErrorCode::kInvalidArgument, op, ": ids[", i, "] = ", ids[i],
                 " repeats an earlier id (ids must be distinct)");
    seen[ids[i]] = true;
  }
  // ids then weights, staged together: one copy, ordered on the stream before the kernel.
  std::vector<uint8_t> staged(ids.size_bytes() + weights.size_bytes());
  std::memcpy(staged.data(), ids.data(), ids.size_bytes());
  std::memcpy(staged.data() + ids.size_bytes(), weights.data(), weights.size_bytes());
  FERRUM_ASSIGN_OR_RETURN(void* device, ctx.scratch(ScratchSlot::kScatterArgs, staged.size()));
  FERRUM_CUDA_TRY(cudaMemcpyAsync(device, staged.data(), staged.size(), cudaMemcpyHostToDevice, ctx.stream()),
                  "(scatter_add_rows ids and weights)");
  const auto* device_ids = static_cast<const uint32_t*>(device);
  const auto* device_weights = reinterpret_cast<const float*>(static_cast<const uint8_t*>(device) + ids.size_bytes());
  return cuda::launch_scatter_add_rows(src.data(), device_ids, device_weights, out.data(), src.dtype(), ids.size(),
                                       cols, ctx.stream());
}

Status CudaBackend::im2col_1d(CudaContext& ctx, const CudaBuffer& x, CudaBuffer& out, size_t channels, size_t length,
                              size_t kernel, size_t stride, size_t padding) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "im2col_1d";
  FERRUM_TRY(check_patch_operands(op, x, out));
  FERRUM_ASSIGN_OR_RETURN(size_t out_length, output_extent(op, "length", length, kernel, stride, padding));
  FERRUM_TRY(check_numel(op, "x", x, {channels, length}));
  FERRUM_ASSIGN_OR_RETURN(size_t row, checked_product(op, {channels, kernel}));
  FERRUM_TRY(check_numel(op, "out", out, {out_length, row}));
  FERRUM_CHECK(x.data() != out.data(), ErrorCode::kInvalidArgument, op, ": x and out are the same buffer");
  cuda::Im2colArgs args;
  args.x = x.data();
  args.out = out.data();
  args.dtype = x.dtype();
  args.channels = channels;
  args.height = 1;
  args.width = length;
  args.kernel_h = 1;
  args.kernel_w = kernel;
  args.stride = stride;
  args.pad_w = padding;
  args.out_h = 1;
  args.out_w = out_length;
  return cuda::launch_im2col(args, ctx.stream());
}

Status CudaBackend::im2col_2d(CudaContext& ctx, const CudaBuffer& x, CudaBuffer& out, size_t channels, size_t height,
                              size_t width, size_t kernel, size_t stride, size_t padding) {
  FERRUM_TRY(ctx.usable());
  constexpr std::string_view op = "im2col_2d";
  FERRUM_TRY(check_patch_operands(op, x, out));
  FERRUM_ASSIGN_OR_RETURN(size_t out_h, output_extent(op, "height", height, kernel, stride, padding));
  FERRUM_ASSIGN_OR_RETURN(size_t out_w, output_extent(op, "width", width, kernel, stride, padding));
  FERRUM_TRY(check_numel(op, "x", x, {channels, height, width}));
  FERRUM_ASSIGN_OR_RETURN(size_t row, checked_product(op, {channels, kernel, kernel}));
  FERRUM_TRY(check_numel(op, "out", out, {out_h, out_w, row}));
  FERRUM_CHECK(x.data() != out.data(), ErrorCode::kInvalidArgument, op, ": x and out are the same buffer");
  cuda::Im2colArgs args;
  args.x = x.data();
  args.out = out.data();
  args.dtype = x.dtype();
  args.channels = channels;
  args.height = height;
  args.width = width;
  args.kernel_h = kernel;
  args.kernel_w = kernel;
  args.stride = stride;
  args.pad_h = padding;
  args.pad_w = padding;
  args.out_h = out_h;
  args.out_w = out_w;
  return cuda::launch_im2col(args, ctx.stream());
}

}  // namespace ferrum
