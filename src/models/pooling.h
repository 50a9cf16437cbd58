// Sentence-embedding pooling on the host: the pooled vector is one row, so it costs nothing to
// download the hidden states and reduce them here, in double.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace ferrum {

// The mean of hidden [tokens, dim] over its rows (the unmasked tokens of one sequence).
std::vector<float> mean_pool(std::span<const float> hidden, size_t tokens, size_t dim);

// v / max(||v||_2, 1e-12), as torch.nn.functional.normalize does.
std::vector<float> l2_normalize(std::span<const float> vector);

}  // namespace ferrum
