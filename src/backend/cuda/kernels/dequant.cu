#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/dequant.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/gguf_group_decode.cuh"
#include "backend/cuda/kernels/packed_int.cuh"

namespace ferrum::cuda {
namespace {

constexpr unsigned kThreads = 256;

dim3 grid_for(size_t items) {
  size_t blocks = (items + kThreads - 1) / kThreads;
  if (blocks > 65535 * 8) blocks = 65535 * 8;
  return dim3(static_cast<unsigned>(blocks == 0 ? 1 : blocks));
}

template <DType kType, class Out>
__global__ void gguf_dequantize_kernel(const uint8_t* __restrict__ src, size_t rows, size_t cols, size_t block_elems,
                                       size_t block_bytes, Out* __restrict__ dst) {
  const size_t row_bytes = cols / block_elems * block_bytes;
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < rows * cols; i += stride) {
    const size_t row = i / cols, col = i % cols;
    const uint8_t* block = src + row * row_bytes + col / block_elems * block_bytes;
    dst[i] = from_f32<Out>(gguf_block_value<kType>(block, static_cast<int>(col % block_elems)));
  }
}

// One thread per (row, 32-value group), or per 64-value chunk for Q4_K (kChunk: 16-byte aligned
// super-blocks), each group's scales decoded once. Consecutive tasks are consecutive in the
// output, so a warp's 32 tasks fill one contiguous run: 2-byte outputs go through a slab of shared
// memory per warp and leave as 16-byte stores side by side (whole lines); f32 ones are stored by
// each thread (v2 and v3 of lab/dequantize_lab.cu). Needs dst 16-byte aligned.
template <DType kType, bool kChunk, class Out>
__global__ void __launch_bounds__(kThreads)
    gguf_dequantize_groups_kernel(const uint8_t* __restrict__ src, size_t rows, size_t cols, size_t block_bytes,
                                  Out* __restrict__ dst) {
  constexpr int kBlockElems = gguf_block_elems<kType>();
  constexpr int kValues = kChunk ? 64 : 32;
  constexpr bool kStaged = sizeof(Out) == 2;
  constexpr int kTaskBytes = kValues * static_cast<int>(sizeof(Out));
  constexpr int kPitch = kTaskBytes + 16;  // +16: a lane's row starts on other banks
  __shared__ alignas(16) uint8_t slabs[kStaged ? kThreads / 32 : 1][kStaged ? 32 * kPitch : 16];
  const size_t row_bytes = cols / kBlockElems * block_bytes;
  const size_t tasks_per_row = cols / kValues, tasks = rows * tasks_per_row;
  const int lane = static_cast<int>(threadIdx.x % 32);
  uint8_t* slab = slabs[kStaged ? threadIdx.x / 32 : 0];
  const size_t warps = size_t{gridDim.x} * (kThreads / 32);
  for (size_t base = (blockIdx.x * size_t{kThreads} + threadIdx.x) / 32 * 32; base < tasks; base += warps * 32) {
    const size_t task = base + lane;
    float v[kValues];
    if (task < tasks) {
      const size_t row = task / tasks_per_row, first = (task % tasks_per_row) * kValues;
      const uint8_t* block = src + row * row_bytes + first / kBlockElems * block_bytes;
      const int within = static_cast<int>(first % kBlockElems);
      if constexpr (kChunk) {
        float(&low)[32] = *reinterpret_cast<float(*)[32]>(v);
        float(&high)[32] = *reinterpret_cast<float(*)[32]>(v + 32);
        decode_chunk_q4_k(load_chunk_q4_k(block, within / 64), within / 64, low, high);
      } else {
        decode_group<kType>(block, within / 32, *reinterpret_cast<float(*)[32]>(v));
      }
      Out* out = kStaged ? reinterpret_cast<Out*>(slab + lane * kPitch) : dst + task * kValues;
#pragma unroll
      for (int q = 0; q < kValues / 8; ++q) store8(out + 8 * q, *reinterpret_cast<const float(*)[8]>(v + 8 * q));
    }
    if constexpr (kStaged) {
      __syncwarp();
      // The warp's run: its valid tasks' bytes, 16 at a time, consecutive lanes side by side.
      constexpr int kUnitsPerTask = kTaskBytes / 16;
      const int units = static_cast<int>(min(size_t{32}, tasks - base)) * kUnitsPerTask;
      auto* run = reinterpret_cast<uint4*>(dst + base * kValues);
      for (int u = lane; u < units; u += 32) {
        run[u] = *reinterpret_cast<const uint4*>(slab + (u / kUnitsPerTask) * kPitch + (u % kUnitsPerTask) * 16);
      }
      __syncwarp();
    }
  }
}

// GPTQ without g_idx and AWQ, group sizes a multiple of 32: a block per tile of kTileColumns
// columns (rows of W) by kTileDepth k. Its threads first decode 32-value groups with a warp's
// columns side by side (packed words, scales and zeros read coalesced) into shared memory, then
// write each row's part of the tile as one contiguous run of 16-byte stores: the output, 4-8x the
// bytes of the input, leaves in whole lines (v2; lab/dequantize_lab.cu).
constexpr int kTileColumns = 32, kTileDepth = 32 * (kThreads / kTileColumns);

template <bool kAwq, int kBits, class S, class Out>
__global__ void __launch_bounds__(kThreads)
    packed_dequantize_tiles_kernel(PackedIntWeight w, const S* __restrict__ scales, Out* __restrict__ dst) {
  constexpr int kRowBytes = kTileDepth * sizeof(Out) + 16;  // +16: the rows start on other banks
  __shared__ alignas(16) uint8_t tile[kTileColumns * kRowBytes];
  const size_t column0 = blockIdx.x * size_t{kTileColumns}, depth0 = blockIdx.y * size_t{kTileDepth};
  {
    const int c = static_cast<int>(threadIdx.x) % kTileColumns, d = static_cast<int>(threadIdx.x) / kTileColumns;
    const size_t column = column0 + c, depth = depth0 + 32 * d;
    if (column < w.n && depth < w.k) {
      float v[32];
      decode_packed_group<kAwq, kBits>(w.qweight, scales, w.zeros, static_cast<int>(w.group_size),
                                       static_cast<int>(w.n), static_cast<int>(column), static_cast<int>(depth), v,
                                       GptqWordLayout::of(w));
      Out* row = reinterpret_cast<Out*>(tile + c * kRowBytes) + 32 * d;
#pragma unroll
      for (int q = 0; q < 4; ++q) store8(row + 8 * q, *reinterpret_cast<const float(*)[8]>(v + 8 * q));
    }
  }
  __syncthreads();
  constexpr int kUnitsPerRow = kTileDepth * static_cast<int>(sizeof(Out)) / 16;
  const int units = static_cast<int>(min(size_t{kTileDepth}, w.k - depth0) * sizeof(Out) / 16);
  for (int i = static_cast<int>(threadIdx.x); i < kTileColumns * kUnitsPerRow; i += kThreads) {
    const int c = i / kUnitsPerRow, u = i % kUnitsPerRow;
    if (column0 + c >= w.n || u >= units) continue;
    reinterpret_cast<uint4*>(dst + (column0 + c) * w.k + depth0)[u] =
        *reinterpret_cast<const uint4*>(tile + c * kRowBytes + u * 16);
  }
}

// One thread per W[j, kk]; consecutive threads take consecutive kk so the writes coalesce.
template <class S, class Out>
__global__ void gptq_dequantize_kernel(PackedIntWeight w, const S* __restrict__ scales, Out* __restrict__ dst) {
  const uint32_t per_word = 32 / w.bits, mask = (1u << w.bits) - 1;
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < w.n * w.k; i += stride) {
    const size_t j = i / w.k, kk = i % w.k;
    const size_t group = w.g_idx ? static_cast<size_t>(w.g_idx[kk]) : kk / w.group_size;
    const uint32_t word = static_cast<uint32_t>(w.qweight[GptqWordLayout::of(w).at(kk / per_word, j)]);
    const uint32_t q = (word >> (w.bits * (kk % per_word))) & mask;
    const uint32_t zero_word = static_cast<uint32_t>(w.zeros[group * (w.n / per_word) + j / per_word]);
    const uint32_t zero = ((zero_word >> (w.bits * (j % per_word))) & mask) + 1;  // v1: stored minus one
    const float scale = to_f32(scales[group * w.n + j]);
    dst[i] = from_f32<Out>((static_cast<float>(q) - static_cast<float>(zero)) * scale);
  }
}

