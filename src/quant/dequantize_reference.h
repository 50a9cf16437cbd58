// Portable scalar decoders of every GGUF block type. They evaluate each value in float32 in the
// same order as ggml's reference decoder (no fused multiply-add), which makes them bit-exact with
// GGUF producers; the SIMD decoders are tested against them.
#pragma once

#include <cstddef>

#include "core/dtype.h"

namespace ferrum::quant {

// True for the block types dequantize_blocks_reference decodes.
bool is_gguf_block_type(DType type);

// Decodes `n` values (a whole number of blocks) of block type `type`.
void dequantize_blocks_reference(DType type, const void* src, float* dst, size_t n);

}  // namespace ferrum::quant
