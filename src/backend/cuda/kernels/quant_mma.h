// Tensor-core GEMM over GGUF, GPTQ and AWQ weights kept as stored (issue 7): out[m, n] = x[m, k] @
// decode(w)[n, k]^T for batches above the fused GEMV's (kernels/quant_gemv.h) and for the weight
// types it lacks (every GGUF type but Q8_0 / Q4_K / Q6_K, GPTQ and AWQ at any batch). A block
// of 4 or 8 warps owns 16 weight rows per warp and 16 or 64 activation rows; per 128-deep slice of k
// it decodes its weight tile to bf16 in shared memory (gguf_group_decode.cuh: a group's scales read
// once, wide loads, the next slice's bytes already requested) while x's tile arrives by cp.async,
// then runs mma.sync m16n8k16 with f32 accumulators. When the tiles alone leave SMs idle, k is split
// across blocks and a second kernel sums the f32 partials in a fixed order (deterministic).
// Q4_0, Q4_K, Q5_K, Q6_K and Q8_0 (rows a multiple of 16 bytes) and 4-bit GPTQ / AWQ with bf16 x
// take their own kernel (quant_mma_fragments.cu): each warp streams its 16 rows through a
// shared-memory ring by cp.async and decodes them straight into mma fragments, no weight tile and
// no ldmatrix (Q4_K at 64 rows: 1.35-1.9x the shared-tile kernel's speed); on sm_90a its 64-token
// tiles run on wgmma (quant_mma_wgmma.cu).
// Versions and timings: lab/quant_mma_lab.cu; which m takes it: launch_settings.h.
//
// Accuracy: x and the decoded weights are rounded to bf16 (relative 2^-9 each), sums are f32.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "backend/cuda/kernels/dequant.h"
#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

// Which kernel a GGUF launch takes: kAuto picks (the fragment kernel where
// quant_mma_fragments_apply(), its 64-token tiles on Hopper's wgmma where the build has sm_90a code);
// kSharedTiles keeps the shared-tile kernel (the lab's v2 / v3), kFragments the mma.sync fragment
// kernel (v7), kWgmma the wgmma one (v8; an error where it cannot run).
enum class QuantMmaKernel { kAuto, kSharedTiles, kFragments, kWgmma };

struct QuantMmaArgs {
  const void* x = nullptr;  // [m, k] f32 or bf16, 16-byte aligned
  DType x_dtype = DType::kBF16;
  const void* w = nullptr;  // n rows of k / block_elems GGUF blocks
  DType w_dtype = DType::kQ4_K;
  void* out = nullptr;  // [m, n], a float dtype
  DType out_dtype = DType::kBF16;
  size_t m = 0, n = 0, k = 0;
  int num_sms = 132;                // sizes the k split
  int compute_capability = 0;       // the device's, major * 10 + minor: kAuto takes wgmma at 90 only
  void* scratch = nullptr;          // quant_mma_scratch_bytes(...) of f32 partials, or null when it is 0
  const void* x_rounded = nullptr;  // packed GEMV: x's rounding made ahead (rounded_rows_layout), or null
  bool generic_decode = false;      // the lab's v1: every type through the value-by-value decoder
  int warps = 0;                    // 4 or 8 warps (64 or 128 weight rows) per block; 0 = by m
  QuantMmaKernel kernel = QuantMmaKernel::kAuto;
  // The fragment kernel's shape, for the lab: blocks per SM its k split aims for (0: two, or no
  // split when the tiles give every SM a block) and x buffers at 64 tokens (0: 1).
  int fill = 0;
  int x_buffers = 0;
};

// GPTQ / AWQ weights through the same kernel (quant_mma_packed.cu): args.w / w_dtype are unused,
// `packed` describes the weight. Without g_idx (act-order weights keep the dequantize path), group
// sizes a multiple of 32.
bool quant_mma_supports_packed(const PackedIntWeight& packed, bool awq, DType x_dtype, const void* x, size_t m);
Status launch_quant_mma_packed(const QuantMmaArgs& args, const PackedIntWeight& packed, bool awq, cudaStream_t stream);

// GPTQ (4 / 8 bit) and AWQ at one activation row, without g_idx: a GEMV over the packed words (GPTQ:
// 4 columns per lane by 16-byte loads; AWQ: a word of 8 columns per lane), k split over warps and,
// except for 4-bit GPTQ, blocks (quant_mma_packed.cu). AWQ and 8-bit GPTQ are exact up to f32
// rounding; 4-bit GPTQ multiplies x rounded to int8 per 32 values (dp4a), as the GGUF GEMV does.
bool packed_gemv_supports(const PackedIntWeight& packed, bool awq, DType x_dtype, const void* x);
// A k split finishes inside the launch: the last block of each column tile adds the splits' partial
// sums, counted in `counters` (kPackedGemvCounters ints, zero, and left zero). With args.x_rounded
// the 4-bit kernel reads that rounding of x and skips its own rounding launch (and needs no scratch).
inline constexpr size_t kPackedGemvCounters = 4096;
size_t packed_gemv_scratch_bytes(const PackedIntWeight& packed, bool awq, int num_sms, bool x_rounded = false);
Status launch_packed_gemv(const QuantMmaArgs& args, const PackedIntWeight& packed, bool awq, cudaStream_t stream,
                          int* counters);

// Whether the kernel takes these operands (any GGUF weight type, f32 / bf16 x at a 16-byte aligned
// address, k a multiple of 32, m and n within int range).
bool quant_mma_supports(DType w_dtype, DType x_dtype, const void* x, size_t m, size_t n, size_t k);
// Whether launch_quant_mma takes the fragment kernel for these operands (Q4_0, Q4_K, Q5_K, Q8_0, Q6_K
// with k a multiple of 2048; bf16 x; 16-byte aligned weights; quant_mma_fragments_enabled()).
bool quant_mma_fragments_apply(DType w_dtype, DType x_dtype, const void* w, size_t k);
// Bytes of f32 partials the launch needs for this shape (0 when k is not split).
size_t quant_mma_scratch_bytes(size_t m, size_t n, size_t k, int num_sms, int warps = 0, int fill = 0);
Status launch_quant_mma(const QuantMmaArgs& args, cudaStream_t stream);

}  // namespace ferrum::cuda
