#include "bench/bench_engine.h"

namespace ferrum::bench {

Expected<std::unique_ptr<Engine>> make_bench_engine(ModelBundle& /*bundle*/, size_t /*max_sequences*/) {
  return make_error(ErrorCode::kUnsupported,
                    "batched decode needs the serving engine (src/engine/engine.h), which this build does not have "
                    "yet; batch 1 is measured, and `ferrum bench-serve -c 16,64` measures batched serving against "
                    "any OpenAI-compatible server");
}

}  // namespace ferrum::bench
