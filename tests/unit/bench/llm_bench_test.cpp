// `ferrum bench` on a tiny generated model: the JSON report's schema, the markdown table, and the
// batched-decode method against a fake engine whose timing is known.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "bench/bench_report.h"
#include "bench/list_flags.h"
#include "bench/llm_bench.h"
#include "bench/model_summary.h"
#include "engine/model_bundle.h"
#include "synth/gen_model.h"
#include "temp_dir.h"

namespace ferrum::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Generates the tiny-llama preset with `dtype` at `out` and loads it with a 64-token context.
std::unique_ptr<ModelBundle> generate_tiny_llama(const std::filesystem::path& out, const std::string& dtype) {
  synth::GenModelOptions options;
  options.preset = "tiny-llama";
  options.dtype = dtype;
  options.out = out;
  if (auto generated = synth::generate_model(options); !generated) {
    ADD_FAILURE() << generated.error().message();
    return nullptr;
  }
  ModelOptions model_options;
  model_options.model = options.out.string();
  model_options.context = 64;
  auto bundle = load_model_bundle(model_options);
  if (!bundle) {
    ADD_FAILURE() << bundle.error().message();
    return nullptr;
  }
  return std::make_unique<ModelBundle>(std::move(*bundle));
}

class TinyModelBench : public ::testing::Test {
 protected:
  void SetUp() override {
    bundle_ = generate_tiny_llama(dir_.path() / "tiny", "bf16");
    ASSERT_NE(bundle_, nullptr);
  }

  bench_test::TempDir dir_;
  std::unique_ptr<ModelBundle> bundle_;
};

TEST_F(TinyModelBench, JsonReportHasTheSchemaScriptsReadAndSaneNumbers) {
  BenchConfig config;
  config.prompt_lengths = {16};
  config.generation_lengths = {8};
  config.batch_sizes = {1, 4};
  config.repetitions = 2;
  Bounds bounds;
  bounds.bandwidth = Bound{10.0, "given"};
  bounds.compute = Bound{1.0, "given"};
  auto costs = model_costs(bundle_->files.config, bundle_->model->info());
  ASSERT_TRUE(costs) << costs.error().message();
  std::vector<std::string> seen;
  auto results = run_benchmarks(*bundle_->model, *costs, nullptr, "no engine in this test", config, bounds,
                                [&](const std::string& test) { seen.push_back(test); });
  ASSERT_TRUE(results) << results.error().message();
  EXPECT_EQ(seen, (std::vector<std::string>{"pp16", "tg8"}));
  ASSERT_EQ(results->size(), 3u);

  BenchReport report;
  report.system = *describe_system("cpu");
  report.threads = 2;
  report.bounds = bounds;
  report.config = config;
  ModelReport model;
  model.path = bundle_->resolved_path;
  model.summary = *summarise_model(bundle_->files);
  model.architecture = bundle_->model->info().architecture;
  model.parameters = costs->parameters;
  model.results = *results;
  report.models.push_back(model);
  EXPECT_EQ(model.summary.weights, "bf16");
  EXPECT_FALSE(model.summary.integer_weights);
  EXPECT_EQ(model.summary.synthetic_preset, "tiny-llama");

  const nlohmann::ordered_json json = bench_report_json(report);
  for (const char* key : {"ferrum", "date", "system", "bounds", "method", "models"}) EXPECT_TRUE(json.contains(key));
  EXPECT_FALSE(json["ferrum"]["commit"].get<std::string>().empty());
  EXPECT_DOUBLE_EQ(json["bounds"]["memory_bandwidth_gbps"]["value"].get<double>(), 10.0);
  const auto& tests = json["models"][0]["results"];
  ASSERT_EQ(tests.size(), 3u);
  for (const auto& test : {tests[0], tests[1]}) {
    EXPECT_TRUE(test["available"].get<bool>());
    EXPECT_EQ(test["seconds"].size(), 2u);
    EXPECT_EQ(test["tokens_per_second"].size(), 2u);
    EXPECT_GT(test["mean_tokens_per_second"].get<double>(), 0.0);
    EXPECT_GE(test["sd_tokens_per_second"].get<double>(), 0.0);
    EXPECT_GT(test["flops_per_token"].get<double>(), 0.0);
    EXPECT_GT(test["achieved_tflops"].get<double>(), 0.0);
    EXPECT_TRUE(test["compute_fraction"].is_number());
  }
  EXPECT_EQ(tests[0]["kind"], "prefill");
  EXPECT_EQ(tests[1]["kind"], "decode");
  EXPECT_GT(tests[1]["bytes_per_token"].get<double>(), static_cast<double>(bundle_->model->info().weight_bytes));
  EXPECT_TRUE(tests[1]["bandwidth_fraction"].is_number());
  EXPECT_EQ(tests[2]["test"], "tg8 b4");
  EXPECT_FALSE(tests[2]["available"].get<bool>());
  EXPECT_EQ(tests[2]["unavailable_reason"], "no engine in this test");

  const std::string markdown = bench_report_markdown(report);
  EXPECT_NE(markdown.find("| pp16 |"), std::string::npos);
  EXPECT_NE(markdown.find("| tg8 |"), std::string::npos);
  EXPECT_NE(markdown.find("tg8 b4: not available: no engine in this test"), std::string::npos);
  EXPECT_NE(markdown.find("random, preset tiny-llama"), std::string::npos);
}

