#include "bench/serve_report.h"

#include <cstdio>
#include <sstream>

namespace ferrum::bench {
namespace {

using nlohmann::ordered_json;

ordered_json latency_json(const LatencySummary& latency) {
  return {{"mean", latency.mean_ms}, {"p50", latency.p50_ms}, {"p95", latency.p95_ms}, {"p99", latency.p99_ms}};
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string api_name(OpenAiApi api) {
  return api == OpenAiApi::kCompletions ? "completions" : "chat";
}

}  // namespace

ordered_json serve_report_json(const ServeBenchConfig& config, const ServeBenchResult& result,
                               const SystemInfo& client) {
  ordered_json root;
  root["ferrum"] = {{"version", client.ferrum_version}, {"commit", client.ferrum_commit}};
  root["date"] = client.date;
  root["client"] = {{"cpu_model", client.cpu_model}, {"cpu_threads", client.cpu_threads}};
  root["endpoint"] = result.endpoint;
  root["api"] = api_name(config.api);
  root["model"] = result.model;
  root["input_len"] = config.input_len;
  root["output_len"] = config.output_len;
  root["ignore_eos"] = config.ignore_eos;
  root["prompt_tokens_exact"] = static_cast<bool>(config.count_tokens);
  ordered_json levels = ordered_json::array();
  for (const ServeLevelResult& level : result.levels) {
    levels.push_back({{"concurrency", level.concurrency},
                      {"requests", level.requests},
                      {"completed", level.completed},
                      {"failed", level.failed},
                      {"duration_s", level.duration_s},
                      {"prompt_tokens", level.prompt_tokens},
                      {"output_tokens", level.output_tokens},
                      {"token_counts_from_server", level.usage_reported},
                      {"request_throughput", level.request_throughput},
                      {"output_token_throughput", level.output_token_throughput},
                      {"total_token_throughput", level.total_token_throughput},
                      {"ttft_ms", latency_json(level.ttft)},
                      {"tpot_ms", latency_json(level.tpot)},
                      {"itl_ms", latency_json(level.itl)},
                      {"e2e_ms", latency_json(level.e2e)},
                      {"errors", level.error_samples}});
  }
  root["levels"] = std::move(levels);
  return root;
}

std::string serve_report_markdown(const ServeBenchConfig& config, const ServeBenchResult& result,
                                  const SystemInfo& client) {
  std::ostringstream out;
  out << "## ferrum bench-serve\n\n";
  out << "- endpoint: " << result.endpoint << " (" << api_name(config.api) << "), model " << result.model << "\n";
  out << "- requests: " << config.input_len << " prompt tokens" << (config.count_tokens ? "" : " (approximate)") << ", "
      << config.output_len << " output tokens" << (config.ignore_eos ? " (EOS ignored)" : "") << ", streaming\n";
  out << "- client: ferrum " << client.ferrum_version << " (" << client.ferrum_commit << ") on " << client.cpu_model
      << ", " << client.date << "\n\n";
  out << "| concurrency | done | failed | req/s | out tok/s | total tok/s | TTFT p50 / p95 / p99 ms | TPOT p50 / p95 / "
         "p99 ms | ITL p50 / p95 / p99 ms | E2E p50 ms |\n";
  out << "|---:|---:|---:|---:|---:|---:|---|---|---|---:|\n";
  const auto triple = [](const LatencySummary& l) {
    return fixed(l.p50_ms, 1) + " / " + fixed(l.p95_ms, 1) + " / " + fixed(l.p99_ms, 1);
  };
  for (const ServeLevelResult& level : result.levels) {
    out << "| " << level.concurrency << " | " << level.completed << " | " << level.failed << " | "
        << fixed(level.request_throughput, 2) << " | " << fixed(level.output_token_throughput, 1) << " | "
        << fixed(level.total_token_throughput, 1) << " | " << triple(level.ttft) << " | " << triple(level.tpot) << " | "
        << triple(level.itl) << " | " << fixed(level.e2e.p50_ms, 1) << " |\n";
  }
  for (const ServeLevelResult& level : result.levels) {
    for (const std::string& error : level.error_samples) {
      out << "\n- concurrency " << level.concurrency << " error: " << error;
    }
  }
  out << "\n";
  return out.str();
}

}  // namespace ferrum::bench
