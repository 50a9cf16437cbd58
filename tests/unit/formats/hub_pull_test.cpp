#include "formats/hub_pull.h"

#include <gtest/gtest.h>

#include "unit/formats/temp_path.h"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "formats/hf_cache.h"
#include "formats/model_dir.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"

namespace ferrum {
namespace {

const std::string kCommit = "4f2a6c0d9e8b7a6f5e4d3c2b1a09f8e7d6c5b4a3";

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs tests/unit/formats/fake_hub.py on a free loopback port for the length of a test.
class FakeHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = unique_temp_path("pull-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(root_);
    repo_ = root_ / "server" / "org" / "tiny";
    std::filesystem::create_directories(repo_ / "sub");
    std::ofstream(repo_ / "config.json") << R"({"architectures": ["LlamaForCausalLM"]})";
    std::ofstream(repo_ / "tokenizer.json") << R"({"model": {"type": "BPE", "vocab": {}}})";
    std::ofstream(repo_ / "sub" / "extra.txt") << "nested file\n";
    std::ofstream(repo_ / "empty.txt");
    SafetensorsWriter weights;
    std::vector<uint8_t> bytes(200 * 1024);
    std::mt19937 rng(7);
    for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(rng());
    ASSERT_TRUE(weights.add_tensor("w", DType::kU8, Shape{200, 1024}, std::move(bytes)));
    ASSERT_TRUE(weights.write(repo_ / "model.safetensors"));
  }

  void start_server(const std::string& extra_args = "") {
    const std::string script = std::string(FERRUM_SOURCE_DIR) + "/tests/unit/formats/fake_hub.py";
    // exec: the server is then our child, and fake_hub.py exits when its parent does.
    const std::string command = "exec python3 " + script + " --root " + (root_ / "server").string() + " --commit " +
                                kCommit + " --log " + log_path().string() + " " + extra_args;
    server_ = popen(command.c_str(), "r");
    ASSERT_NE(server_, nullptr);
    int port = 0;
    if (std::fscanf(server_, "%d %d", &port, &server_pid_) != 2) {
      pclose(server_);
      server_ = nullptr;
      GTEST_SKIP() << "python3 could not run " << script;
    }
    endpoint_ = "http://127.0.0.1:" + std::to_string(port);
  }

  void TearDown() override {
    if (server_ != nullptr) {
      kill(server_pid_, SIGTERM);
      pclose(server_);
    }
    std::filesystem::remove_all(root_);
  }

  PullOptions options() const {
    PullOptions options;
    options.repo = "org/tiny";
    options.endpoint = endpoint_;
    options.cache_dir = root_ / "cache";
    return options;
  }
  std::filesystem::path log_path() const { return root_ / "requests.log"; }
  std::filesystem::path repo_cache() const { return root_ / "cache" / "models--org--tiny"; }

  std::filesystem::path root_;
  std::filesystem::path repo_;
  std::string endpoint_;
  FILE* server_ = nullptr;
  int server_pid_ = 0;
};

TEST_F(FakeHubTest, PullsIntoTheHubCacheLayoutAndResumesAnInterruptedTransfer) {
  start_server("--cut model.safetensors --token secret");
  PullOptions pull = options();
  pull.token = "secret";
  std::ostringstream progress;
  pull.progress = &progress;
  auto result = pull_model(pull);
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->commit, kCommit);
  EXPECT_EQ(result->files, (std::vector<std::string>{"config.json", "empty.txt", "model.safetensors", "sub/extra.txt",
                                                     "tokenizer.json"}));
  uint64_t repo_bytes = 0;
  for (const std::string& file : result->files) repo_bytes += std::filesystem::file_size(repo_ / file);
  EXPECT_EQ(result->bytes_downloaded, repo_bytes);  // every byte once, despite the interruption
  EXPECT_NE(progress.str().find("interrupted, resuming"), std::string::npos) << progress.str();

  const std::filesystem::path snapshot = repo_cache() / "snapshots" / kCommit;
  EXPECT_EQ(result->snapshot, snapshot);
  EXPECT_EQ(read_all(repo_cache() / "refs" / "main"), kCommit);
  for (const std::string file : {"config.json", "tokenizer.json", "sub/extra.txt", "model.safetensors", "empty.txt"}) {
    ASSERT_TRUE(std::filesystem::is_symlink(snapshot / file)) << file;
    EXPECT_EQ(read_all(snapshot / file), read_all(repo_ / file)) << file;
  }
  const std::filesystem::path config_target = std::filesystem::read_symlink(snapshot / "config.json");
  EXPECT_EQ(config_target.parent_path(), std::filesystem::path("../../blobs"));
  EXPECT_EQ(config_target.filename().string().size(), 40u);  // git blob id for small files
  const std::filesystem::path nested_target = std::filesystem::read_symlink(snapshot / "sub" / "extra.txt");
  EXPECT_EQ(nested_target.parent_path(), std::filesystem::path("../../../blobs"));
  const std::filesystem::path weights_target = std::filesystem::read_symlink(snapshot / "model.safetensors");
  EXPECT_EQ(weights_target.filename().string().size(), 64u);  // sha256 for large files
  EXPECT_TRUE(SafetensorsFile::open(snapshot / "model.safetensors"));

