// The two CUDA instantiations of the model factory, one per activation dtype, in separate files
// so they compile in parallel; create_cuda_causal_lm (causal_lm_factory.h) picks one.
#pragma once

#include "models/causal_lm_factory.h"

namespace ferrum {

Expected<std::unique_ptr<CausalLm>> create_cuda_bf16_causal_lm(const ModelFiles& files,
                                                               const ModelRuntimeOptions& options);
Expected<std::unique_ptr<CausalLm>> create_cuda_f32_causal_lm(const ModelFiles& files,
                                                              const ModelRuntimeOptions& options);

}  // namespace ferrum