template <class S, class Out>
__global__ void awq_dequantize_kernel(PackedIntWeight w, const S* __restrict__ scales, Out* __restrict__ dst) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < w.n * w.k; i += stride) {
    const size_t j = i / w.k, kk = i % w.k, group = kk / w.group_size;
    const uint32_t shift = awq_shift(static_cast<uint32_t>(j));
    const uint32_t q = (static_cast<uint32_t>(w.qweight[kk * (w.n / 8) + j / 8]) >> shift) & 0xF;
    const uint32_t zero = (static_cast<uint32_t>(w.zeros[group * (w.n / 8) + j / 8]) >> shift) & 0xF;
    dst[i] = from_f32<Out>((static_cast<float>(q) - static_cast<float>(zero)) * to_f32(scales[group * w.n + j]));
  }
}

dim3 tile_grid(const PackedIntWeight& w) {
  return dim3(static_cast<unsigned>((w.n + kTileColumns - 1) / kTileColumns),
              static_cast<unsigned>((w.k + kTileDepth - 1) / kTileDepth));
}

template <DType kType, class Out>
void launch_groups(const uint8_t* blocks, size_t rows, size_t cols, size_t block_bytes, Out* out, bool chunks,
                   dim3 grid, cudaStream_t stream) {
  if constexpr (kType == DType::kQ4_K) {
    if (chunks) {
      gguf_dequantize_groups_kernel<kType, true, Out>
          <<<grid, kThreads, 0, stream>>>(blocks, rows, cols, block_bytes, out);
      return;
    }
  }
  gguf_dequantize_groups_kernel<kType, false, Out><<<grid, kThreads, 0, stream>>>(blocks, rows, cols, block_bytes, out);
}

}  // namespace

