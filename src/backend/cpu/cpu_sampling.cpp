// sample_rows on the CPU: the contract's draw done the way the engine's host sampler does it
// (probabilities in f32 from double exponentials, masses summed in double), so a seeded request
// draws the same tokens whether the engine samples on the host or through this op.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/op_checks.h"

namespace ferrum {
namespace {

// Index of the largest value, lowest index on ties, NaN below every number (argmax_rows' pick).
int32_t ranked_argmax(const float* x, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i) {
    if (std::isnan(x[best]) ? !std::isnan(x[i]) : x[i] > x[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

struct RowScratch {
  std::vector<float> probs;
  std::vector<int32_t> order;
};

int32_t sample_row(const float* x, size_t n, const RowSampling& params, RowScratch& scratch) {
  if (!(params.temperature > 0.0f)) return ranked_argmax(x, n);
  float max = -INFINITY;
  for (size_t i = 0; i < n; ++i) {
    if (x[i] > max) max = x[i];  // NaN never compares greater
  }
  if (!std::isfinite(max)) return ranked_argmax(x, n);  // no finite logit, or a +inf one

  std::vector<float>& probs = scratch.probs;
  probs.resize(n);
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) {
    probs[i] =
        std::isfinite(x[i]) ? static_cast<float>(std::exp(static_cast<double>(x[i] - max) / params.temperature)) : 0.0f;
    total += probs[i];
  }
  for (float& p : probs) p = static_cast<float>(p / total);

  // Candidates: the finite logits, largest first, lowest index first among equals.
  std::vector<int32_t>& order = scratch.order;
  order.clear();
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(x[i])) order.push_back(static_cast<int32_t>(i));
  }
  const auto larger = [&](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };
  const float top_k = std::floor(params.top_k);
  size_t kept = order.size();
  if (top_k >= 1.0f && top_k < static_cast<float>(kept)) kept = static_cast<size_t>(top_k);
  const bool top_p = params.top_p < 1.0f;
  // How many of the first `limit` ordered tokens top-p keeps; 0 when their mass falls short.
  const auto top_p_prefix = [&](size_t limit) -> size_t {
    double cumulative = 0.0;
    for (size_t i = 0; i < limit; ++i) {
      cumulative += probs[static_cast<size_t>(order[i])];
      if (cumulative >= params.top_p) return i + 1;
    }
    return 0;
  };
  if (kept < order.size() || top_p) {
    size_t top_p_kept = 0;
    if (kept == order.size() && top_p) {
      // Top-p alone: tokens with p < (1 - top_p) / n hold less than 1 - top_p together, so the set
      // lies among the others, a prefix of the order; sort only those unless rounding says otherwise.
      const double floor = (1.0 - static_cast<double>(params.top_p)) / static_cast<double>(n);
      const auto reachable =
          std::partition(order.begin(), order.end(), [&](int32_t i) { return probs[static_cast<size_t>(i)] >= floor; });
      std::sort(order.begin(), reachable, larger);
      top_p_kept = top_p_prefix(static_cast<size_t>(reachable - order.begin()));
    }
    if (top_p_kept == 0) {
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(kept), order.end(), larger);
      if (top_p) top_p_kept = top_p_prefix(kept);
    }
    if (top_p_kept > 0) kept = top_p_kept;
    std::vector<float> truncated(n, 0.0f);
    for (size_t i = 0; i < kept; ++i) truncated[static_cast<size_t>(order[i])] = probs[static_cast<size_t>(order[i])];
    probs.swap(truncated);
  }
  if (!(params.min_p <= 0.0f)) {  // NaN drops everything, as the contract says
    const float threshold = params.min_p * *std::max_element(probs.begin(), probs.end());
    for (float& p : probs) {
      if (!(p >= threshold)) p = 0.0f;
    }
  }
  const double kept_mass = std::accumulate(probs.begin(), probs.end(), 0.0);
  const double draw = params.uniform > 0.0f ? std::min(static_cast<double>(params.uniform), 1.0) : 0.0;
  double cumulative = 0.0;
  int32_t last = -1;
  for (size_t i = 0; i < n; ++i) {
    if (probs[i] == 0.0f) continue;
    cumulative += static_cast<float>(probs[i] / kept_mass);
    last = static_cast<int32_t>(i);
    if (draw < cumulative && draw < 1.0) return last;  // a draw of 1 takes the last kept token
  }
  return last >= 0 ? last : ranked_argmax(x, n);
}

}  // namespace

Status CpuBackend::sample_rows(CpuContext& ctx, const CpuBuffer& x, const CpuBuffer& params, CpuBuffer& ids,
                               size_t rows, size_t cols) {
  FERRUM_TRY(check_sample_rows(x, params, ids, rows, cols));
  const float* logits = x.data_as<float>();
  const auto* row_params = reinterpret_cast<const RowSampling*>(params.data_as<float>());
  int32_t* out = ids.data_as<int32_t>();
  cpu::parallel_for(ctx, rows, 1, [&](size_t begin, size_t end) {
    RowScratch scratch;
    for (size_t r = begin; r < end; ++r) out[r] = sample_row(logits + r * cols, cols, row_params[r], scratch);
  });
  return ok();
}

}  // namespace ferrum
