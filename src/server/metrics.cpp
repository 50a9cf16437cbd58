#include "server/metrics.h"

#include <cstdio>

namespace ferrum::server {
namespace {

std::string number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.9g", value);
  return buffer;
}

void counter(std::string& out, std::string_view name, std::string_view help, uint64_t value) {
  out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) + " counter\n";
  out += std::string(name) + " " + std::to_string(value) + "\n";
}

void gauge(std::string& out, std::string_view name, std::string_view help, double value) {
  out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) + " gauge\n";
  out += std::string(name) + " " + number(value) + "\n";
}

// Latency buckets from 1 ms to 2 min, dense where interactive serving lives.
std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
          0.75,  1,      2.5,   5,    7.5,  10,   20,   40,   80,  120};
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
  ++counts_[bucket];
  sum_ += value;
  ++total_;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view help) const {
  const std::string base(name);
  out += "# HELP " + base + " " + std::string(help) + "\n# TYPE " + base + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += base + "_bucket{le=\"" + number(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += base + "_bucket{le=\"+Inf\"} " + std::to_string(total_) + "\n";
  out += base + "_sum " + number(sum_) + "\n" + base + "_count " + std::to_string(total_) + "\n";
}

ServerMetrics::ServerMetrics()
    : ttft_(latency_buckets()), tpot_(latency_buckets()), itl_(latency_buckets()), e2e_(latency_buckets()) {}

void ServerMetrics::count_request(std::string_view endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{std::string(endpoint), status}];
}

void ServerMetrics::count_tokens(size_t prompt, size_t generated) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += prompt;
  generated_tokens_ += generated;
}

void ServerMetrics::observe_time_to_first_token(double seconds) {
  std::lock_guard lock(mutex_);
  ttft_.observe(seconds);
}

void ServerMetrics::observe_time_per_output_token(double seconds) {
  std::lock_guard lock(mutex_);
  tpot_.observe(seconds);
}

void ServerMetrics::observe_inter_token_latency(double seconds) {
  std::lock_guard lock(mutex_);
  itl_.observe(seconds);
}

void ServerMetrics::observe_request_latency(double seconds) {
  std::lock_guard lock(mutex_);
  e2e_.observe(seconds);
}

void ServerMetrics::set_in_flight(size_t requests) {
  std::lock_guard lock(mutex_);
  in_flight_ = requests;
}

std::string ServerMetrics::render(const std::optional<EngineStats>& engine, size_t open_connections) const {
  std::lock_guard lock(mutex_);
  std::string out;
  out += "# HELP ferrum_requests_total HTTP requests answered, by endpoint and status.\n";
  out += "# TYPE ferrum_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    out += "ferrum_requests_total{endpoint=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(count) + "\n";
  }
  counter(out, "ferrum_prompt_tokens_total", "Prompt tokens of finished generation requests.", prompt_tokens_);
  counter(out, "ferrum_generation_tokens_total", "Tokens generated for finished requests.", generated_tokens_);
  ttft_.render(out, "ferrum_time_to_first_token_seconds", "From request arrival to the first generated token.");
  tpot_.render(out, "ferrum_time_per_output_token_seconds",
               "Per request: (last token time - first token time) / (tokens - 1).");
  itl_.render(out, "ferrum_inter_token_latency_seconds", "Time between consecutive tokens of a stream.");
  e2e_.render(out, "ferrum_e2e_request_latency_seconds", "From request arrival to its last byte.");
  gauge(out, "ferrum_http_requests_in_flight", "Generation requests the server is working on.",
        static_cast<double>(in_flight_));
  gauge(out, "ferrum_http_connections", "Open client connections.", static_cast<double>(open_connections));
  if (engine) {
    gauge(out, "ferrum_requests_running", "Requests the engine is generating for.",
          static_cast<double>(engine->running));
    gauge(out, "ferrum_requests_waiting", "Requests queued in the engine (queue depth).",
          static_cast<double>(engine->waiting));
    gauge(out, "ferrum_kv_blocks_used", "KV cache blocks in use.", static_cast<double>(engine->kv_blocks_used));
    gauge(out, "ferrum_kv_blocks_total", "KV cache blocks in all.", static_cast<double>(engine->kv_blocks_total));
    gauge(out, "ferrum_kv_cache_usage_ratio", "Fraction of KV cache blocks in use.",
          engine->kv_blocks_total ? static_cast<double>(engine->kv_blocks_used) / engine->kv_blocks_total : 0.0);
    counter(out, "ferrum_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.",
            engine->prefix_cache_queries);
    counter(out, "ferrum_prefix_cache_hits_total", "Prompt tokens found in the prefix cache.",
            engine->prefix_cache_hits);
    counter(out, "ferrum_preemptions_total", "Requests preempted to free KV blocks.", engine->preemptions);
    counter(out, "ferrum_engine_prompt_tokens_total", "Prompt tokens the engine computed (cache hits excluded).",
            engine->prompt_tokens);
    counter(out, "ferrum_engine_generation_tokens_total", "Tokens the engine generated.", engine->generated_tokens);
  }
  return out;
}

}  // namespace ferrum::server