Status launch_gguf_dequantize(const void* src, DType src_dtype, size_t rows, size_t cols, void* dst, DType dst_dtype,
                              cudaStream_t stream) {
  if (rows * cols == 0) return ok();
  const DTypeInfo& info = dtype_info(src_dtype);
  const auto* blocks = static_cast<const uint8_t*>(src);
  if (is_aligned(dst, 16)) {
    const bool chunks = src_dtype == DType::kQ4_K && is_aligned(src, 16);
    const dim3 grid = grid_for(rows * cols / (chunks ? 64 : 32));
    FERRUM_DISPATCH_GGUF(src_dtype, kType, "dequantize", FERRUM_DISPATCH_FLOAT(dst_dtype, Out, "dequantize", {
                           launch_groups<kType, Out>(blocks, rows, cols, info.block_bytes, static_cast<Out*>(dst),
                                                     chunks, grid, stream);
                         }));
    return check_launch("gguf_dequantize(groups)", grid, kThreads);
  }
  const dim3 grid = grid_for(rows * cols);
  FERRUM_DISPATCH_GGUF(src_dtype, kType, "dequantize", FERRUM_DISPATCH_FLOAT(dst_dtype, Out, "dequantize", {
                         gguf_dequantize_kernel<kType, Out><<<grid, kThreads, 0, stream>>>(
                             blocks, rows, cols, info.block_elems, info.block_bytes, static_cast<Out*>(dst));
                       }));
  return check_launch("gguf_dequantize", grid, kThreads);
}

Status launch_gptq_dequantize(const PackedIntWeight& w, void* dst, DType dst_dtype, cudaStream_t stream) {
  if (w.n * w.k == 0) return ok();
  const bool groups = w.g_idx == nullptr && w.group_size % 32 == 0 && w.k % 32 == 0 && is_aligned(dst, 16) &&
                      (w.bits == 2 || w.bits == 4 || w.bits == 8) && w.n * w.k < (size_t{1} << 31);
  if (groups) {
    const dim3 grid = tile_grid(w);
    FERRUM_DISPATCH_FLOAT(
        w.scales_dtype, S, "gptq_dequantize", FERRUM_DISPATCH_FLOAT(dst_dtype, Out, "gptq_dequantize", {
          const auto* scales = static_cast<const S*>(w.scales);
          Out* out = static_cast<Out*>(dst);
          if (w.bits == 2) {
            packed_dequantize_tiles_kernel<false, 2, S, Out><<<grid, kThreads, 0, stream>>>(w, scales, out);
          } else if (w.bits == 4) {
            packed_dequantize_tiles_kernel<false, 4, S, Out><<<grid, kThreads, 0, stream>>>(w, scales, out);
          } else {
            packed_dequantize_tiles_kernel<false, 8, S, Out><<<grid, kThreads, 0, stream>>>(w, scales, out);
          }
        }));
    return check_launch("gptq_dequantize(tiles)", grid, kThreads);
  }
  const dim3 grid = grid_for(w.n * w.k);
  FERRUM_DISPATCH_FLOAT(w.scales_dtype, S, "gptq_dequantize", FERRUM_DISPATCH_FLOAT(dst_dtype, Out, "gptq_dequantize", {
                          gptq_dequantize_kernel<S, Out><<<grid, kThreads, 0, stream>>>(
                              w, static_cast<const S*>(w.scales), static_cast<Out*>(dst));
                        }));
  return check_launch("gptq_dequantize", grid, kThreads);
}

Status launch_awq_dequantize(const PackedIntWeight& w, void* dst, DType dst_dtype, cudaStream_t stream) {
  if (w.n * w.k == 0) return ok();
  if (w.group_size % 32 == 0 && w.k % 32 == 0 && is_aligned(dst, 16) && w.n * w.k < (size_t{1} << 31)) {
    const dim3 grid = tile_grid(w);
    FERRUM_DISPATCH_FLOAT(w.scales_dtype, S, "awq_dequantize", FERRUM_DISPATCH_FLOAT(dst_dtype, Out, "awq_dequantize", {
                            packed_dequantize_tiles_kernel<true, 4, S, Out><<<grid, kThreads, 0, stream>>>(
                                w, static_cast<const S*>(w.scales), static_cast<Out*>(dst));
                          }));
    return check_launch("awq_dequantize(tiles)", grid, kThreads);
  }
  const dim3 grid = grid_for(w.n * w.k);
  FERRUM_DISPATCH_FLOAT(w.scales_dtype, S, "awq_dequantize", FERRUM_DISPATCH_FLOAT(dst_dtype, Out, "awq_dequantize", {
                          awq_dequantize_kernel<S, Out><<<grid, kThreads, 0, stream>>>(
                              w, static_cast<const S*>(w.scales), static_cast<Out*>(dst));
                        }));
  return check_launch("awq_dequantize", grid, kThreads);
}

}  // namespace ferrum::cuda