// Quantized weights run in int8 on the CPU: the summary says so, and the report carries that bound.
TEST_F(TinyModelBench, QuantizedWeightsAreMarkedAndTheInt8BoundIsReported) {
  const std::unique_ptr<ModelBundle> bundle = generate_tiny_llama(dir_.path() / "tiny-q8.gguf", "Q8_0");
  ASSERT_NE(bundle, nullptr);
  auto summary = summarise_model(bundle->files);
  ASSERT_TRUE(summary) << summary.error().message();
  EXPECT_EQ(summary->weights, "Q8_0");
  EXPECT_TRUE(summary->integer_weights);

  BenchReport report;
  report.system = *describe_system("cpu");
  report.bounds.compute = Bound{1.0, "given"};
  report.bounds.int8_compute = Bound{4.0, "given int8"};
  EXPECT_DOUBLE_EQ(bench_report_json(report)["bounds"]["int8_compute_tops"]["value"].get<double>(), 4.0);
  EXPECT_NE(bench_report_markdown(report).find("4.00 TOPS (given int8)"), std::string::npos);
}

TEST(CpuInt8Peak, IsPositiveWhereTheBuildHasAnIntegerDot) {
  const std::optional<Bound> peak = cpu_int8_peak(1);
#if defined(__AVX2__)
  ASSERT_TRUE(peak.has_value());
  EXPECT_GT(peak->value, 0.0);
  EXPECT_NE(peak->source.find("int8"), std::string::npos);
#else
  EXPECT_FALSE(peak.has_value());
#endif
}

TEST_F(TinyModelBench, RefusesTestsLongerThanTheLoadedContext) {
  BenchConfig config;
  config.prompt_lengths = {100};
  auto costs = model_costs(bundle_->files.config, bundle_->model->info());
  auto result = run_prefill_test(*bundle_->model, *costs, 100, config, Bounds{});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("raise -c"), std::string::npos);
}

// Streams a token 20 ms after submission, then one every 5 ms.
class FakeStream final : public RequestStream {
 public:
  FakeStream(RequestId id, size_t tokens) : id_(id), tokens_(tokens), start_(Clock::now()) {}
  RequestId id() const override { return id_; }
  std::optional<RequestEvent> next(std::chrono::milliseconds) override {
    std::this_thread::sleep_until(start_ + std::chrono::milliseconds(20 + 5 * sent_));
    RequestEvent event;
    event.tokens = {7};
    event.finished = ++sent_ == tokens_;
    return event;
  }

 private:
  RequestId id_;
  size_t tokens_;
  size_t sent_ = 0;
  Clock::time_point start_;
};

class FakeEngine final : public Engine {
 public:
  Expected<std::unique_ptr<RequestStream>> submit(EngineRequest request) override {
    EXPECT_TRUE(request.ignore_eos);
    EXPECT_EQ(request.prompt.size(), 32u);
    prompts.push_back(request.prompt);
    return std::unique_ptr<RequestStream>(new FakeStream(next_id_++, request.max_new_tokens));
  }
  void abort(RequestId) override {}
  EngineStats stats() const override { return {}; }
  size_t max_context() const override { return 4096; }

  std::vector<std::vector<int32_t>> prompts;

 private:
  RequestId next_id_ = 1;
};

