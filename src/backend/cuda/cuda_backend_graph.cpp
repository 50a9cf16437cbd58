// CudaBackend: CUDA-graph decode. The engine captures one decode step with the dynamic scalars
// (token, position) read from device memory, then per step writes the new values with
// set_decode_state and replays the graph: one launch instead of hundreds.
#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/layout.h"

namespace ferrum {

void CudaBackend::set_decode_state(CudaContext& ctx, uint32_t token, uint32_t step) {
  if (!ctx.usable()) return;
  // A one-thread kernel rather than a host copy: ordered on the stream, and the values travel as
  // launch arguments, so no host staging buffer can be overwritten before the copy runs.
  Status status = cuda::launch_set_decode_state(ctx.decode_state(), token, step, ctx.stream());
  if (!status && !ctx.state().deferred_error) ctx.state().deferred_error = std::move(status).error();
}

void CudaBackend::set_dev_state_mode(CudaContext& ctx, bool enable) {
  if (!ctx.usable()) return;
  ctx.state().dev_state_mode = enable;
}

Status CudaBackend::begin_graph_capture(CudaContext& ctx) {
  FERRUM_TRY(ctx.usable());
  FERRUM_CHECK(!ctx.state().capturing, ErrorCode::kInvalidArgument, "begin_graph_capture: a capture is in progress");
  // Relaxed: scratch may still grow (cudaMalloc) during the first captured step.
  FERRUM_CUDA_TRY(cudaStreamBeginCapture(ctx.stream(), cudaStreamCaptureModeRelaxed));
  ctx.state().capturing = true;
  return ok();
}

Status CudaBackend::end_graph_capture(CudaContext& ctx) {
  FERRUM_TRY(ctx.usable());
  CudaContextState& state = ctx.state();
  FERRUM_CHECK(state.capturing, ErrorCode::kInvalidArgument, "end_graph_capture: no capture in progress");
  state.capturing = false;
  cudaGraph_t graph = nullptr;
  FERRUM_CUDA_TRY(cudaStreamEndCapture(ctx.stream(), &graph), "(an op inside the capture failed or synchronised)");
  cudaGraphExec_t exec = nullptr;
  const cudaError_t code = cudaGraphInstantiate(&exec, graph, 0);
  (void)cudaGraphDestroy(graph);
  if (code != cudaSuccess) return cuda::cuda_error(code, "cudaGraphInstantiate");
  if (state.last_graph != nullptr) {
    FERRUM_CUDA_TRY(cudaStreamSynchronize(ctx.stream()), "(before replacing the last graph)");
    (void)cudaGraphExecDestroy(state.last_graph);
  }
  state.last_graph = exec;
  // Capture only recorded the step; run it once so the caller's forward has its results, as the
  // eager path would (the spec's flow reads the logits right after end_graph_capture).
  FERRUM_CUDA_TRY(cudaGraphLaunch(exec, ctx.stream()), "(first launch of the captured graph)");
  return ok();
}

Expected<bool> CudaBackend::replay_last_graph(CudaContext& ctx) {
  FERRUM_TRY(ctx.usable());
  if (ctx.state().last_graph == nullptr) return false;
  FERRUM_CUDA_TRY(cudaGraphLaunch(ctx.state().last_graph, ctx.stream()), "(replay_last_graph)");
  return true;
}

void CudaBackend::reset_graph(CudaContext& ctx) {
  if (!ctx.usable()) return;
  CudaContextState& state = ctx.state();
  if (state.last_graph == nullptr && state.retired_scratch.empty()) return;
  (void)cudaStreamSynchronize(state.stream);
  if (state.last_graph != nullptr) (void)cudaGraphExecDestroy(state.last_graph);
  state.last_graph = nullptr;
  for (cuda::DeviceBlock block : state.retired_scratch) cuda::DeviceAllocator::instance().release(block);
  state.retired_scratch.clear();
}

}  // namespace ferrum
