// Host-side switches of the launch path (kernels/launch.cuh), read once from the environment so
// one binary can measure each setting.
#pragma once

#include <cstddef>

#include "core/dtype.h"

namespace ferrum::cuda {

// Whether launches use programmatic dependent launch: on for compute capability 9.0 and newer
// unless FERRUM_CUDA_PDL=0.
bool pdl_enabled();
// Bytes of each weight row a GEMV block prefetches into L2 before waiting on its predecessor
// (FERRUM_CUDA_PREFETCH, default 0 = off: in run 1 of the 8B decode, 2048 cost 2% and 8192 cost
// 18%, the prefetches evicting or delaying the stream they were meant to lead).
unsigned gemv_prefetch_bytes();
// Whether the one-row GEMVs (gemv_split_row_kernel, gated_gemv_split_kernel) request their first
// weight chunks before waiting on their predecessor (default; FERRUM_CUDA_GEMV_EARLY=0 waits
// first, for comparisons).
bool gemv_early_loads();
// Warps sharing one weight row in the one-row GEMVs: gemv_split_row_kernel (FERRUM_CUDA_GEMV_SPLIT,
// default 4) and gated_gemv_split_kernel (FERRUM_CUDA_GATED_GEMV_SPLIT, default 8); 2, 4 or 8,
// others rounded down to one of them. Defaults measured in the 8B bf16 decode
// (bench/results/2026-11-27-h100-gemv-split.md).
int gemv_split_warps();
int gated_gemv_split_warps();

// Whether one-row attention uses the decode kernel (attention_decode.cuh); FERRUM_CUDA_DECODE_ATTENTION=v3
// keeps the split-KV kernel, for comparisons.
bool decode_attention_kernel_enabled();
// Whether one-token qkv_rope_attention runs RoPE and the cache append inside the decode attention
// kernel (default) or as its own kernel first (FERRUM_CUDA_FUSED_ROPE=0).
bool fused_rope_attention_enabled();
// Whether the decode attention in device-state mode spreads the keys cached now over its splits
// (default) or keeps the split the cache's capacity shaped at capture (FERRUM_CUDA_DECODE_RESPLIT=0),
// for comparisons.
bool decode_attention_resplit();
// Threads of a one-row decode attention block: 256 (default) or 128
// (FERRUM_CUDA_DECODE_THREADS=128), for comparisons.
int decode_attention_threads();

// Whether gemm_quant runs the fused GGUF GEMV (kernels/quant_gemv.h) where it applies (default) or
// never (FERRUM_CUDA_QUANT_GEMV=0), for comparisons.
bool quant_gemv_enabled();
// The most warps the fused GGUF GEMV splits one weight row's k across when the matrix has too few
// rows to fill the GPU (FERRUM_CUDA_QUANT_GEMV_SPLIT=N: 1, 2, 4 or 8, others rounded down; default
// 4; 1 = a warp per row).
int quant_gemv_max_warps_per_row();
// The warps of work (rows x warps per row) below which the fused GGUF GEMV splits rows, for every
// type (FERRUM_CUDA_QUANT_GEMV_FILL=N; default 0: quant_gemv.cu's kFill, 4096), for
// comparisons.
size_t quant_gemv_fill_override();
// Whether the Q8_0 / Q6_K GEMVs stage weight rows in shared memory with cp.async, double-buffered
// (default, where the rows allow 16-byte copies) or with loads that finish before the compute
// (FERRUM_CUDA_QUANT_GEMV_ASYNC=0), for comparisons.
bool quant_gemv_async_staging();
// Whether the *_rounded norms and activation write x's int8 rounding for the quantized GEMV beside
// their output (default) or act as their plain ops, leaving each GEMV to round x itself
// (FERRUM_CUDA_ROUND_AHEAD=0), for comparisons.
bool round_ahead_enabled();
// Whether gemm_quant_parts runs (default) where it applies, or models run mixed-type GGUF parts
// one by one with a copy each (FERRUM_CUDA_QUANT_PARTS=0), for comparisons.
bool quant_parts_enabled();

// gemm_quant's choice of kernel for a GGUF weight of `type` at m activation rows (lab/quant_mma_lab.cu
// on an H100, Llama-3.1-8B shapes, bench/results/2026-11-26-h100-quant-mma.md): the fused GEMV up to
// quant_gemv_max_rows(type) (Q4_K's loses to the tensor-core kernel from 4 rows: gate_up 77.8 vs
// 77.0 us, down 50.1 vs 45.6), then the tensor-core kernel (kernels/quant_mma.h) up to
// quant_mma_max_rows(type), then dequantize + cuBLASLt. The tensor-core kernel wins to 128 rows for
// Q4_K (gate_up 257 vs 472 us), to 64 for Q6_K / Q8_0 (at 128 the dequantized path is 1.5x faster)
// and the 32-value types, to 8 for Q2_K / Q3_K / Q5_K (their value-by-value decoder: Q5_K's o_proj
// at 16 rows 67 us against 45). With `fragments` every type goes to 128: at 128 rows the fragment
// kernels take 0.7-0.85x dequantize + cuBLASLt's time on o / gate_up / down and tie on qkv
// (wgmma; mma.sync 0.85-0.9x; bench/results/2026-11-27-h100-wgmma-fragments.md).
// FERRUM_CUDA_QUANT_MMA_MAX_ROWS=N sets one ceiling for every type (0 turns the kernel off).
// With `fragments` (the tensor-core kernel that decodes into mma fragments takes the weight,
// quant_mma_fragments_apply), Q8_0 and Q6_K hand over earlier: at 8 rows it beats their GEMVs by
// 25-35%, at 4 it loses or ties (bench/results/2026-11-27-h100-q4k-fragments.md): 4 rows for Q8_0
// (and Q4_0, whose GEMV is Q8_0's: at 4 rows it still wins 3 of 4 shapes, gate_up 55 against 62 us),
// 5 for Q6_K; Q5_K's GEMV is Q4_K's (3).
size_t quant_gemv_max_rows(DType type, bool fragments = false);
size_t quant_mma_max_rows(DType type, bool fragments = false);
// The same ceiling for GPTQ / AWQ weights (no GEMV: the tensor-core kernel from one row), default 128
// (GPTQ 4-bit gate_up: 239 us against 459 at 128 rows, 795 against 525 at 512),
// FERRUM_CUDA_QUANT_MMA_MAX_ROWS overriding it too.
size_t packed_mma_max_rows();
// Whether GPTQ / AWQ weights at one activation row take their GEMV (default) or the tensor-core
// kernel (FERRUM_CUDA_PACKED_GEMV=0), for comparisons.
bool packed_gemv_enabled();
// Blocks an SM the split-k one-row GEMVs (GPTQ 8-bit or with f32 x, AWQ's own) aim for
// (FERRUM_CUDA_PACKED_GEMV_BLOCKS=N, 1..32; default 4), for comparisons.
int packed_gemv_blocks_per_sm();
// Whether cuBLASLt may pick split-k algorithms that add their partial sums in the output type
// (FERRUM_CUDA_GEMM_REDUCED_PRECISION_REDUCTION=1, as PyTorch allows for bf16 by default) or only
// in f32 (default: a bf16 output is then rounded once).
bool gemm_reduced_precision_reduction();
// Whether cuBLASLt GEMMs share one algorithm per row-count bucket (cuda_backend_gemm.cpp's
// bucket_algo; default) or each m takes the heuristic's own pick (FERRUM_CUDA_GEMM_BUCKETS=0), for
// comparisons.
bool gemm_buckets_enabled();
// Whether 4-bit GPTQ weights at one activation row round x to int8 and multiply with dp4a
// (default) or take the float GEMV, exact up to f32 rounding (FERRUM_CUDA_GPTQ_INT8_X=0), for
// comparisons.
bool gptq_gemv_int8_x();
// Whether AWQ weights take the tensor-core kernel too (default; FERRUM_CUDA_AWQ_MMA=0 keeps them on
// the dequantize path, for comparisons).
bool awq_mma_enabled();
// Whether load_gptq / load_awq tile the words of weights whose n is a multiple of 32
// (GptqWordLayout; default) or keep GPTQ's row-major layout (FERRUM_CUDA_GPTQ_TILED=0), for
// comparisons.
bool gptq_tiled_enabled();
// Whether Q4_K / Q6_K / Q8_0 weights with bf16 x take the tensor-core kernel that decodes into mma fragments
// (quant_mma_fragments.cu; default) or the shared-tile one (FERRUM_CUDA_QUANT_MMA_FRAGMENTS=0), for
// comparisons.
bool quant_mma_fragments_enabled();
// Whether the fragment kernels' 64-token tiles run on wgmma on sm_90a (default) or on mma.sync
// (FERRUM_CUDA_QUANT_MMA_WGMMA=0), for comparisons.
bool quant_mma_wgmma_enabled();

// Query rows from which a sequence of a paged_attention batch takes the tensor-core kernel
// (flash_attention.cuh's paged mode) instead of the CUDA-core one, where the problem allows it
// (FERRUM_CUDA_PAGED_FLASH_MIN_ROWS, default 16; 0 = never).
size_t paged_flash_min_rows();
// Which kernel decode-only paged_attention batches over bf16 / f16 caches take, for comparisons
// (FERRUM_CUDA_PAGED_DECODE): 4 (default) the tensor-core tiles of paged_decode_mma.cuh, 3 the
// CUDA-core tiles of paged_decode.cuh, 0 the general CUDA-core paged kernel.
int paged_decode_version();
// Tile stages of the tensor-core paged decode kernel (FERRUM_CUDA_PAGED_DECODE_STAGES): 0 (default)
// two where the launch fits one wave with them, else one; 1 or 2 forces that many, for comparisons.
int paged_decode_stages();
// Whether paged_attention_token_major lets the decode kernels store token-major rows (default) or
// transposes their head-major output like every other batch (FERRUM_CUDA_PAGED_TOKEN_MAJOR=0), for
// comparisons.
bool paged_token_major_enabled();

// FERRUM_CUDA_CARVEOUT=N (0..100): every kernel launched through launch_kernel asks for the same
// shared-memory carveout (percent of the unified L1 / shared memory). An SM can only run blocks of
// kernels whose carveouts agree, so when a kernel with a large shared-memory tile follows GEMVs that
// need none, the SMs drain before it can start: with one carveout for all, PDL's overlap survives.
// Default 50 (the 8B decode, run 5: 165.6 tok/s with the driver's choice, 170.4 at 100, 174.4 at 50);
// negative leaves each kernel to the driver. Applies once per kernel: the first call wins, so a kernel
// that needs its own `percent` (0..100) asks before launch_kernel does.
void apply_shared_carveout(const void* kernel, int percent = -1);

// Dynamic shared bytes (unused by the kernel) that keep `kernel` at ceil(grid / sm_count) resident
// blocks an SM, for a grid of at most one wave; 0 when its own limits already do, for larger grids,
// or with FERRUM_CUDA_BALANCED_RESIDENCY=0. Under PDL a GEMV is launched while its predecessor still
// holds SMs, and the block scheduler piles up to the occupancy limit onto the SMs that free first:
// the 8B Q8_0 decode's o / down GEMVs (512 blocks, six fit an SM) ran on uneven SMs. Applies the
// common carveout before its first occupancy query of a kernel, since the answer depends on it.
size_t balanced_residency_pad(const void* kernel, int threads, size_t grid, int sm_count);

}  // namespace ferrum::cuda
