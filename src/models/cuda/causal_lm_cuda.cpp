#include "models/cuda/causal_lm_cuda.h"

namespace ferrum {

Expected<std::unique_ptr<CausalLm>> create_cuda_causal_lm(const ModelFiles& files, const ModelRuntimeOptions& options) {
  switch (options.compute_dtype) {
    case DType::kBF16: {
      ModelRuntimeOptions resolved = options;
      if (!resolved.dense_dtype) resolved.dense_dtype = DType::kBF16;
      return create_cuda_bf16_causal_lm(files, resolved);
    }
    case DType::kF32: return create_cuda_f32_causal_lm(files, options);
    default:
      return make_error(ErrorCode::kUnsupported, "CUDA models run bf16 or f32 activations, not ",
                        options.compute_dtype);
  }
}

}  // namespace ferrum
