// Row scatter (the combine step of a mixture-of-experts layer) and convolution patches (im2col),
// the ops Whisper's and CLIP's convolutional front ends and the MoE layers need. x, src and out
// share one float dtype; arithmetic is f32.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

// out[ids[i], :] += weights[i] * src[i, :] for i < count; ids and weights are device arrays and
// the ids distinct, so every output row has one writer.
Status launch_scatter_add_rows(const void* src, const uint32_t* ids, const float* weights, void* out, DType dtype,
                               size_t count, size_t cols, cudaStream_t stream);

// Patches of x [channels, height, width] for a square kernel (1-D: height 1, kernel_h 1):
// out[oy * out_w + ox, (c * kernel_h + ky) * kernel_w + kx] = x[c, oy*stride+ky-pad_h, ox*stride+kx-pad_w],
// zero outside the image.
struct Im2colArgs {
  const void* x = nullptr;
  void* out = nullptr;
  DType dtype = DType::kF32;
  size_t channels = 0, height = 0, width = 0;
  size_t kernel_h = 0, kernel_w = 0, stride = 1, pad_h = 0, pad_w = 0;
  size_t out_h = 0, out_w = 0;
};
Status launch_im2col(const Im2colArgs& args, cudaStream_t stream);

}  // namespace ferrum::cuda
