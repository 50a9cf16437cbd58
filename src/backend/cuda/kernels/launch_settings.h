// Host-side switches of the launch path (kernels/launch.cuh), read once from the environment so
// one binary can measure each setting.
#pragma once

#include <cstddef>

namespace ferrum::cuda {

// Whether launches use programmatic dependent launch: on for compute capability 9.0 and newer
// unless FERRUM_CUDA_PDL=0.
bool pdl_enabled();
// Bytes of each weight row a GEMV block prefetches into L2 before waiting on its predecessor
// (FERRUM_CUDA_PREFETCH, default 0 = off: in run 1 of the 8B decode, 2048 cost 2% and 8192 cost
// 18%, the prefetches evicting or delaying the stream they were meant to lead).
unsigned gemv_prefetch_bytes();

// Whether one-row attention uses the decode kernel (attention_decode.cuh); FERRUM_CUDA_DECODE_ATTENTION=v3
// keeps the split-KV kernel, for comparisons.
bool decode_attention_kernel_enabled();
// Whether one-token qkv_rope_attention runs RoPE and the cache append inside the decode attention
// kernel (default) or as its own kernel first (FERRUM_CUDA_FUSED_ROPE=0).
bool fused_rope_attention_enabled();

// Whether gemm_quant runs the fused GGUF GEMV (kernels/quant_gemv.h) where it applies (default) or
// always dequantizes + multiplies dense (FERRUM_CUDA_QUANT_GEMV=0), for comparisons.
bool quant_gemv_enabled();
// Largest batch (rows of x) gemm_quant gives the GGUF tensor-core kernel (kernels/quant_mma.h) when
// the GEMV does not apply; larger batches dequantize + multiply with cuBLASLt.
// FERRUM_CUDA_QUANT_MMA_MAX_ROWS, default 128 (lab/quant_mma_lab.cu); 0 turns the kernel off.
size_t quant_mma_max_rows();

// FERRUM_CUDA_CARVEOUT=N (0..100): every kernel launched through launch_kernel asks for the same
// shared-memory carveout (percent of the unified L1 / shared memory). An SM can only run blocks of
// kernels whose carveouts agree, so when a kernel with a large shared-memory tile follows GEMVs that
// need none, the SMs drain before it can start: with one carveout for all, PDL's overlap survives.
// Default 50 (the 8B decode, run 5: 165.6 tok/s with the driver's choice, 170.4 at 100, 174.4 at 50);
// negative leaves each kernel to the driver. Applies once per kernel.
void apply_shared_carveout(const void* kernel);

}  // namespace ferrum::cuda
