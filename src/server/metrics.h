// What GET /metrics reports, in the Prometheus text format (version 0.0.4): request counts by
// endpoint and status, token counts, latency histograms (time to first token, time per output
// token, inter-token latency, end-to-end), and the engine's gauges (running and waiting requests,
// KV blocks, prefix-cache lookups) read from EngineStats at scrape time.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"

namespace ferrum::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  void render(std::string& out, std::string_view name, std::string_view help) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); the last is +Inf
  double sum_ = 0;
  uint64_t total_ = 0;
};

class ServerMetrics {
 public:
  ServerMetrics();

  void count_request(std::string_view endpoint, int status);
  void count_tokens(size_t prompt, size_t generated);
  void observe_time_to_first_token(double seconds);
  void observe_time_per_output_token(double seconds);
  void observe_inter_token_latency(double seconds);
  void observe_request_latency(double seconds);
  void set_in_flight(size_t requests);

  // `engine` is nullopt for servers without a generation engine (embedding or speech models).
  std::string render(const std::optional<EngineStats>& engine, size_t open_connections) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0, generated_tokens_ = 0;
  size_t in_flight_ = 0;
  Histogram ttft_, tpot_, itl_, e2e_;
};

}  // namespace ferrum::server
