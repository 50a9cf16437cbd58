// The report of a `ferrum bench` run: a markdown table in the manner of llama-bench (one row per
// model and test) with the run's header, or the same as JSON for scripts. Both carry the commit,
// device, driver and bounds every figure depends on.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/llm_bench.h"
#include "bench/model_summary.h"
#include "bench/system_info.h"

namespace ferrum::bench {

struct ModelReport {
  std::string path;
  ModelSummary summary;
  std::string architecture;
  double parameters = 0;
  double active_parameters = 0;
  double weight_bytes_per_step = 0;
  double kv_bytes_per_token = 0;
  double load_seconds = 0;
  uint64_t peak_memory_bytes = 0;
  std::vector<TestResult> results;
};

struct BenchReport {
  SystemInfo system;
  size_t threads = 0;
  Bounds bounds;
  BenchConfig config;
  std::vector<ModelReport> models;
};

std::string bench_report_markdown(const BenchReport& report);
nlohmann::ordered_json bench_report_json(const BenchReport& report);

}  // namespace ferrum::bench
