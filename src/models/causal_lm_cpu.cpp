#include "backend/cpu/cpu_backend.h"
#include "models/causal_lm_factory.h"

namespace ferrum {


Expected<std::unique_ptr<CausalLm>> create_cpu_causal_lm(const ModelFiles& files, const ModelRuntimeOptions& options) {
  return create_causal_lm<CpuBackend>(files, options, "cpu");
}

}  // namespace ferrum
