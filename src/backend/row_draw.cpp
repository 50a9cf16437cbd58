#include "backend/row_draw.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ferrum {
namespace {

// How many of the first `limit` tokens of `order` top-p keeps; 0 when their mass falls short.
size_t top_p_prefix(std::span<const float> probs, std::span<const int32_t> order, size_t limit, float top_p) {
  double cumulative = 0.0;
  for (size_t i = 0; i < limit; ++i) {
    cumulative += probs[static_cast<size_t>(order[i])];
    if (cumulative >= top_p) return i + 1;
  }
  return 0;
}

}  // namespace

int32_t ranked_argmax(std::span<const float> x) {
  size_t best = 0;
  for (size_t i = 1; i < x.size(); ++i) {
    if (std::isnan(x[best]) ? !std::isnan(x[i]) : x[i] > x[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

bool truncated_probabilities(std::span<const float> x, const RowSampling& params, std::vector<float>& probs) {
  probs.clear();
  if (!(params.temperature > 0.0f)) return false;
  float max = -INFINITY;
  for (float value : x) {
    if (value > max) max = value;  // NaN never compares greater
  }
  if (!std::isfinite(max)) return false;  // no finite value, or a +inf one

  const size_t n = x.size();
  probs.resize(n);
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) {
    probs[i] =
        std::isfinite(x[i]) ? static_cast<float>(std::exp(static_cast<double>(x[i] - max) / params.temperature)) : 0.0f;
    total += probs[i];
  }
  for (float& p : probs) p = static_cast<float>(p / total);

  // Candidates: the finite values, largest first, lowest index first among equals.
  std::vector<int32_t> order;
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(x[i])) order.push_back(static_cast<int32_t>(i));
  }
  const auto larger = [&](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };
  const float top_k = std::floor(params.top_k);
  size_t kept = order.size();
  if (top_k >= 1.0f && top_k < static_cast<float>(kept)) kept = static_cast<size_t>(top_k);
  const bool top_p = params.top_p < 1.0f;
  if (kept < order.size() || top_p) {
    size_t top_p_kept = 0;
    if (kept == order.size() && top_p) {
      // Top-p alone: tokens with p < (1 - top_p) / n hold less than 1 - top_p together, so the set
      // lies among the others, a prefix of the order; sort only those unless rounding says otherwise.
      const double floor = (1.0 - static_cast<double>(params.top_p)) / static_cast<double>(n);
      const auto reachable =
          std::partition(order.begin(), order.end(), [&](int32_t i) { return probs[static_cast<size_t>(i)] >= floor; });
      std::sort(order.begin(), reachable, larger);
      top_p_kept = top_p_prefix(probs, order, static_cast<size_t>(reachable - order.begin()), params.top_p);
    }
    if (top_p_kept == 0) {
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(kept), order.end(), larger);
      if (top_p) top_p_kept = top_p_prefix(probs, order, kept, params.top_p);
    }
    if (top_p_kept > 0) kept = top_p_kept;
    std::vector<float> truncated(n, 0.0f);
    for (size_t i = 0; i < kept; ++i) truncated[static_cast<size_t>(order[i])] = probs[static_cast<size_t>(order[i])];
    probs.swap(truncated);
  }
  if (!(params.min_p <= 0.0f)) {  // NaN drops everything, as sample_rows says
    const float threshold = params.min_p * *std::max_element(probs.begin(), probs.end());
    for (float& p : probs) {
      if (!(p >= threshold)) p = 0.0f;
    }
  }
  return true;
}

int32_t draw_index(std::span<const float> probs, double uniform) {
  const double kept_mass = std::accumulate(probs.begin(), probs.end(), 0.0);
  double cumulative = 0.0;
  int32_t last = -1;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] == 0.0f) continue;
    cumulative += static_cast<float>(probs[i] / kept_mass);
    last = static_cast<int32_t>(i);
    if (uniform < cumulative && uniform < 1.0) return last;
  }
  return last;
}

}  // namespace ferrum
