// The one-shot IPC all-reduce (ipc_all_reduce.h) at its shipped launch shape.
#include "backend/cuda/kernels/ipc_all_reduce.cuh"

namespace ferrum::cuda {

namespace {

__global__ void ipc_empty_kernel(uint32_t* words, size_t count) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < count; i += size_t{gridDim.x} * blockDim.x) {
    words[i] = kIpcEmpty * 0x10001u;
  }
}

}  // namespace

Status launch_ipc_empty(void* buffer, size_t bytes, cudaStream_t stream) {
  FERRUM_CHECK(bytes % 4 == 0 && is_aligned(buffer, 4), ErrorCode::kInternal, "ipc_empty: ", bytes, " bytes");
  ipc_empty_kernel<<<256, 256, 0, stream>>>(static_cast<uint32_t*>(buffer), bytes / 4);
  return check_launch("ipc_empty", dim3(256), dim3(256));
}

bool ipc_all_reduce_takes(size_t count, DType dtype) {
  if (dtype != DType::kF16 && dtype != DType::kBF16) return false;
  const size_t bytes = count * dtype_info(dtype).block_bytes;
  return bytes > 0 && bytes % 16 == 0 && bytes <= kIpcMaxBytes;
}

Status launch_ipc_all_reduce(const IpcAllReduceArgs& a, cudaStream_t stream) {
  FERRUM_CHECK(ipc_all_reduce_takes(a.count, a.dtype) && a.ranks >= 1 && a.ranks <= kIpcMaxRanks, ErrorCode::kInternal,
               "ipc all_reduce: ", a.count, " elements of ", a.dtype, " over ", a.ranks, " ranks do not fit it");
  FERRUM_CHECK(reinterpret_cast<uintptr_t>(a.in) % 16 == 0 && reinterpret_cast<uintptr_t>(a.out) % 16 == 0,
               ErrorCode::kInvalidArgument, "ipc all_reduce: the data must be 16-byte aligned");
  if (a.dtype == DType::kF16) {
    return launch_kernel("ipc_all_reduce", ipc_all_reduce_kernel<__half, kIpcBlocks, kIpcThreads>, dim3(kIpcBlocks),
                         dim3(kIpcThreads), 0, stream, a);
  }
  return launch_kernel("ipc_all_reduce", ipc_all_reduce_kernel<__nv_bfloat16, kIpcBlocks, kIpcThreads>,
                       dim3(kIpcBlocks), dim3(kIpcThreads), 0, stream, a);
}

}  // namespace ferrum::cuda