TEST_F(TinyModelBench, BatchedDecodeCountsTokensWhileEverySequenceDecodes) {
  FakeEngine engine;
  BenchConfig config;
  config.batched_prompt_length = 32;
  config.repetitions = 2;
  config.warmup = 0;
  auto costs = model_costs(bundle_->files.config, bundle_->model->info());
  auto result = run_batched_decode_test(engine, *costs, 512, 4, 21, config, Bounds{Bound{10.0, "x"}, std::nullopt});
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->name, "tg21 b4");
  EXPECT_EQ(engine.prompts.size(), 16u);  // per repetition: 4 of one token, 4 of 21
  std::set<std::vector<int32_t>> distinct(engine.prompts.begin(), engine.prompts.end());
  EXPECT_EQ(distinct.size(), 16u) << "prompts must differ, or a prefix cache skips prefill";
  // 4 sequences x 20 tokens after the first, in 100 ms more than one token: about 800 tokens/s.
  EXPECT_GT(result->mean_tokens_per_second, 500.0);
  EXPECT_LT(result->mean_tokens_per_second, 900.0);
  // A step reads the weights once for all four sequences.
  EXPECT_NEAR(result->bytes_per_token * 4, costs->decode_bytes(32 + 10, 4), 1.0);
  EXPECT_TRUE(result->bandwidth_fraction.has_value());
}

TEST_F(TinyModelBench, DecodeAtADepthPrefillsFirstAndCountsTheLongerContext) {
  BenchConfig config;
  config.prompt_lengths = {};
  config.generation_lengths = {8};
  config.repetitions = 1;
  Bounds bounds;
  bounds.bandwidth = Bound{10.0, "given"};
  auto costs = model_costs(bundle_->files.config, bundle_->model->info());
  ASSERT_TRUE(costs) << costs.error().message();
  auto shallow = run_decode_test(*bundle_->model, *costs, 8, config, bounds);
  ASSERT_TRUE(shallow) << shallow.error().message();
  config.decode_depth = 40;
  auto deep = run_decode_test(*bundle_->model, *costs, 8, config, bounds);
  ASSERT_TRUE(deep) << deep.error().message();
  EXPECT_EQ(shallow->name, "tg8");
  EXPECT_EQ(deep->name, "tg8 @ d40");
  EXPECT_EQ(deep->prompt_tokens, 40u);
  // Each decoded token reads the KV of the 40 context tokens too.
  EXPECT_GT(deep->bytes_per_token, shallow->bytes_per_token);
  // The model was loaded with 64 tokens of context: 60 + 8 do not fit.
  config.decode_depth = 60;
  auto too_deep = run_decode_test(*bundle_->model, *costs, 8, config, bounds);
  ASSERT_FALSE(too_deep);
  EXPECT_EQ(too_deep.error().code(), ErrorCode::kLimitExceeded);
}

TEST_F(TinyModelBench, DecodeInALargerSequenceNamesItsCapacityAndMustFitTheContext) {
  BenchConfig config;
  config.prompt_lengths = {};
  config.repetitions = 1;
  config.decode_capacity = 48;
  auto costs = model_costs(bundle_->files.config, bundle_->model->info());
  ASSERT_TRUE(costs) << costs.error().message();
  auto result = run_decode_test(*bundle_->model, *costs, 8, config, Bounds{});
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->name, "tg8 c48");
  EXPECT_EQ(result->seconds.size(), 1u);
  // The model was loaded with 64 tokens of context: a 100-token sequence does not fit.
  config.decode_capacity = 100;
  auto too_large = run_decode_test(*bundle_->model, *costs, 8, config, Bounds{});
  ASSERT_FALSE(too_large);
  EXPECT_EQ(too_large.error().code(), ErrorCode::kLimitExceeded);
}

TEST(ListFlags, ParsesCommaSeparatedSizes) {
  EXPECT_EQ(*parse_size_list("-b", "1,16,64"), (std::vector<size_t>{1, 16, 64}));
  EXPECT_EQ(*parse_size_list("-p", "0"), (std::vector<size_t>{0}));
  EXPECT_FALSE(parse_size_list("-b", "1,,2"));
  EXPECT_FALSE(parse_size_list("-b", "1,x"));
  EXPECT_NE(parse_size_list("-n", "-3").error().message().find("-n"), std::string::npos);
}

}  // namespace
}  // namespace ferrum::bench
