#include "backend/cuda/cuda_context.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/nccl_communicator.h"

namespace ferrum {
namespace {

constexpr size_t kLtWorkspaceBytes = size_t{32} << 20;  // what cuBLASLt's larger Hopper kernels ask for

Status init_state(CudaContextState& s) {
  FERRUM_CUDA_TRY(cudaGetDevice(&s.device));
  FERRUM_CUDA_TRY(cudaDeviceGetAttribute(&s.sm_count, cudaDevAttrMultiProcessorCount, s.device));
  int major = 0, minor = 0;
  FERRUM_CUDA_TRY(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, s.device));
  FERRUM_CUDA_TRY(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, s.device));
  s.compute_capability = 10 * major + minor;
  int shared_optin = 0;
  FERRUM_CUDA_TRY(cudaDeviceGetAttribute(&shared_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, s.device));
  s.max_shared_per_block = static_cast<size_t>(shared_optin);
  // A blocking stream on purpose: the legacy default stream (uploads, zero-fills) orders with it.
  FERRUM_CUDA_TRY(cudaStreamCreate(&s.stream));
  const cublasStatus_t lt_status = cublasLtCreate(&s.lt);
  FERRUM_CHECK(lt_status == CUBLAS_STATUS_SUCCESS, ErrorCode::kInternal,
               "cuBLASLt: cublasLtCreate failed: ", cublasLtGetStatusName(lt_status));
  FERRUM_ASSIGN_OR_RETURN(s.lt_workspace, cuda::DeviceAllocator::instance().allocate(kLtWorkspaceBytes));
  FERRUM_ASSIGN_OR_RETURN(s.decode_state,
                          cuda::DeviceAllocator::instance().allocate(sizeof(int32_t) * DecodeStateSlots::kCount));
  FERRUM_CUDA_TRY(cudaMemset(s.decode_state.ptr, 0, sizeof(int32_t) * DecodeStateSlots::kCount));
  constexpr size_t kCounterBytes =
      sizeof(int) * (CudaContextState::kAttentionCounters + CudaContextState::kGemvCounters);
  FERRUM_ASSIGN_OR_RETURN(s.split_counters, cuda::DeviceAllocator::instance().allocate(kCounterBytes));
  FERRUM_CUDA_TRY(cudaMemset(s.split_counters.ptr, 0, kCounterBytes));
  return ok();
}

}  // namespace

CudaContextState::~CudaContextState() {
  // Waiting on a stream stuck in a collective whose peer died would never return: the communicator
  // waits with its failure checks, and is torn down (aborted if need be) first.
  // A graph that captured collectives goes before the communicator (whose last owner may be this).
  if (nccl != nullptr && stream != nullptr) (void)nccl->wait(stream);
  if (stream != nullptr) (void)cudaStreamSynchronize(stream);
  if (last_graph != nullptr) (void)cudaGraphExecDestroy(last_graph);
  nccl.reset();
  for (auto& [key, plan] : gemm_plans) {
    (void)cublasLtMatmulDescDestroy(plan.desc);
    (void)cublasLtMatrixLayoutDestroy(plan.a_layout);
    (void)cublasLtMatrixLayoutDestroy(plan.b_layout);
    (void)cublasLtMatrixLayoutDestroy(plan.c_layout);
  }
  auto& allocator = cuda::DeviceAllocator::instance();
  for (cuda::DeviceBlock block : scratch) allocator.release(block);
  for (cuda::DeviceBlock block : retired_scratch) allocator.release(block);
  allocator.release(lt_workspace);
  allocator.release(decode_state);
  allocator.release(split_counters);
  if (lt != nullptr) (void)cublasLtDestroy(lt);
  if (stream != nullptr) (void)cudaStreamDestroy(stream);
}

CudaContext::CudaContext() : state_(std::make_unique<CudaContextState>()) {
  Status status = init_state(*state_);
  if (!status) state_->init_error = std::move(status).error().with_context("creating the CUDA context");
}

Status CudaContext::usable() const {
  if (state_ == nullptr) return make_error(ErrorCode::kInvalidArgument, "CUDA context was moved from");
  if (state_->init_error) return *state_->init_error;
  return ok();
}

Expected<void*> CudaContext::scratch(ScratchSlot slot, size_t bytes) {
  cuda::DeviceBlock& block = state_->scratch[static_cast<size_t>(slot)];
  if (block.capacity >= bytes) return block.ptr;
  // Grow by half again so a slowly growing size (the KV length) does not reallocate every step.
  FERRUM_ASSIGN_OR_RETURN(cuda::DeviceBlock grown, cuda::DeviceAllocator::instance().allocate(bytes + bytes / 2));
  if (state_->last_graph != nullptr || state_->capturing) {
    // A graph (captured or being captured) points into the old block: keep it until reset_graph.
    state_->retired_scratch.push_back(block);
  } else if (block.ptr != nullptr) {
    // Earlier work on this stream may still read the old block: wait before recycling it.
    FERRUM_CUDA_TRY(cudaStreamSynchronize(state_->stream));
    cuda::DeviceAllocator::instance().release(block);
  }
  block = grown;
  return block.ptr;
}

}  // namespace ferrum
