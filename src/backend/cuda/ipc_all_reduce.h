// The one-shot all-reduce of tensor-parallel ranks on one host (kernels/ipc_all_reduce.h): each
// rank allocates a buffer, the ranks trade CUDA IPC handles over the rank group's connections and
// map each other's buffers. Small sums (a decode step's activations) then take one kernel instead
// of NCCL's ring; NcclCommunicator keeps everything else.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <memory>

#include "backend/backend_types.h"
#include "backend/cuda/kernels/ipc_all_reduce.h"
#include "core/error.h"
#include "dist/rank_group.h"

namespace ferrum::cuda {

class IpcAllReduce {
 public:
  // Null (NCCL does every all-reduce) when FERRUM_TP_IPC_ALL_REDUCE=0 on rank 0, when the ranks
  // are on more than one host, or when a rank cannot allocate or map a buffer; every rank comes to
  // the same answer. Errors are those of the rank group's connections.
  static Expected<std::unique_ptr<IpcAllReduce>> create(dist::RankGroup& group);
  ~IpcAllReduce();
  IpcAllReduce(const IpcAllReduce&) = delete;
  IpcAllReduce& operator=(const IpcAllReduce&) = delete;

  // Whether an all-reduce of `count` elements takes the IPC kernel. It depends on nothing that could
  // differ between ranks (a rank taking NCCL while another waits in the kernel would hang both);
  // run() refuses data that is not 16-byte aligned (the allocator's blocks always are).
  bool takes(size_t count, DType dtype, ReduceOp op) const;
  // data = the sum over ranks of data, enqueued on `stream` (every rank makes the same calls).
  Status run(void* data, size_t count, DType dtype, cudaStream_t stream);
  // Whether the sum of `rows` rows of `dim` fused with the residual add and RMS norm takes one
  // kernel (ipc_add_rms_norm_takes), unless FERRUM_TP_FUSED_NORM=0 (for comparisons). Ranks may
  // answer differently: the fused kernel and the plain one send and read the same units.
  bool takes_add_rms_norm(size_t rows, size_t dim, DType dtype) const {
    return fuse_norm_ && ipc_add_rms_norm_takes(rows, dim, dtype);
  }
  // fused_add_rms_norm's `norm` with norm.x summed over the ranks first (launch_ipc_all_reduce_add_rms_norm).
  Status run_add_rms_norm(const NormArgs& norm, cudaStream_t stream);
  // A peer is gone: kernels waiting for it give up (their sums are garbage; the caller reports).
  void abort() { *abort_ = 1; }

 private:
  IpcAllReduce() = default;
  IpcAllReduceArgs args(const void* in, void* out, size_t count, DType dtype) const;
  // Maps the peers' buffers from their handles; false when one cannot be mapped.
  bool map_peers(std::span<const cudaIpcMemHandle_t> handles);

  int rank_ = 0, ranks_ = 0;
  void* own_ = nullptr;
  std::array<void*, kIpcMaxRanks> buffers_{};  // each rank's buffer; the peers' ones mapped here
  uint32_t* counters_ = nullptr;               // device: kIpcMaxBlocks slots of the epoch
  volatile int* abort_ = nullptr;              // pinned and mapped: the host's "give up"
  bool fuse_norm_ = true;
};

}  // namespace ferrum::cuda
