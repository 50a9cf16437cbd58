// Summary statistics for benchmark samples: mean and sample standard deviation over repetitions,
// percentiles over latencies (linear interpolation between order statistics, as numpy's default).
#pragma once

#include <span>
#include <vector>

namespace ferrum::bench {

double mean(std::span<const double> values);
// Sample standard deviation (n - 1); 0 for fewer than two values.
double sample_sd(std::span<const double> values);
// `q` in [0, 100]; 0 for no values.
double percentile(std::vector<double> values, double q);

}  // namespace ferrum::bench
