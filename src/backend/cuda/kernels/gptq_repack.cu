#include "backend/cuda/kernels/gptq_repack.h"

#include <algorithm>

#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/launch.cuh"
#include "backend/cuda/kernels/packed_int.cuh"

namespace ferrum::cuda {
namespace {

constexpr int kThreads = 256;

// One thread per destination word: its per_word channels, each read from its source word.
template <int kBits>
__global__ void __launch_bounds__(kThreads)
    gptq_sort_rows_kernel(const uint32_t* __restrict__ src, const int32_t* __restrict__ order,
                          uint32_t* __restrict__ dst, size_t k, size_t n) {
  constexpr int kPerWord = 32 / kBits;
  constexpr uint32_t kMask = (1u << kBits) - 1;
  pdl_launch_dependents();
  pdl_wait();
  const size_t index = static_cast<size_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (index >= k / kPerWord * n) return;
  const size_t row = index / n, column = index % n;
  uint32_t word = 0;
#pragma unroll
  for (int e = 0; e < kPerWord; ++e) {
    const auto channel = static_cast<size_t>(order[row * kPerWord + e]);
    const uint32_t value = (src[channel / kPerWord * n + column] >> (kBits * (channel % kPerWord))) & kMask;
    word |= value << (kBits * e);
  }
  dst[index] = word;
}

// One thread per GPTQ word: 8 k of one column, each from its AWQ word.
__global__ void __launch_bounds__(kThreads)
    awq_to_gptq_kernel(const uint32_t* __restrict__ src, uint32_t* __restrict__ dst, size_t k, size_t n) {
  pdl_launch_dependents();
  pdl_wait();
  const size_t index = static_cast<size_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (index >= k / 8 * n) return;
  const size_t row = index / n, column = index % n;
  const uint32_t shift = awq_shift(static_cast<uint32_t>(column));
  uint32_t word = 0;
#pragma unroll
  for (int e = 0; e < 8; ++e) word |= ((src[(row * 8 + e) * (n / 8) + column / 8] >> shift) & 0xFu) << (4 * e);
  dst[index] = word;
}

// One thread per word, read in row-major order (GptqWordLayout).
__global__ void __launch_bounds__(kThreads)
    gptq_tile_words_kernel(const int32_t* __restrict__ src, int32_t* __restrict__ dst, size_t rows, size_t n) {
  pdl_launch_dependents();
  pdl_wait();
  const size_t index = static_cast<size_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (index >= rows * n) return;
  const GptqWordLayout tiled{n, rows, true};
  dst[tiled.at(index / n, index % n)] = src[index];
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    gather_columns_kernel(const T* __restrict__ x, const int32_t* __restrict__ order, T* __restrict__ out, size_t m,
                          size_t k) {
  pdl_launch_dependents();
  pdl_wait();
  for (size_t i = static_cast<size_t>(blockIdx.x) * kThreads + threadIdx.x; i < m * k;
       i += static_cast<size_t>(gridDim.x) * kThreads) {
    const size_t row = i / k;
    out[i] = x[row * k + static_cast<size_t>(order[i % k])];
  }
}

}  // namespace

Status launch_gptq_tile_words(const int32_t* src, int32_t* dst, size_t rows, size_t n, cudaStream_t stream) {
  FERRUM_CHECK(n % kGptqTileColumns == 0, ErrorCode::kInvalidArgument, "gptq_tile_words: ", n,
               " columns are not whole tiles of ", kGptqTileColumns);
  if (rows * n == 0) return ok();
  const dim3 grid(static_cast<unsigned>(ceil_div(rows * n, kThreads)));
  return launch_kernel("gptq_tile_words", gptq_tile_words_kernel, grid, dim3(kThreads), 0, stream, src, dst, rows, n);
}

Status launch_gptq_sort_rows(const int32_t* src, const int32_t* order, int32_t* dst, uint32_t bits, size_t k, size_t n,
                             cudaStream_t stream) {
  const size_t words = k * bits / 32 * n;
  if (words == 0) return ok();
  const dim3 grid(static_cast<unsigned>(ceil_div(words, kThreads)));
  const auto* in = reinterpret_cast<const uint32_t*>(src);
  auto* out = reinterpret_cast<uint32_t*>(dst);
  switch (bits) {
    case 2:
      return launch_kernel("gptq_sort_rows", gptq_sort_rows_kernel<2>, grid, dim3(kThreads), 0, stream, in, order, out,
                           k, n);
    case 4:
      return launch_kernel("gptq_sort_rows", gptq_sort_rows_kernel<4>, grid, dim3(kThreads), 0, stream, in, order, out,
                           k, n);
    case 8:
      return launch_kernel("gptq_sort_rows", gptq_sort_rows_kernel<8>, grid, dim3(kThreads), 0, stream, in, order, out,
                           k, n);
    default: return make_error(ErrorCode::kUnsupported, "gptq_sort_rows: ", bits, "-bit packing");
  }
}

Status launch_awq_to_gptq(const int32_t* src, int32_t* dst, size_t k, size_t n, cudaStream_t stream) {
  const size_t words = k / 8 * n;
  if (words == 0) return ok();
  return launch_kernel("awq_to_gptq", awq_to_gptq_kernel, dim3(ceil_div(words, kThreads)), dim3(kThreads), 0, stream,
                       reinterpret_cast<const uint32_t*>(src), reinterpret_cast<uint32_t*>(dst), k, n);
}

Status launch_gather_columns(const void* x, DType dtype, const int32_t* order, void* out, size_t m, size_t k,
                             cudaStream_t stream) {
  if (m == 0 || k == 0) return ok();
  const dim3 grid(static_cast<unsigned>(std::min<size_t>(ceil_div(m * k, kThreads), 4096)));
  FERRUM_DISPATCH_FLOAT(dtype, T, "gather_columns",
                        return launch_kernel("gather_columns", gather_columns_kernel<T>, grid, dim3(kThreads), 0,
                                             stream, static_cast<const T*>(x), order, static_cast<T*>(out), m, k));
  return ok();
}

}  // namespace ferrum::cuda
