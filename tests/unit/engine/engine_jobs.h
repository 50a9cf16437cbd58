// The request mixes the engine tests run (tests/unit/engine and tests/unit/tp): assorted prompt and
// output lengths, and prompts sharing a prefix for the prefix cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace ferrum::testing {

struct Job {
  std::vector<int32_t> prompt;
  size_t max_new_tokens = 0;
};

// Prompts of assorted lengths (1 to 100, some longer than a step's budget) and output lengths.
inline std::vector<Job> mixed_jobs(size_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::vector<std::pair<size_t, size_t>> shapes = {{1, 9},  {5, 16},  {17, 3},  {33, 12},
                                                         {40, 5}, {100, 7}, {64, 10}, {2, 20}};
  std::vector<Job> jobs;
  for (auto [prompt_len, new_tokens] : shapes) {
    Job job;
    for (size_t i = 0; i < prompt_len; ++i) job.prompt.push_back(static_cast<int32_t>(rng() % vocab));
    job.max_new_tokens = new_tokens;
    jobs.push_back(std::move(job));
  }
  return jobs;
}

// Prompts sharing a 37-token prefix (two full 16-token blocks and change), two of them identical,
// and last the prefix's first 32 tokens alone: the second wave finds the prefix cached, and a
// prompt that is all cached blocks recomputes its last token into a copy-on-write copy of its
// last block.
inline std::vector<Job> shared_prefix_jobs(size_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> prefix;
  for (size_t i = 0; i < 37; ++i) prefix.push_back(static_cast<int32_t>(rng() % vocab));
  std::vector<Job> jobs;
  for (size_t suffix : {5, 0, 11, 0, 30}) {
    Job job;
    job.prompt = prefix;
    for (size_t i = 0; i < suffix; ++i) job.prompt.push_back(static_cast<int32_t>(rng() % vocab));
    job.max_new_tokens = 6 + suffix % 5;
    jobs.push_back(std::move(job));
  }
  jobs.push_back({std::vector<int32_t>(prefix.begin(), prefix.begin() + 32), 9});
  return jobs;
}

}  // namespace ferrum::testing
