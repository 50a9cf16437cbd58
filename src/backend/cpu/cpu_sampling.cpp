// The sampling ops on the CPU. sample_rows runs row_draw.h's truncations and draw and
// adjust_logits backend_types.h's adjusted_logit, the ones the engine's host sampler runs, so a
// seeded request draws the same tokens whether the engine samples on the host or here.
#include <algorithm>
#include <cmath>
#include <limits>
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

Status CpuBackend::adjust_logits(CpuContext& /*ctx*/, CpuBuffer& x, const CpuBuffer& adjustments, size_t rows,
                                 size_t cols) {
  FERRUM_TRY(check_adjust_logits(x, adjustments, rows, cols));
  const auto* words = adjustments.data_as<int32_t>();
  const size_t capacity = adjustments.numel() / kLogitAdjustmentWords - 1;
  const size_t count = std::min(static_cast<size_t>(std::max(words[0], 0)), capacity);
  const auto* entries = reinterpret_cast<const LogitAdjustment*>(words + kLogitAdjustmentWords);
  float* logits = x.data_as<float>();
  for (size_t i = 0; i < count; ++i) {
    const LogitAdjustment& e = entries[i];
    if (e.row < 0 || static_cast<size_t>(e.row) >= rows || e.token < 0 || static_cast<size_t>(e.token) >= cols)
      continue;
    float& logit = logits[static_cast<size_t>(e.row) * cols + static_cast<size_t>(e.token)];
    logit = adjusted_logit(logit, e.repetition, e.add);
  }
  return ok();
}

Status CpuBackend::log_softmax_at(CpuContext& ctx, const CpuBuffer& x, const CpuBuffer& ids, CpuBuffer& out,
                                  size_t rows, size_t cols, size_t k) {
  FERRUM_TRY(check_log_softmax_at(x, ids, out, rows, cols, k));
  const float* logits = x.data_as<float>();
  const int32_t* wanted = ids.data_as<int32_t>();
  float* result = out.data_as<float>();
  cpu::parallel_for(ctx, rows, 1, [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) {
      const float* row = logits + r * cols;
      // In double, shifted by the row's largest value: the log of the sum is exact to f32.
      const double top = cols > 0 ? *std::max_element(row, row + cols) : -INFINITY;
      double total = 0.0;
      if (top != -INFINITY) {
        for (size_t c = 0; c < cols; ++c) total += std::exp(static_cast<double>(row[c]) - top);
      }
      const double log_total = top == -INFINITY ? -INFINITY : top + std::log(total);
      for (size_t j = 0; j < k; ++j) {
        const int32_t id = wanted[r * k + j];
        float& value = result[r * k + j];
        if (id < 0 || static_cast<size_t>(id) >= cols) {
          value = std::numeric_limits<float>::quiet_NaN();
        } else {
          value = top == -INFINITY ? -INFINITY : static_cast<float>(row[id] - log_total);
        }
      }
    }
  });
  return ok();
}

}  // namespace ferrum
