// sample_rows on the CPU: row_draw.h's truncations and draw, the ones the engine's host sampler
// runs, so a seeded request draws the same tokens whether the engine samples on the host or here.
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/op_checks.h"
#include "backend/row_draw.h"

namespace ferrum {

Status CpuBackend::sample_rows(CpuContext& ctx, const CpuBuffer& x, const CpuBuffer& params, CpuBuffer& ids,
                               size_t rows, size_t cols) {
  FERRUM_TRY(check_sample_rows(x, params, ids, rows, cols));
  const float* logits = x.data_as<float>();
  const auto* row_params = reinterpret_cast<const RowSampling*>(params.data_as<float>());
  int32_t* out = ids.data_as<int32_t>();
  cpu::parallel_for(ctx, rows, 1, [&](size_t begin, size_t end) {
    std::vector<float> probs;
    for (size_t r = begin; r < end; ++r) {
      const std::span<const float> row(logits + r * cols, cols);
      const RowSampling& p = row_params[r];
      int32_t id = -1;
      if (truncated_probabilities(row, p, probs)) id = draw_index(probs, p.uniform > 0.0f ? p.uniform : 0.0);
      out[r] = id >= 0 ? id : ranked_argmax(row);
    }
  });
  return ok();
}

}  // namespace ferrum
