// The NCCL communicator a tensor-parallel CUDA context owns (one process per GPU).
//
// Bootstrap: rank 0 creates the ncclUniqueId and hands it to the other ranks over the rank group's
// TCP connections (dist/rank_group.h), the same path on one host or several; every rank then joins
// with ncclCommInitRankConfig.
//
// Failure handling: the communicator is non-blocking, so no NCCL call can hang the process. Waits
// (init, and every sync of the context's stream) poll instead of blocking, and give up with a
// clear error, after ncclCommAbort, when NCCL reports an asynchronous error, when the rank group's
// liveness watcher has seen a peer's process die, or when FERRUM_TP_TIMEOUT_S passes. A collective
// whose peer died would otherwise spin on the GPU forever.
//
// NVLink multicast (NVLS) stays off: create() sets NCCL_NVLS_ENABLE=0 before NCCL reads its
// environment (docs/tensor-parallel.md says why).
//
// Small sums (a decode step's activations) between ranks of one host take the IPC all-reduce
// (ipc_all_reduce.h) instead of NCCL, unless FERRUM_TP_IPC_ALL_REDUCE=0.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <memory>
#include <optional>

#include "backend/backend_types.h"
#include "backend/cuda/ipc_all_reduce.h"
#include "core/dtype.h"
#include "core/error.h"
#include "dist/rank_group.h"

namespace ferrum::cuda {

class NcclCommunicator {
 public:
  // Joins the group's NCCL communicator on the current device.
  static Expected<std::unique_ptr<NcclCommunicator>> create(std::shared_ptr<dist::RankGroup> group);
  ~NcclCommunicator();
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  size_t rank() const { return group_->rank(); }
  size_t size() const { return group_->size(); }

  // Enqueue on `stream`; count in elements of `dtype` (f32, bf16, f16 or i32).
  Status all_reduce(void* data, size_t count, DType dtype, ReduceOp op, cudaStream_t stream);
  Status all_gather(const void* local, void* global, size_t local_count, DType dtype, cudaStream_t stream);
  Status broadcast(void* data, size_t count, DType dtype, size_t root, cudaStream_t stream);

  // Waits until `stream` has finished, watching for the failures above.
  Status wait(cudaStream_t stream);

  // The one-shot path of small sums, for the ops that fuse it with more (null: NCCL sums everything).
  IpcAllReduce* ipc() const { return ipc_.get(); }

 private:
  explicit NcclCommunicator(std::shared_ptr<dist::RankGroup> group) : group_(std::move(group)) {}
  // Waits for a non-blocking NCCL call that returned ncclInProgress to complete.
  Status settle(ncclResult_t result, std::string_view what);
  // Aborts the communicator and returns `why` as the error every later call also gets.
  Error fail(std::string why);

  std::shared_ptr<dist::RankGroup> group_;
  ncclComm_t comm_ = nullptr;
  std::unique_ptr<IpcAllReduce> ipc_;  // null: NCCL sums everything
  std::optional<Error> failed_;
};

}  // namespace ferrum::cuda
