// `ferrum bench-serve`: a load generator for any OpenAI-compatible server (ferrum's, vLLM,
// llama.cpp's server, ...). For each concurrency level it keeps that many streaming requests in
// flight (closed loop: a worker sends its next request when the previous one ends) until
// `num_prompts` requests have completed, and measures from the client's side:
//   TTFT  time from sending a request to its first generated text
//   ITL   time between consecutive chunks of generated text (inter-token latency)
//   TPOT  (end-to-end latency - TTFT) / (output tokens - 1): decode time per token of a request
//   E2E   end-to-end latency of a request
// and the request, output-token and total-token throughput of the level. Output tokens come from
// the server's usage report when it sends one (stream_options.include_usage), else from the
// number of text chunks. Prompts are random common English words, about one token each (exact
// when a tokenizer is given), different for every request so prefix caches cannot skip prefill.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench/sse_stream.h"
#include "core/error.h"

namespace ferrum::bench {

struct ServeBenchConfig {
  std::string url;  // the server, "http://host:port" or ".../v1"
  OpenAiApi api = OpenAiApi::kCompletions;
  std::string model;    // the request's "model"; empty: the first of GET /v1/models
  std::string api_key;  // sent as a bearer token when not empty
  std::vector<size_t> concurrency{1};
  size_t input_len = 256;
  size_t output_len = 128;
  size_t num_prompts = 0;  // per level; 0: 4 x concurrency, at least 16
  size_t warmup_requests = 1;
  bool ignore_eos = true;  // ask for exactly output_len tokens (vLLM, llama.cpp and ferrum accept it)
  uint64_t seed = 0;
  double request_timeout_s = 600;
  // Counts prompt tokens exactly when set (a model path for ferrum's tokenizer loader).
  std::function<size_t(const std::string&)> count_tokens;
};

struct RequestRecord {
  bool ok = false;
  std::string error;
  double ttft_s = 0;
  double e2e_s = 0;
  std::vector<double> itl_s;
  size_t output_tokens = 0;
  size_t prompt_tokens = 0;
  bool usage_reported = false;
};

struct LatencySummary {
  double mean_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0;
};

struct ServeLevelResult {
  size_t concurrency = 0;
  size_t requests = 0;
  size_t completed = 0;
  size_t failed = 0;
  double duration_s = 0;
  size_t prompt_tokens = 0;
  size_t output_tokens = 0;
  bool usage_reported = false;         // every completed request's token counts came from the server
  double request_throughput = 0;       // completed requests / s
  double output_token_throughput = 0;  // tokens / s
  double total_token_throughput = 0;   // (prompt + output tokens) / s
  LatencySummary ttft, tpot, itl, e2e;
  std::vector<std::string> error_samples;  // the first few distinct errors
};

struct ServeBenchResult {
  std::string endpoint;  // the full URL requests went to
  std::string model;
  std::vector<ServeLevelResult> levels;
};

using ServeProgress = std::function<void(const std::string& line)>;

Expected<ServeBenchResult> run_serve_bench(const ServeBenchConfig& config, const ServeProgress& progress = {});

// The prompt of request `index`: about `words` words, deterministic in (seed, index).
std::string make_prompt(size_t words, uint64_t seed, size_t index);

// Builds a level's summary from its records.
ServeLevelResult summarise_level(size_t concurrency, const std::vector<RequestRecord>& records, double duration_s);

}  // namespace ferrum::bench
