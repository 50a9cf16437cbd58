// scatter_add_rows: the weighted inverse of the row gather (embedding_lookup), as a mixture-of-experts
// layer adds each expert's outputs back into the rows of the tokens routed to it.
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_math.h"
#include "backend/op_checks.h"

namespace ferrum {

Status CpuBackend::scatter_add_rows(CpuContext& ctx, const CpuBuffer& src, std::span<const uint32_t> ids,
                                    std::span<const float> weights, CpuBuffer& out, size_t cols) {
  constexpr std::string_view op = "scatter_add_rows";
  FERRUM_TRY(check_dtype(op, "src", src, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_CHECK(weights.size() == ids.size(), ErrorCode::kShapeMismatch, op, ": ", weights.size(), " weights for ",
               ids.size(), " ids");
  FERRUM_TRY(check_numel(op, "src", src, {ids.size(), cols}));
  if (ids.empty() || cols == 0) return ok();
  const size_t rows = out.numel() / cols;
  // Distinct ids let every row be updated by one thread without ordering between them.
  std::vector<bool> seen(rows, false);
  for (size_t i = 0; i < ids.size(); ++i) {
    FERRUM_CHECK(ids[i] < rows, ErrorCode::kOutOfRange, op, ": ids[", i, "] = ", ids[i], " is not below out's ", rows,
                 " rows of ", cols);
    FERRUM_CHECK(!seen[ids[i]], ErrorCode::kInvalidArgument, op, ": ids[", i, "] = ", ids[i],
                 " repeats an earlier id (ids must be distinct)");
    seen[ids[i]] = true;
  }
  const float* source = src.data_as<float>();
  float* target = out.data_as<float>();
  cpu::parallel_for(ctx, ids.size(), cpu::grain_for(cols), [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const cpu::simd::Vec weight = cpu::simd::broadcast(weights[i]);
      float* row = target + static_cast<size_t>(ids[i]) * cols;
      cpu::map_rows2(source + i * cols, row, row, cols,
                     [weight](cpu::simd::Vec x, cpu::simd::Vec acc) { return cpu::simd::fma(x, weight, acc); });
    }
  });
  return ok();
}

}  // namespace ferrum
