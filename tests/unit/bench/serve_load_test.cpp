// bench-serve against tests/unit/bench/fake_openai_server.py: counts, latencies and errors as the
// fake server shapes them (first token after 20 ms, then one every 5 ms).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "bench/serve_load.h"
#include "bench/serve_report.h"
#include "temp_dir.h"

namespace ferrum::bench {
namespace {

class FakeServer : public ::testing::Test {
 protected:
  void start(const std::string& extra_args = "") {
    const std::string script = std::string(FERRUM_SOURCE_DIR) + "/tests/unit/bench/fake_openai_server.py";
    const std::string command =
        "exec python3 " + script + " --log " + (dir_.path() / "requests.log").string() + " " + extra_args;
    server_ = popen(command.c_str(), "r");
    ASSERT_NE(server_, nullptr);
    int port = 0;
    if (std::fscanf(server_, "%d %d", &port, &pid_) != 2) {
      pclose(server_);
      server_ = nullptr;
      GTEST_SKIP() << "python3 could not run " << script;
    }
    url_ = "http://127.0.0.1:" + std::to_string(port);
  }
  void TearDown() override {
    if (server_ != nullptr) {
      kill(pid_, SIGTERM);
      pclose(server_);
    }
  }
  std::string request_log() const {
    std::ifstream file(dir_.path() / "requests.log");
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
  }
  ServeBenchConfig config() const {
    ServeBenchConfig config;
    config.url = url_;
    config.concurrency = {1, 3};
    config.input_len = 12;
    config.output_len = 6;
    config.num_prompts = 6;
    return config;
  }

  bench_test::TempDir dir_;
  FILE* server_ = nullptr;
  int pid_ = 0;
  std::string url_;
};

TEST_F(FakeServer, MeasuresEveryLevelOfCompletions) {
  start();
  auto result = run_serve_bench(config());
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->model, "fake-model");  // found through GET /v1/models
  EXPECT_EQ(result->endpoint, url_ + "/v1/completions");
  ASSERT_EQ(result->levels.size(), 2u);
  for (const ServeLevelResult& level : result->levels) {
    EXPECT_EQ(level.completed, 6u);
    EXPECT_EQ(level.failed, 0u);
    EXPECT_EQ(level.output_tokens, 36u);
    EXPECT_EQ(level.prompt_tokens, 72u);  // the fake server counts words: one per token requested
    EXPECT_TRUE(level.usage_reported);
    EXPECT_GE(level.ttft.p50_ms, 15.0);
    EXPECT_GE(level.itl.p50_ms, 3.0);
    EXPECT_LT(level.itl.p50_ms, 200.0);
    EXPECT_GE(level.tpot.mean_ms, 3.0);
    EXPECT_GE(level.e2e.p99_ms, level.e2e.p50_ms);
    EXPECT_GT(level.request_throughput, 0.0);
    EXPECT_NEAR(level.output_token_throughput, 36.0 / level.duration_s, 1e-9);
  }
  // Three in flight finish the same work in less time than one at a time.
  EXPECT_LT(result->levels[1].duration_s, result->levels[0].duration_s);
  const std::string log = request_log();
  EXPECT_NE(log.find("\"ignore_eos\": true"), std::string::npos);
  EXPECT_NE(log.find("\"include_usage\": true"), std::string::npos);
  EXPECT_NE(log.find("\"max_tokens\": 6"), std::string::npos);

  const nlohmann::ordered_json json = serve_report_json(config(), *result, SystemInfo{});
  ASSERT_EQ(json["levels"].size(), 2u);
  for (const char* key : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"}) {
    for (const char* stat : {"mean", "p50", "p95", "p99"}) EXPECT_TRUE(json["levels"][0][key].contains(stat));
  }
  EXPECT_NE(serve_report_markdown(config(), *result, SystemInfo{}).find("| 3 | 6 | 0 |"), std::string::npos);
}

TEST_F(FakeServer, StreamsChatWithAnApiKeyAndHonoursEos) {
  start("--api-key sesame --eos-after 2");
  ServeBenchConfig chat = config();
  chat.api = OpenAiApi::kChatCompletions;
  chat.api_key = "sesame";
  chat.model = "fake-model";
  chat.ignore_eos = false;
  chat.concurrency = {2};
  auto result = run_serve_bench(chat);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->levels[0].completed, 6u);
  EXPECT_EQ(result->levels[0].output_tokens, 12u);
  EXPECT_EQ(request_log().find("ignore_eos"), std::string::npos);

  chat.api_key = "wrong";
  auto refused = run_serve_bench(chat);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->levels[0].failed, 6u);
  ASSERT_FALSE(refused->levels[0].error_samples.empty());
  EXPECT_NE(refused->levels[0].error_samples[0].find("HTTP 401"), std::string::npos);
}

TEST_F(FakeServer, CountsFailedRequestsAndKeepsTheirErrors) {
  start("--fail-every 3");
  ServeBenchConfig failing = config();
  failing.warmup_requests = 0;
  failing.concurrency = {1};
  auto result = run_serve_bench(failing);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->levels[0].completed, 4u);
  EXPECT_EQ(result->levels[0].failed, 2u);
  ASSERT_EQ(result->levels[0].error_samples.size(), 2u);
  EXPECT_NE(result->levels[0].error_samples[0].find("injected failure"), std::string::npos);
}

TEST(ServeLoad, AnUnreachableServerIsATransportErrorPerRequest) {
  ServeBenchConfig config;
  config.url = "http://127.0.0.1:1";
  config.model = "m";
  config.concurrency = {2};
  config.num_prompts = 2;
  config.warmup_requests = 0;
  auto result = run_serve_bench(config);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->levels[0].failed, 2u);
  EXPECT_NE(result->levels[0].error_samples[0].find("transport"), std::string::npos);
}

TEST(ServeLoad, PromptsAreDeterministicDistinctAndSized) {
  EXPECT_EQ(make_prompt(50, 1, 3), make_prompt(50, 1, 3));
  EXPECT_NE(make_prompt(50, 1, 3), make_prompt(50, 1, 4));
  std::istringstream words(make_prompt(50, 1, 3));
  size_t count = 0;
  for (std::string word; words >> word;) ++count;
  EXPECT_EQ(count, 50u);
}

}  // namespace
}  // namespace ferrum::bench
