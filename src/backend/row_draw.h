// The truncations and the draw of sample_rows on the host: what the CPU backend's sample_rows runs
// and what the engine's host sampler runs after its penalties, so a seeded request draws the same
// tokens on either path. Probabilities are f32 from double exponentials; masses sum in double.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend_types.h"

namespace ferrum {

// Index of the largest value, lowest index on ties, NaN below every number (argmax_rows' pick);
// 0 for an empty row.
int32_t ranked_argmax(std::span<const float> x);

// probs = softmax(x / temperature) over x's finite values (0 elsewhere), then top-k, top-p and
// min-p as Backend::sample_rows states them, zeroing what they drop (not renormalised). Returns
// false, leaving probs empty, when there is nothing to draw from: temperature not above 0, no
// finite value, or a +inf one (sample_rows then picks as argmax_rows does).
bool truncated_probabilities(std::span<const float> x, const RowSampling& params, std::vector<float>& probs);

// Over the kept tokens (probs != 0) in index order, the first whose running share of the kept mass
// exceeds `uniform`; the last kept one when rounding, or a uniform of 1 or more, leaves none; -1
// when nothing is kept.
int32_t draw_index(std::span<const float> probs, double uniform);

}  // namespace ferrum
