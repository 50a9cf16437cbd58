#include "backend/cuda/nccl_communicator.h"

#include <cstdlib>
#include <thread>

#include "backend/cuda/cuda_check.h"

namespace ferrum::cuda {
namespace {

using dist::Clock;

Expected<ncclDataType_t> nccl_type(DType dtype, std::string_view op) {
  switch (dtype) {
    case DType::kF32: return ncclFloat32;
    case DType::kBF16: return ncclBfloat16;
    case DType::kF16: return ncclFloat16;
    case DType::kI32: return ncclInt32;
    default: return make_error(ErrorCode::kUnsupported, op, ": NCCL does not exchange ", dtype, " buffers");
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kMax: return ncclMax;
    case ReduceOp::kMin: return ncclMin;
  }
  return ncclSum;
}

// A wait up to a typical step's length spins (a decode step is a few milliseconds, and every
// microsecond of wake-up latency is added to it); longer waits back off so a rank waiting on a
// slow peer does not burn a core.
void pause(Clock::time_point waiting_since) {
  if (Clock::now() - waiting_since < std::chrono::milliseconds(50)) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

}  // namespace

Expected<std::unique_ptr<NcclCommunicator>> NcclCommunicator::create(std::shared_ptr<dist::RankGroup> group) {
  FERRUM_CHECK(group != nullptr, ErrorCode::kInvalidArgument, "NCCL communicator without a rank group");
  // NVLink multicast can take a host's GPUs, which others share, out of service: never turn it on.
  setenv("NCCL_NVLS_ENABLE", "0", 1);
  std::unique_ptr<NcclCommunicator> communicator(new NcclCommunicator(group));

  ncclUniqueId id{};
  const auto id_bytes = std::span(reinterpret_cast<uint8_t*>(&id), sizeof(id));
  if (group->rank() == 0) {
    const ncclResult_t created = ncclGetUniqueId(&id);
    FERRUM_CHECK(created == ncclSuccess, ErrorCode::kInternal, "ncclGetUniqueId: ", ncclGetErrorString(created));
    FERRUM_TRY(group->send_to_all(dist::MessageTag::kNcclUniqueId, id_bytes));
  } else {
    FERRUM_TRY(group->recv(0, dist::MessageTag::kNcclUniqueId, id_bytes, Clock::now() + group->options().join_timeout));
  }

  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  config.commName = "ferrum-tensor-parallel";
  const ncclResult_t started = ncclCommInitRankConfig(&communicator->comm_, static_cast<int>(group->size()), id,
                                                      static_cast<int>(group->rank()), &config);
  FERRUM_TRY(communicator->settle(started, "ncclCommInitRankConfig"));
  FERRUM_ASSIGN_OR_RETURN(communicator->ipc_, IpcAllReduce::create(*communicator->group_));
  return communicator;
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ == nullptr) return;
  if (failed_) {
    (void)ncclCommAbort(comm_);
    return;
  }
  // Finalize flushes outstanding work; if a peer is gone by now, abort instead of waiting forever.
  if (settle(ncclCommFinalize(comm_), "ncclCommFinalize")) {
    (void)ncclCommDestroy(comm_);
  } else {
    (void)ncclCommAbort(comm_);
  }
}

Error NcclCommunicator::fail(std::string why) {
  if (!failed_) {
    failed_ = Error(ErrorCode::kIo, cat("tensor parallel (rank ", group_->rank(), " of ", group_->size(), "): ", why));
    if (ipc_) ipc_->abort();
    if (comm_ != nullptr) {
      (void)ncclCommAbort(comm_);
      comm_ = nullptr;
    }
  }
  return *failed_;
}

Status NcclCommunicator::settle(ncclResult_t result, std::string_view what) {
  if (failed_) return *failed_;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + group_->options().join_timeout;
  while (result == ncclInProgress) {
    if (!group_->healthy()) return fail(cat(what, " abandoned: ", group_->failure()));
    if (Clock::now() > deadline) return fail(cat(what, " did not complete in time (FERRUM_TP_JOIN_TIMEOUT_S)"));
    pause(start);
    if (comm_ == nullptr) break;
    (void)ncclCommGetAsyncError(comm_, &result);
  }
  if (result != ncclSuccess) {
    return fail(cat(what, " failed: ", ncclGetErrorString(result),
                    comm_ != nullptr ? cat(" (", ncclGetLastError(comm_), ")") : std::string()));
  }
  return ok();
}

Status NcclCommunicator::all_reduce(void* data, size_t count, DType dtype, ReduceOp op, cudaStream_t stream) {
  FERRUM_ASSIGN_OR_RETURN(ncclDataType_t type, nccl_type(dtype, "all_reduce"));
  if (failed_) return *failed_;
  if (ipc_ && ipc_->takes(count, dtype, op)) return ipc_->run(data, count, dtype, stream);
  return settle(ncclAllReduce(data, data, count, type, nccl_op(op), comm_, stream), "ncclAllReduce");
}

Status NcclCommunicator::all_gather(const void* local, void* global, size_t local_count, DType dtype,
                                    cudaStream_t stream) {
  FERRUM_ASSIGN_OR_RETURN(ncclDataType_t type, nccl_type(dtype, "all_gather"));
  if (failed_) return *failed_;
  return settle(ncclAllGather(local, global, local_count, type, comm_, stream), "ncclAllGather");
}

Status NcclCommunicator::broadcast(void* data, size_t count, DType dtype, size_t root, cudaStream_t stream) {
  FERRUM_ASSIGN_OR_RETURN(ncclDataType_t type, nccl_type(dtype, "broadcast"));
  if (failed_) return *failed_;
  return settle(ncclBroadcast(data, data, count, type, static_cast<int>(root), comm_, stream), "ncclBroadcast");
}

Status NcclCommunicator::wait(cudaStream_t stream) {
  if (failed_) return *failed_;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = group_->op_deadline();
  for (;;) {
    const cudaError_t state = cudaStreamQuery(stream);
    if (state == cudaSuccess) break;
    if (state != cudaErrorNotReady) return cuda_error(state, "cudaStreamQuery (sync)");
    ncclResult_t async = ncclSuccess;
    (void)ncclCommGetAsyncError(comm_, &async);
    if (async != ncclSuccess && async != ncclInProgress) {
      return fail(cat("NCCL reported ", ncclGetErrorString(async), " (", ncclGetLastError(comm_), ")"));
    }
    if (!group_->healthy()) return fail(cat("a collective was abandoned: ", group_->failure()));
    if (Clock::now() > deadline) {
      return fail("a step did not finish within FERRUM_TP_TIMEOUT_S; a peer is hung or far behind");
    }
    pause(start);
  }
  return ok();
}

}  // namespace ferrum::cuda
