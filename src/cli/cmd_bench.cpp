// `ferrum bench`: prefill and decode speed of one or more models, with achieved bandwidth and
// compute set against the device's bounds (src/bench/llm_bench.h describes the method).
#include <algorithm>
#include <cstdio>
#include <fstream>

#include "bench/bench_report.h"
#include "bench/list_flags.h"
#include "bench/llm_bench.h"
#include "bench/model_costs.h"
#include "bench/model_summary.h"
#include "bench/system_info.h"
#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "core/thread_pool.h"
#include "engine/model_bundle.h"
#include "engine/serving_engine.h"

namespace ferrum::cli {
namespace {

struct BenchFlags {
  std::vector<std::string> models;
  std::string prompts = "512";
  std::string generations = "128";
  std::string batches = "1";
  size_t repetitions = 3;
  size_t warmup = 1;
  size_t batched_prompt = 128;
  size_t depth = 0;
  size_t capacity = 0;
  size_t batch_tokens = 512;
  std::string output = "md";
  std::optional<std::string> output_file;
  std::optional<std::string> json_file;
  std::optional<double> bandwidth;
  std::optional<double> peak_tflops;
  uint64_t seed = 42;
  ModelOptions model;  // --device, --dtype, -t: the same flags as run and serve
  EngineFlags engine;  // batched tests run through the serving engine with these
};

Expected<bench::ModelReport> bench_one_model(const std::string& path, const BenchFlags& flags,
                                             const bench::BenchConfig& config, const bench::Bounds& bounds) {
  const std::string& device = flags.model.device;
  bench::reset_peak_memory(device);
  size_t longest = config.batched_prompt_length;
  for (size_t p : config.prompt_lengths) longest = std::max(longest, p);
  for (size_t n : config.generation_lengths) {
    longest = std::max(longest, n + std::max(config.batched_prompt_length, config.decode_depth));
  }
  ModelOptions options = flags.model;
  options.model = path;
  options.context = std::max(longest + 8, config.decode_capacity);
  options.batch_tokens = flags.batch_tokens;
  const size_t largest_batch = *std::max_element(config.batch_sizes.begin(), config.batch_sizes.end());
  EngineOptions engine_options = flags.engine.resolve(options);
  engine_options.max_num_seqs = std::max(engine_options.max_num_seqs, largest_batch);
  std::fprintf(stderr, "bench: loading %s\n", path.c_str());
  FERRUM_ASSIGN_OR_RETURN(ModelBundle loaded, load_model_bundle(options));
  auto bundle = std::make_shared<ModelBundle>(std::move(loaded));
  bench::ModelReport report;
  report.path = bundle->resolved_path;
  FERRUM_ASSIGN_OR_RETURN(report.summary, bench::summarise_model(bundle->files));
  bench::Bounds model_bounds = bounds;
  if (report.summary.integer_weights && bounds.int8_compute) model_bounds.compute = bounds.int8_compute;
  const CausalLmInfo& info = bundle->model->info();
  FERRUM_ASSIGN_OR_RETURN(bench::ModelCosts costs, bench::model_costs(bundle->files.config, info));
  report.architecture = info.architecture;
  report.parameters = costs.parameters;
  report.active_parameters = costs.active_parameters;
  report.weight_bytes_per_step = costs.weight_bytes_per_step;
  report.kv_bytes_per_token = static_cast<double>(info.kv_bytes_per_token);
  report.load_seconds = bundle->load_seconds;

  const auto progress = [&](const std::string& test) {
    std::fprintf(stderr, "bench: %s %s\n", report.summary.name.c_str(), test.c_str());
  };
  // Single-sequence tests first, on the model alone; then the batched ones through the serving
  // engine, created only now so that its step loop and KV pool exist only while they run.
  bench::BenchConfig single = config;
  single.batch_sizes = {1};
  const bool any_single =
      std::find(config.batch_sizes.begin(), config.batch_sizes.end(), 1) != config.batch_sizes.end();
  if (!any_single) single.generation_lengths.clear();
  FERRUM_ASSIGN_OR_RETURN(report.results,
                          bench::run_benchmarks(*bundle->model, costs, nullptr, "", single, model_bounds, progress));
  if (largest_batch > 1) {
    bench::BenchConfig batched = config;
    batched.prompt_lengths.clear();
    std::erase(batched.batch_sizes, size_t{1});
    std::unique_ptr<Engine> engine;
    std::string engine_missing;
    auto made = create_engine(bundle, engine_options);
    if (made) {
      engine = std::move(*made);
    } else {
      engine_missing = "the serving engine cannot run this model: " + made.error().message();
    }
    FERRUM_ASSIGN_OR_RETURN(
        std::vector<bench::TestResult> results,
        bench::run_benchmarks(*bundle->model, costs, engine.get(), engine_missing, batched, model_bounds, progress));
    report.results.insert(report.results.end(), results.begin(), results.end());
  }
  report.peak_memory_bytes = bench::peak_memory_bytes(device);
  return report;
}

Status run(BenchFlags& flags) {
  FERRUM_CHECK(!flags.models.empty(), ErrorCode::kInvalidArgument, "no MODEL given");
  FERRUM_CHECK(flags.output == "md" || flags.output == "json", ErrorCode::kInvalidArgument, "-o: '", flags.output,
               "' is not md or json");
  bench::BenchConfig config;
  FERRUM_ASSIGN_OR_RETURN(config.prompt_lengths, bench::parse_size_list("-p", flags.prompts));
  FERRUM_ASSIGN_OR_RETURN(config.generation_lengths, bench::parse_size_list("-n", flags.generations));
  FERRUM_ASSIGN_OR_RETURN(config.batch_sizes, bench::parse_size_list("-b", flags.batches));
  for (size_t batch : config.batch_sizes) {
    FERRUM_CHECK(batch > 0, ErrorCode::kInvalidArgument, "-b: batch sizes must be at least 1");
  }
  config.repetitions = flags.repetitions;
  config.warmup = flags.warmup;
  config.batched_prompt_length = flags.batched_prompt;
  config.decode_depth = flags.depth;
  config.decode_capacity = flags.capacity;
  config.seed = flags.seed;
  FERRUM_CHECK(config.repetitions > 0, ErrorCode::kInvalidArgument, "-r must be at least 1");

  const std::string& device = flags.model.device;
  if (flags.model.threads != 0) set_default_thread_count(flags.model.threads);
  bench::BenchReport report;
  FERRUM_ASSIGN_OR_RETURN(report.system, bench::describe_system(device));
  report.threads = device == "cpu" ? default_thread_pool().size() : 0;
  report.config = config;
  const size_t bound_threads = default_thread_pool().size();
  if (flags.bandwidth) {
    report.bounds.bandwidth = bench::Bound{*flags.bandwidth, "given with --bandwidth"};
  } else {
    std::fprintf(stderr, "bench: measuring the memory bandwidth of %s\n", device.c_str());
    FERRUM_ASSIGN_OR_RETURN(report.bounds.bandwidth, bench::measure_memory_bandwidth(device, bound_threads));
  }
  if (flags.peak_tflops) {
    report.bounds.compute = bench::Bound{*flags.peak_tflops, "given with --peak-tflops"};
  } else if (device == "cuda" && flags.model.dtype != "bf16") {
    // The datasheet figures are dense bf16 tensor-core peaks: no bound for other activation dtypes.
    std::fprintf(stderr, "bench: no compute bound for --dtype %s on cuda; give --peak-tflops\n",
                 flags.model.dtype.c_str());
  } else {
    FERRUM_ASSIGN_OR_RETURN(report.bounds.compute,
                            bench::peak_compute(device, report.system.device_name, bound_threads));
    if (device == "cpu") report.bounds.int8_compute = bench::cpu_int8_peak(bound_threads);
  }
  for (const std::string& model : flags.models) {
    auto result = bench_one_model(model, flags, config, report.bounds);
    if (!result) return std::move(result).error().with_context(model);
    report.models.push_back(std::move(*result));
  }
  const std::string json = bench::bench_report_json(report).dump(2) + "\n";
  const std::string text = flags.output == "json" ? json : bench::bench_report_markdown(report);
  if (flags.json_file) {
    std::ofstream file(*flags.json_file, std::ios::binary);
    file << json;
    FERRUM_CHECK(file.good(), ErrorCode::kIo, "cannot write ", *flags.json_file);
  }
  if (flags.output_file) {
    std::ofstream file(*flags.output_file, std::ios::binary);
    file << text;
    FERRUM_CHECK(file.good(), ErrorCode::kIo, "cannot write ", *flags.output_file);
  } else {
    std::fputs(text.c_str(), stdout);
  }
  return ok();
}

}  // namespace

int run_bench(int argc, char** argv) {
  return report_errors("bench", [&]() -> Status {
    BenchFlags flags;
    ArgParser parser("ferrum bench", "MODEL [MODEL...] [options]");
    parser.rest("MODEL", &flags.models, "models to measure (paths, org/name, aliases), one after another");
    parser.option("-p,--n-prompt", &flags.prompts, "prefill lengths, comma-separated; 0 skips (default 512)");
    parser.option("-n,--n-gen", &flags.generations, "decode lengths, comma-separated; 0 skips (default 128)");
    parser.option("-b,--batch", &flags.batches,
                  "concurrent sequences for decode, comma-separated; > 1 runs through the serving engine (default 1)");
    parser.option("-r,--repetitions", &flags.repetitions, "timed repetitions per test (default 3)");
    parser.option("--warmup", &flags.warmup, "untimed repetitions before them (default 1)");
    parser.option("-d,--n-depth", &flags.depth,
                  "tokens of context (prefilled, untimed) before each single-sequence decode test (default 0)");
    parser.option("-c,--ctx-size", &flags.capacity,
                  "KV capacity of each single-sequence decode test's sequence, as run's -c sizes it (default: the "
                  "tokens the test needs)");
    parser.option("--batched-prompt", &flags.batched_prompt, "prompt tokens of each batched sequence (default 128)");
    register_device_flags(parser, flags.model);
    register_parallel_flags(parser, flags.model);
    parser.option("-ub,--batch-tokens", &flags.batch_tokens, "tokens per forward step during prefill (default 512)");
    parser.option("-o,--output", &flags.output, "md (default) or json");
    parser.option("--output-file", &flags.output_file, "write the report here instead of stdout");
    parser.option("--json-file", &flags.json_file, "also write the JSON report here");
    parser.option("--bandwidth", &flags.bandwidth, "memory-bandwidth bound in GB/s (default: measured)");
    parser.option("--peak-tflops", &flags.peak_tflops, "compute bound in TFLOP/s (default: measured / datasheet)");
    parser.option("--seed", &flags.seed, "seed of the random token ids (default 42)");
    register_engine_flags(parser, flags.engine);
    FERRUM_TRY(parser.parse(argc, argv));
    if (parser.help_requested()) {
      std::fputs(parser.usage().c_str(), stdout);
      return ok();
    }
    return run(flags);
  });
}

}  // namespace ferrum::cli
