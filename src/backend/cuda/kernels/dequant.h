// Expanding quantized weights to dense float matrices on the device: GGUF block types (for
// gemm_quant's prefill path and to_vec), GPTQ and AWQ packings (for gemm_quant). GGUF: a thread per
// 32-value group (gguf_group_decode.cuh's decoders), a warp's groups stored as one run through
// shared memory, when dst is 16-byte aligned, else a thread per value; GPTQ without g_idx and AWQ: tiles of 32 columns
// by 256 k decoded into shared memory a 32-value group per thread (packed_int.cuh), then written a row run at a time
// (88% of the copy bandwidth on an H100, lab/dequantize_lab.cu); act-order GPTQ: a thread per value.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

// dst [rows, cols] (dst_dtype, a float type) = decode(src), src rows of cols / block_elems blocks.
Status launch_gguf_dequantize(const void* src, DType src_dtype, size_t rows, size_t cols, void* dst, DType dst_dtype,
                              cudaStream_t stream);

inline constexpr size_t kGptqTileColumns = 32;

// GPTQ (v1 checkpoint format, zero stored minus one) or AWQ (GEMM format, interleaved nibbles).
struct PackedIntWeight {
  const int32_t* qweight = nullptr;  // GPTQ [k * bits / 32, n]; AWQ [k, n / 8]
  const void* scales = nullptr;      // [groups, n]
  DType scales_dtype = DType::kF16;
  const int32_t* zeros = nullptr;  // GPTQ [groups, n * bits / 32]; AWQ [groups, n / 8]
  const int32_t* g_idx = nullptr;  // GPTQ act-order: [k] group of each input row; null = k / group_size
  uint32_t bits = 4;
  size_t group_size = 128;
  size_t k = 0, n = 0;
  // GPTQ words tiled at load ([n / kGptqTileColumns][k / per_word][kGptqTileColumns]: a tile's word
  // rows one contiguous run; packed_int.cuh's GptqWordLayout reads either way).
  bool tiled = false;
};

// dst [n, k] (dst_dtype) = the dense Linear weight W[n, k].
Status launch_gptq_dequantize(const PackedIntWeight& w, void* dst, DType dst_dtype, cudaStream_t stream);
Status launch_awq_dequantize(const PackedIntWeight& w, void* dst, DType dst_dtype, cudaStream_t stream);

}  // namespace ferrum::cuda