  // The retry asked only for the missing bytes.
  const std::string log = read_all(log_path());
  EXPECT_NE(log.find("GET /cdn/org/tiny/model.safetensors bytes="), std::string::npos) << log;

  // The pulled model resolves by name through the cache.
  setenv("HF_HUB_CACHE", (root_ / "cache").c_str(), 1);
  auto resolved = resolve_model_path("org/tiny");
  unsetenv("HF_HUB_CACHE");
  ASSERT_TRUE(resolved) << resolved.error().to_string();
  EXPECT_EQ(*resolved, snapshot);
  auto dir = ModelDir::open(*resolved);
  ASSERT_TRUE(dir) << dir.error().to_string();
  EXPECT_TRUE(dir->config && dir->tokenizer);

  // A second pull finds every blob in place.
  auto again = pull_model(pull);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(again->bytes_downloaded, 0u);
}

TEST_F(FakeHubTest, ALaterRunResumesWhatAnInterruptedRunLeft) {
  start_server("--cut model.safetensors");
  PullOptions pull = options();
  pull.attempts = 1;
  pull.include = {"*.safetensors"};
  auto interrupted = pull_model(pull);
  ASSERT_FALSE(interrupted);
  EXPECT_NE(interrupted.error().message().find("downloading model.safetensors"), std::string::npos)
      << interrupted.error().message();
  EXPECT_NE(interrupted.error().message().find("interrupted after"), std::string::npos)
      << interrupted.error().message();
  const uint64_t total = std::filesystem::file_size(repo_ / "model.safetensors");
  uint64_t partial = 0;
  for (const auto& entry : std::filesystem::directory_iterator(repo_cache() / "blobs")) {
    if (entry.path().extension() == ".incomplete") partial = entry.file_size();
  }
  EXPECT_GT(partial, 0u);
  EXPECT_LT(partial, total);

  auto resumed = pull_model(pull);
  ASSERT_TRUE(resumed) << resumed.error().to_string();
  EXPECT_EQ(resumed->bytes_downloaded, total - partial);
  EXPECT_EQ(resumed->files, std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(read_all(resumed->snapshot / "model.safetensors"), read_all(repo_ / "model.safetensors"));
  EXPECT_NE(read_all(log_path()).find("bytes=" + std::to_string(partial) + "-"), std::string::npos);
}

TEST_F(FakeHubTest, IncludePatternsAndEndpointFromEnvironment) {
  start_server();
  setenv("HF_ENDPOINT", endpoint_.c_str(), 1);
  PullOptions pull = options();
  pull.endpoint.clear();
  pull.include = {"*.json"};
  auto result = pull_model(pull);
  unsetenv("HF_ENDPOINT");
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->files, (std::vector<std::string>{"config.json", "tokenizer.json"}));
  EXPECT_FALSE(std::filesystem::exists(result->snapshot / "model.safetensors"));

  pull.include = {"*.gguf"};
  pull.endpoint = endpoint_;
  auto none = pull_model(pull);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("no files matching"), std::string::npos);
}

TEST_F(FakeHubTest, Errors) {
  start_server("--token secret");
  PullOptions pull = options();
  pull.token = "wrong";
  auto unauthorized = pull_model(pull);
  ASSERT_FALSE(unauthorized);
  EXPECT_NE(unauthorized.error().message().find("HF_TOKEN"), std::string::npos) << unauthorized.error().message();

  pull.token = "secret";
  pull.repo = "org/missing";
  auto missing = pull_model(pull);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

  pull.repo = "org/tiny";
  pull.revision = "no-such-branch";
  auto revision = pull_model(pull);
  ASSERT_FALSE(revision);
  EXPECT_EQ(revision.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(revision.error().message().find("org/tiny@no-such-branch"), std::string::npos);

  pull.repo = "not a repo";
  EXPECT_EQ(pull_model(pull).error().code(), ErrorCode::kInvalidArgument);

  pull.repo = "org/tiny";
  pull.revision = "main";
  pull.endpoint = "http://127.0.0.1:1";  // nothing listens there
  auto refused = pull_model(pull);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kIo);
}

TEST(HubGlob, MatchesLikeAllowPatterns) {
  EXPECT_TRUE(hub_glob_match("*.safetensors", "model-00001-of-00002.safetensors"));
  EXPECT_TRUE(hub_glob_match("*.json", "sub/config.json"));  // '*' crosses '/'
  EXPECT_FALSE(hub_glob_match("*.json", "model.safetensors"));
  EXPECT_TRUE(hub_glob_match("tokenizer*", "tokenizer_config.json"));
}

}  // namespace
}  // namespace ferrum
