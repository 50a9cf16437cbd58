#include "backend/cuda/cuda_check.h"

namespace ferrum::cuda {

Error cuda_error(cudaError_t code, std::string_view what) {
  const ErrorCode kind = code == cudaErrorMemoryAllocation ? ErrorCode::kOutOfMemory : ErrorCode::kInternal;
  return make_error(kind, "CUDA: ", what, ": ", cudaGetErrorName(code), " (", cudaGetErrorString(code), ")");
}

Status check_launch(std::string_view kernel, dim3 grid, dim3 block, size_t shared_bytes) {
  const cudaError_t code = cudaGetLastError();
  if (code == cudaSuccess) return ok();
  return cuda_error(code, cat(kernel, "<<<(", grid.x, ",", grid.y, ",", grid.z, "),(", block.x, ",", block.y, ",",
                              block.z, "),", shared_bytes, ">>>"));
}

}  // namespace ferrum::cuda
