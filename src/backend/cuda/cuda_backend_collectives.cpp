// Tensor-parallel collectives of the CUDA backend: NCCL on the context's stream when the context
// belongs to a rank group, the one-rank identities otherwise.
#include "backend/cuda/backend_checks.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/nccl_communicator.h"

namespace ferrum {

Expected<CudaContext> CudaBackend::new_parallel_context(std::shared_ptr<dist::RankGroup> group, size_t local_device) {
  FERRUM_CHECK(group != nullptr, ErrorCode::kInvalidArgument, "new_parallel_context: no rank group");
  int devices = 0;
  FERRUM_CUDA_TRY(cudaGetDeviceCount(&devices));
  FERRUM_CHECK(local_device < static_cast<size_t>(devices), ErrorCode::kInvalidArgument, "tensor-parallel rank ",
               group->rank(), " is to drive GPU ", local_device, " of its host, which has ", devices, " GPU(s)");
  // Every later allocation and stream of this process lands on this GPU.
  FERRUM_CUDA_TRY(cudaSetDevice(static_cast<int>(local_device)));
  CudaContext ctx;
  FERRUM_TRY(ctx.usable());
  FERRUM_ASSIGN_OR_RETURN(ctx.state().nccl, cuda::NcclCommunicator::create(std::move(group)));
  return ctx;
}

size_t CudaBackend::world_size(const CudaContext& ctx) {
  return ctx.state().nccl ? ctx.state().nccl->size() : 1;
}

size_t CudaBackend::rank(const CudaContext& ctx) {
  return ctx.state().nccl ? ctx.state().nccl->rank() : 0;
}

Status CudaBackend::all_reduce(CudaContext& ctx, CudaBuffer& data, size_t len, ReduceOp op) {
  if (ctx.state().nccl == nullptr) return ok();
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_numel("all_reduce", "data", data, len));
  if (len == 0) return ok();
  return ctx.state().nccl->all_reduce(data.data(), len, data.dtype(), op, ctx.stream());
}

Status CudaBackend::all_gather(CudaContext& ctx, const CudaBuffer& local, CudaBuffer& global, size_t local_len) {
  // One rank: the concatenation is the local part itself.
  if (ctx.state().nccl == nullptr) return copy_slice(ctx, local, 0, global, 0, local_len);
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(cuda::check_same_dtype("all_gather", "global", global, "local", local));
  FERRUM_TRY(check_numel("all_gather", "local", local, local_len));
  FERRUM_TRY(check_numel("all_gather", "global", global, local_len * world_size(ctx)));
  if (local_len == 0) return ok();
  return ctx.state().nccl->all_gather(local.data(), global.data(), local_len, local.dtype(), ctx.stream());
}

Status CudaBackend::broadcast(CudaContext& ctx, CudaBuffer& data, size_t len, size_t src_rank) {
  const size_t ranks = world_size(ctx);
  FERRUM_CHECK(src_rank < ranks, ErrorCode::kInvalidArgument, "broadcast: src_rank ", src_rank, " with world_size ",
               ranks);
  if (ctx.state().nccl == nullptr) return ok();
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(check_numel("broadcast", "data", data, len));
  if (len == 0) return ok();
  return ctx.state().nccl->broadcast(data.data(), len, data.dtype(), src_rank, ctx.stream());
}

}  // namespace ferrum
