#include "backend/cuda/cuda_backend.h"
#include "models/cuda/causal_lm_cuda.h"

namespace ferrum {

Expected<std::unique_ptr<CausalLm>> create_cuda_f32_causal_lm(const ModelFiles& files,
                                                              const ModelRuntimeOptions& options) {
  return create_causal_lm<CudaF32Backend>(files, options, "cuda");
}

}  // namespace ferrum
