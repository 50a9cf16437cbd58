// qk_norm_rope: optional per-head RMS norm, optional rotate-half RoPE, and the transpose from
// token-major [tokens, heads, head_dim] to head-major [heads, tokens, head_dim], in one pass.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

struct QkNormRopeArgs {
  const void* input = nullptr;
  void* output = nullptr;
  DType act_dtype = DType::kF32;  // input and output
  const void* norm_w = nullptr;   // mode 1
  DType norm_dtype = DType::kF32;
  const void* cos = nullptr;  // modes 1, 2: [positions, head_dim / 2]
  const void* sin = nullptr;
  DType rope_dtype = DType::kF32;  // cos and sin
  size_t positions = 0;            // rows of cos / sin; rows past it leave the rotation out (dyn mode)
  size_t tokens = 0, heads = 0, head_dim = 0;
  size_t pos_offset = 0;
  const int32_t* dyn_state = nullptr;  // when set, pos_offset = dyn_state[kStep]
  float eps = 0.0f;
  int mode = 0;
};

Status launch_qk_norm_rope(const QkNormRopeArgs& args, cudaStream_t stream);

}  // namespace ferrum::cuda
