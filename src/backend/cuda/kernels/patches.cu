#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/patches.h"

namespace ferrum::cuda {
namespace {

constexpr unsigned kThreads = 256;

// Block (x, i): columns of row ids[i]; grid-strided over columns.
template <class A>
__global__ void scatter_add_rows_kernel(const A* __restrict__ src, const uint32_t* __restrict__ ids,
                                        const float* __restrict__ weights, A* out, size_t cols) {
  const size_t i = blockIdx.y;
  const float weight = weights[i];
  const A* row = src + i * cols;
  A* target = out + static_cast<size_t>(ids[i]) * cols;
  for (size_t c = blockIdx.x * size_t{blockDim.x} + threadIdx.x; c < cols; c += size_t{gridDim.x} * blockDim.x) {
    target[c] = from_f32<A>(fmaf(to_f32(row[c]), weight, to_f32(target[c])));
  }
}

// One thread per output element; consecutive threads write consecutive columns of a patch row.
template <class A>
__global__ void im2col_kernel(const A* __restrict__ x, A* __restrict__ out, Im2colArgs a) {
  const size_t row = a.channels * a.kernel_h * a.kernel_w;
  const size_t total = a.out_h * a.out_w * row;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < total; i += size_t{gridDim.x} * blockDim.x) {
    const size_t position = i / row, column = i % row;
    const size_t oy = position / a.out_w, ox = position % a.out_w;
    const size_t c = column / (a.kernel_h * a.kernel_w);
    const size_t ky = (column / a.kernel_w) % a.kernel_h, kx = column % a.kernel_w;
    const ptrdiff_t y = static_cast<ptrdiff_t>(oy * a.stride + ky) - static_cast<ptrdiff_t>(a.pad_h);
    const ptrdiff_t xi = static_cast<ptrdiff_t>(ox * a.stride + kx) - static_cast<ptrdiff_t>(a.pad_w);
    const bool inside =
        y >= 0 && y < static_cast<ptrdiff_t>(a.height) && xi >= 0 && xi < static_cast<ptrdiff_t>(a.width);
    out[i] =
        inside ? x[(c * a.height + static_cast<size_t>(y)) * a.width + static_cast<size_t>(xi)] : from_f32<A>(0.0f);
  }
}

dim3 grid_for(size_t items) {
  size_t blocks = (items + kThreads - 1) / kThreads;
  if (blocks > 65535 * 4) blocks = 65535 * 4;
  return dim3(static_cast<unsigned>(blocks == 0 ? 1 : blocks));
}

}  // namespace

Status launch_scatter_add_rows(const void* src, const uint32_t* ids, const float* weights, void* out, DType dtype,
                               size_t count, size_t cols, cudaStream_t stream) {
  if (count == 0 || cols == 0) return ok();
  FERRUM_CHECK(count <= 65535, ErrorCode::kUnsupported, "scatter_add_rows: ", count,
               " rows exceed the kernel's grid limit of 65535");
  const unsigned x_blocks = ceil_div(cols, kThreads) > 64 ? 64 : ceil_div(cols, kThreads);
  const dim3 grid(x_blocks, static_cast<unsigned>(count));
  FERRUM_DISPATCH_FLOAT(dtype, A, "scatter_add_rows", {
    scatter_add_rows_kernel<A>
        <<<grid, kThreads, 0, stream>>>(static_cast<const A*>(src), ids, weights, static_cast<A*>(out), cols);
  });
  return check_launch("scatter_add_rows", grid, kThreads);
}

Status launch_im2col(const Im2colArgs& a, cudaStream_t stream) {
  const size_t total = a.out_h * a.out_w * a.channels * a.kernel_h * a.kernel_w;
  if (total == 0) return ok();
  const dim3 grid = grid_for(total);
  FERRUM_DISPATCH_FLOAT(a.dtype, A, "im2col", {
    im2col_kernel<A><<<grid, kThreads, 0, stream>>>(static_cast<const A*>(a.x), static_cast<A*>(a.out), a);
  });
  return check_launch("im2col", grid, kThreads);
}

}  // namespace ferrum::cuda
