// The one-shot IPC all-reduce (ipc_all_reduce.h) at its shipped launch shape.
#include "backend/cuda/kernels/ipc_all_reduce.cuh"

namespace ferrum::cuda {

bool ipc_all_reduce_takes(size_t count, DType dtype) {
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16) return false;
  const size_t bytes = count * dtype_info(dtype).block_bytes;
  return bytes > 0 && bytes % 16 == 0 && bytes <= kIpcMaxBytes;
}

Status launch_ipc_all_reduce(const IpcAllReduceArgs& a, cudaStream_t stream) {
  FERRUM_CHECK(ipc_all_reduce_takes(a.count, a.dtype) && a.ranks >= 1 && a.ranks <= kIpcMaxRanks,
               ErrorCode::kInternal, "ipc all_reduce: ", a.count, " elements of ", a.dtype, " over ", a.ranks,
               " ranks do not fit it");
  FERRUM_CHECK(reinterpret_cast<uintptr_t>(a.in) % 16 == 0 && reinterpret_cast<uintptr_t>(a.out) % 16 == 0,
               ErrorCode::kInvalidArgument, "ipc all_reduce: the data must be 16-byte aligned");
  FERRUM_DISPATCH_FLOAT(a.dtype, T, "ipc all_reduce", {
    FERRUM_TRY(launch_kernel("ipc_all_reduce", ipc_all_reduce_kernel<T, kIpcBlocks, kIpcThreads>, dim3(kIpcBlocks),
                             dim3(kIpcThreads), 0, stream, a));
  });
  return ok();
}

}  // namespace ferrum::cuda
