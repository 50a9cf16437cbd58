// sample_rows on the GPU: one block per row draws its token (backend.h states the semantics).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/backend_types.h"
#include "core/error.h"

namespace ferrum::cuda {

Status launch_sample_rows(const float* x, const RowSampling* params, int32_t* ids, size_t rows, size_t cols,
                          cudaStream_t stream);

}  // namespace ferrum::cuda
