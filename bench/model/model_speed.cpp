// Whole-model CPU speed, as llama-bench measures it: prefill of P tokens (one forward over the
// prompt) and decode of N tokens (one token per forward), each repeated R times on a fresh
// sequence; prints the median tok/s of each and the decode's weight bandwidth. Beside the wall
// clock it prints the rate per CPU-second of the whole process (all threads): on a shared machine
// a one-thread run's CPU-time rate is the per-core speed the neighbours do not distort.
//   ferrum-model-speed MODEL.gguf [P=64] [N=32] [R=3] [threads=all]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "core/thread_pool.h"
#include "models/causal_lm_factory.h"

using namespace ferrum;

namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL [prompt=64] [decode=32] [repeats=3] [threads]\n", argv[0]);
    return 2;
  }
  const size_t prompt = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 64;
  const size_t decode = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 32;
  const size_t repeats = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 3;
  if (argc > 5) set_default_thread_count(std::strtoull(argv[5], nullptr, 10));
  auto files = open_model_files(argv[1]);
  if (!files) return std::fprintf(stderr, "%s\n", files.error().to_string().c_str()), 1;
  ModelRuntimeOptions options;
  options.max_context = prompt + decode + 8;
  auto lm = create_cpu_causal_lm(*files, options);
  if (!lm) return std::fprintf(stderr, "%s\n", lm.error().to_string().c_str()), 1;
  const CausalLmInfo& info = (*lm)->info();
  std::vector<uint32_t> tokens(prompt);
  for (size_t i = 0; i < prompt; ++i) tokens[i] = static_cast<uint32_t>((i * 7919 + 13) % info.vocab_size);
  std::vector<double> prefill, generation, prefill_cpu, generation_cpu;
  for (size_t r = 0; r <= repeats; ++r) {  // the first round warms the page cache and is not counted
    auto state = (*lm)->new_sequence(prompt + decode + 1);
    if (!state) return std::fprintf(stderr, "%s\n", state.error().to_string().c_str()), 1;
    auto start = std::chrono::steady_clock::now();
    double cpu_start = process_cpu_seconds();
    auto logits = (*lm)->forward(**state, tokens);
    if (!logits) return std::fprintf(stderr, "%s\n", logits.error().to_string().c_str()), 1;
    const double prefill_seconds = seconds_since(start);
    const double prefill_cpu_seconds = process_cpu_seconds() - cpu_start;
    start = std::chrono::steady_clock::now();
    cpu_start = process_cpu_seconds();
    uint32_t next = 1;
    for (size_t i = 0; i < decode; ++i) {
      auto step = (*lm)->forward(**state, std::span<const uint32_t>(&next, 1));
      if (!step) return std::fprintf(stderr, "%s\n", step.error().to_string().c_str()), 1;
      next = static_cast<uint32_t>(std::max_element(step->begin(), step->end()) - step->begin());
    }
    const double decode_seconds = seconds_since(start);
    const double decode_cpu_seconds = process_cpu_seconds() - cpu_start;
    if (r == 0) continue;
    prefill.push_back(static_cast<double>(prompt) / prefill_seconds);
    generation.push_back(static_cast<double>(decode) / decode_seconds);
    prefill_cpu.push_back(static_cast<double>(prompt) / prefill_cpu_seconds);
    generation_cpu.push_back(static_cast<double>(decode) / decode_cpu_seconds);
  }
  const double tg = median(generation);
  std::printf("%s: %zu threads, weights %.1f MiB\n", argv[1], default_thread_pool().size(),
              static_cast<double>(info.weight_bytes) / 1048576.0);
  std::printf("wall:       pp%zu %.1f tok/s   tg%zu %.1f tok/s (%.1f GB/s of weights)\n", prompt, median(prefill),
              decode, tg, tg * static_cast<double>(info.weight_bytes) / 1e9);
  const double tg_cpu = median(generation_cpu);
  std::printf("per CPU-s:  pp%zu %.1f tok/s   tg%zu %.1f tok/s (%.1f GB/s of weights)\n", prompt, median(prefill_cpu),
              decode, tg_cpu, tg_cpu * static_cast<double>(info.weight_bytes) / 1e9);
  return 0;
}
