#include "models/cuda/causal_lm_cuda.h"

#include "backend/cuda/cuda_backend.h"

namespace ferrum {

Expected<std::unique_ptr<CausalLm>> create_cuda_causal_lm(const ModelFiles& files, const ModelRuntimeOptions& options) {
  return create_causal_lm<CudaBackend>(files, options, "cuda");
}

}  // namespace ferrum
