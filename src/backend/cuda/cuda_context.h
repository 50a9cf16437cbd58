// CudaContext: where CUDA work accumulates. One blocking stream, a cuBLASLt handle with its
// workspace and plan cache, scratch buffers that grow to the largest call seen, the device-side
// decode state read by `_dyn` kernels, the last captured CUDA graph, and under tensor parallelism
// the NCCL communicator its collectives run on.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include "backend/cuda/device_allocator.h"
#include "core/error.h"

namespace ferrum {

namespace cuda {
class NcclCommunicator;  // nccl_communicator.h; only the tensor-parallel files need NCCL's header
}

// Scratch areas owned by a context; each is used by one op at a time on the context's stream.
enum class ScratchSlot : int {
  kAttentionPartials,  // split-KV partial outputs (m, l, acc) before the combine kernel
  kGemmInput,          // activations converted to the compute dtype for cuBLASLt
  kGemmWeight,         // a weight widened to f32 for an f32 cuBLASLt GEMM
  kGemmOutput,         // f32 result before conversion, when cuBLASLt cannot write the output dtype
  kDequantWeight,      // a quantized weight expanded for gemm_quant
  kQuantActivation,    // activations quantized to int8 for the fused GGUF GEMV
  kQuantPartials,      // split-k f32 partial products of the GGUF tensor-core GEMM
  kReducePartials,     // argmax / top-k per-chunk candidates (two ping-pong halves)
  kReducePartials2,
  kHostIds,         // ids uploaded for embedding_lookup
  kScatterArgs,     // ids and weights uploaded for scatter_add_rows
  kGatedGemm,       // gate / up outputs of gemm_gated above the GEMV sizes
  kActOrderX,       // activations gathered into an act-order GPTQ weight's sorted channel order
  kAttentionHeads,  // paged_attention_token_major's head-major output, for batches it transposes
  kCount,
};

// One cached cuBLASLt matmul: descriptors and the algorithm the heuristic picked.
struct GemmPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a_layout = nullptr, b_layout = nullptr, c_layout = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace_bytes = 0;
};

// (m, n, k, activation dtype, weight dtype, output dtype)
using GemmPlanKey = std::tuple<size_t, size_t, size_t, int, int, int>;

// Device-side dynamic state read by the `_dyn` kernel variants (see set_decode_state).
struct DecodeStateSlots {
  static constexpr int kToken = 0;  // the token id fed to embedding_lookup
  static constexpr int kStep = 1;   // position of the token = rows already in the KV cache
  static constexpr int kCount = 4;
};

struct CudaContextState {
  std::optional<Error> init_error;      // set when the device or a handle could not be created
  std::optional<Error> deferred_error;  // from calls that return void (set_decode_state); sync reports it
  int device = 0;
  int sm_count = 0;
  int compute_capability = 0;       // major * 10 + minor (Hopper's wgmma kernels need 90)
  size_t max_shared_per_block = 0;  // opt-in limit
  cudaStream_t stream = nullptr;
  cublasLtHandle_t lt = nullptr;
  cuda::DeviceBlock lt_workspace;
  std::map<GemmPlanKey, GemmPlan> gemm_plans;
  // The algorithm picked for each bucket of m (keyed by the bucket's upper end): every m of the
  // bucket that accepts it runs it, one kernel variant (cuda_backend_gemm.cpp's bucket_algo).
  std::map<GemmPlanKey, cublasLtMatmulAlgo_t> gemm_algos;

  cuda::DeviceBlock decode_state;  // int32[DecodeStateSlots::kCount]
  // Split counters, zero between launches (each kernel's last block resets its own): the decode
  // attention kernel's (kAttentionCounters ints), then the packed GEMV's, one per column tile
  // (kGemvCounters).
  static constexpr size_t kAttentionCounters = 4096;
  static constexpr size_t kGemvCounters = 4096;
  cuda::DeviceBlock split_counters;
  bool dev_state_mode = false;

  bool capturing = false;
  cudaGraphExec_t last_graph = nullptr;
  // Scratch blocks replaced while a graph exists: the graph still points into them.
  std::vector<cuda::DeviceBlock> retired_scratch;

  std::array<cuda::DeviceBlock, static_cast<size_t>(ScratchSlot::kCount)> scratch{};

  // Null with one GPU (the collectives are then identities). Shared with peer contexts.
  std::shared_ptr<cuda::NcclCommunicator> nccl;

  ~CudaContextState();
};

class CudaContext {
 public:
  CudaContext();  // creates the stream and handles; failures are kept and returned by every op
  CudaContext(CudaContext&&) noexcept = default;
  CudaContext& operator=(CudaContext&&) noexcept = default;

  CudaContextState& state() { return *state_; }
  const CudaContextState& state() const { return *state_; }
  cudaStream_t stream() const { return state_->stream; }
  // ok() unless construction failed (no device, no driver, out of memory).
  Status usable() const;

  // A device pointer to at least `bytes` of scratch for `slot`, growing it when needed. Growth
  // during capture is allowed (capture runs in relaxed mode); the old block then lives until
  // reset_graph, because the captured graph may point into it.
  Expected<void*> scratch(ScratchSlot slot, size_t bytes);
  // Device pointer to the int32 decode state (DecodeStateSlots).
  int32_t* decode_state() { return static_cast<int32_t*>(state_->decode_state.ptr); }
  int* attention_counters() { return static_cast<int*>(state_->split_counters.ptr); }
  int* gemv_counters() { return attention_counters() + CudaContextState::kAttentionCounters; }
  bool dev_state_mode() const { return state_->dev_state_mode; }

 private:
  std::unique_ptr<CudaContextState> state_;
};

}  // namespace ferrum
