#include "models/pooling.h"

#include <algorithm>
#include <cmath>

namespace ferrum {

std::vector<float> mean_pool(std::span<const float> hidden, size_t tokens, size_t dim) {
  std::vector<double> sum(dim, 0.0);
  for (size_t t = 0; t < tokens; ++t) {
    for (size_t d = 0; d < dim; ++d) sum[d] += hidden[t * dim + d];
  }
  std::vector<float> mean(dim, 0.0f);
  if (tokens == 0) return mean;
  for (size_t d = 0; d < dim; ++d) mean[d] = static_cast<float>(sum[d] / static_cast<double>(tokens));
  return mean;
}

std::vector<float> l2_normalize(std::span<const float> vector) {
  double norm_sq = 0.0;
  for (float value : vector) norm_sq += static_cast<double>(value) * value;
  const double norm = std::max(std::sqrt(norm_sq), 1e-12);
  std::vector<float> out(vector.size());
  for (size_t i = 0; i < vector.size(); ++i) out[i] = static_cast<float>(vector[i] / norm);
  return out;
}

}  // namespace ferrum
