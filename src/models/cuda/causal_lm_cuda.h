// The CUDA instantiation of create_causal_lm (causal_lm_factory.h), in its own library so the CPU
// build never compiles against the CUDA backend. Built only with FERRUM_CUDA=ON.
#pragma once

#include <memory>

#include "models/causal_lm.h"
#include "models/causal_lm_factory.h"
#include "models/model_files.h"

namespace ferrum {

Expected<std::unique_ptr<CausalLm>> create_cuda_causal_lm(const ModelFiles& files, const ModelRuntimeOptions& options);

}  // namespace ferrum
