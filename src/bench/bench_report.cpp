#include "bench/bench_report.h"

#include <cstdio>
#include <sstream>

namespace ferrum::bench {
namespace {

using nlohmann::ordered_json;

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string gib(double bytes) {
  constexpr double kMiB = 1024.0 * 1024.0;
  return bytes >= 1024 * kMiB ? format("%.2f GiB", bytes / (1024 * kMiB)) : format("%.1f MiB", bytes / kMiB);
}

std::string count(double value) {
  return value >= 1e9 ? format("%.2f B", value / 1e9) : format("%.2f M", value / 1e6);
}

std::string percent(const std::optional<double>& fraction) {
  return fraction ? format("%.1f%%", *fraction * 100) : "-";
}

std::string model_label(const ModelReport& model) {
  std::string label = model.summary.name;
  if (model.summary.synthetic_preset) label += " (random, preset " + *model.summary.synthetic_preset + ")";
  return label;
}

ordered_json bound_json(const std::optional<Bound>& bound) {
  if (!bound) return nullptr;
  return {{"value", bound->value}, {"source", bound->source}};
}

ordered_json optional_json(const std::optional<double>& value) {
  return value ? ordered_json(*value) : ordered_json(nullptr);
}

}  // namespace

std::string bench_report_markdown(const BenchReport& report) {
  const SystemInfo& s = report.system;
  std::ostringstream out;
  out << "## ferrum bench\n\n";
  out << "- ferrum " << s.ferrum_version << ", commit " << s.ferrum_commit << " (" << s.build_flags << ")\n";
  out << "- date: " << s.date << "\n";
  out << "- device: " << s.device << ": " << s.device_name;
  if (!s.driver.empty()) out << " (" << s.driver << ")";
  out << ", " << gib(static_cast<double>(s.device_memory_bytes)) << "\n";
  out << "- host: " << s.cpu_model << ", " << s.cpu_threads << " hardware threads, " << report.threads << " used, "
      << gib(static_cast<double>(s.host_memory_bytes)) << "\n";
  out << "- memory-bandwidth bound: "
      << (report.bounds.bandwidth
              ? format("%.1f GB/s", report.bounds.bandwidth->value) + " (" + report.bounds.bandwidth->source + ")"
              : std::string("unknown"))
      << "\n";
  out << "- compute bound: "
      << (report.bounds.compute
              ? format("%.2f TFLOP/s", report.bounds.compute->value) + " (" + report.bounds.compute->source + ")"
              : std::string("unknown (pass --peak-tflops)"))
      << "\n";
  if (report.bounds.int8_compute) {
    out << "- compute bound of quantized weights (multiplied in int8): "
        << format("%.2f TOPS", report.bounds.int8_compute->value) << " (" << report.bounds.int8_compute->source
        << ")\n";
  }
  out << "- method: " << report.config.warmup << " warm-up + " << report.config.repetitions
      << " timed repetitions per test; t/s is the mean ± sample sd over repetitions\n\n";

  out << "| model | weights | size | params | test | t/s | ms/token | GB/s | % of BW bound | TFLOP/s | % of peak |\n";
  out << "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n";
  for (const ModelReport& model : report.models) {
    for (const TestResult& test : model.results) {
      out << "| " << model_label(model) << " | " << model.summary.weights << " | "
          << gib(static_cast<double>(model.summary.file_bytes)) << " | " << count(model.parameters) << " | "
          << test.name << " | ";
      if (test.unavailable) {
        out << "n/a | | | | | |\n";
        continue;
      }
      const bool decode = test.kind != TestKind::kPrefill;
      out << format("%.2f", test.mean_tokens_per_second) << " ± " << format("%.2f", test.sd_tokens_per_second) << " | "
          << format("%.2f", 1000.0 / test.mean_tokens_per_second * static_cast<double>(test.batch)) << " | "
          << (decode ? format("%.1f", test.achieved_gbps) : "-") << " | "
          << (decode ? percent(test.bandwidth_fraction) : "-") << " | " << format("%.3f", test.achieved_tflops) << " | "
          << percent(test.compute_fraction) << " |\n";
    }
  }
  out << "\n";
  for (const ModelReport& model : report.models) {
    out << "- " << model_label(model) << ": " << model.architecture << ", " << count(model.active_parameters)
        << " parameters active per token, " << format("%.3f GB", model.weight_bytes_per_step / 1e9)
        << " of weights read per decode step, " << format("%.1f KiB", model.kv_bytes_per_token / 1024)
        << " of KV cache per token, peak memory " << gib(static_cast<double>(model.peak_memory_bytes)) << ", loaded in "
        << format("%.1f s", model.load_seconds) << "\n";
    for (const TestResult& test : model.results) {
      if (test.unavailable) out << "  - " << test.name << ": not available: " << *test.unavailable << "\n";
    }
  }
  out << "\nms/token is per sequence (batch / t/s). Decode bytes per token = weights read per step (once for the "
         "whole batch) + the KV cache so far; prefill FLOPs = 2 x active parameters per token + attention, "
         "lm_head once.\n";
  return out.str();
}

ordered_json bench_report_json(const BenchReport& report) {
  const SystemInfo& s = report.system;
  ordered_json root;
  root["ferrum"] = {{"version", s.ferrum_version}, {"commit", s.ferrum_commit}, {"build", s.build_flags}};
  root["date"] = s.date;
  root["system"] = {{"device", s.device},
                    {"device_name", s.device_name},
                    {"driver", s.driver},
                    {"device_memory_bytes", s.device_memory_bytes},
                    {"cpu_model", s.cpu_model},
                    {"cpu_threads", s.cpu_threads},
                    {"threads_used", report.threads},
                    {"host_memory_bytes", s.host_memory_bytes}};
  root["bounds"] = {{"memory_bandwidth_gbps", bound_json(report.bounds.bandwidth)},
                    {"compute_tflops", bound_json(report.bounds.compute)},
                    {"int8_compute_tops", bound_json(report.bounds.int8_compute)}};
  root["method"] = {{"warmup", report.config.warmup},
                    {"repetitions", report.config.repetitions},
                    {"batched_prompt_tokens", report.config.batched_prompt_length},
                    {"decode_depth", report.config.decode_depth},
                    {"decode_capacity", report.config.decode_capacity},
                    {"seed", report.config.seed}};
  ordered_json models = ordered_json::array();
  for (const ModelReport& model : report.models) {
    ordered_json entry;
    entry["path"] = model.path;
    entry["name"] = model.summary.name;
    entry["weights"] = model.summary.weights;
    entry["random_weights_preset"] =
        model.summary.synthetic_preset ? ordered_json(*model.summary.synthetic_preset) : ordered_json(nullptr);
    entry["architecture"] = model.architecture;
    entry["file_bytes"] = model.summary.file_bytes;
    entry["parameters"] = model.parameters;
    entry["active_parameters"] = model.active_parameters;
    entry["weight_bytes_per_step"] = model.weight_bytes_per_step;
    entry["kv_bytes_per_token"] = model.kv_bytes_per_token;
    entry["load_seconds"] = model.load_seconds;
    entry["peak_memory_bytes"] = model.peak_memory_bytes;
    ordered_json results = ordered_json::array();
    for (const TestResult& test : model.results) {
      ordered_json r;
      r["test"] = test.name;
      r["kind"] = test_kind_name(test.kind);
      r["prompt_tokens"] = test.prompt_tokens;
      r["generated_tokens"] = test.generated_tokens;
      r["batch"] = test.batch;
      r["available"] = !test.unavailable.has_value();
      if (test.unavailable) {
        r["unavailable_reason"] = *test.unavailable;
        results.push_back(std::move(r));
        continue;
      }
      r["seconds"] = test.seconds;
      r["tokens_per_second"] = test.tokens_per_second;
      r["mean_tokens_per_second"] = test.mean_tokens_per_second;
      r["sd_tokens_per_second"] = test.sd_tokens_per_second;
      r["flops_per_token"] = test.flops_per_token;
      r["bytes_per_token"] = test.bytes_per_token;
      r["achieved_tflops"] = test.achieved_tflops;
      r["achieved_gbps"] = test.achieved_gbps;
      r["compute_fraction"] = optional_json(test.compute_fraction);
      r["bandwidth_fraction"] = optional_json(test.bandwidth_fraction);
      results.push_back(std::move(r));
    }
    entry["results"] = std::move(results);
    models.push_back(std::move(entry));
  }
  root["models"] = std::move(models);
  return root;
}

}  // namespace ferrum::bench
