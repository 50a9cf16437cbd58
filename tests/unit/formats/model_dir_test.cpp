#include <gtest/gtest.h>

#include "unit/formats/temp_path.h"

#include <cstdlib>
#include <fstream>

#include "formats/hf_cache.h"
#include "formats/model_dir.h"

namespace ferrum {
namespace {

const std::string kFixtures = FERRUM_FIXTURES_DIR;
const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ =
        unique_temp_path("model-dir-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void touch(const std::filesystem::path& path, std::string_view text = "{}") {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  std::filesystem::path root_;
};

TEST(HfRepoId, ParsesAndRejects) {
  auto repo = parse_hf_repo_id("Qwen/Qwen3-0.6B");
  ASSERT_TRUE(repo);
  EXPECT_EQ(repo->org, "Qwen");
  EXPECT_EQ(repo->name, "Qwen3-0.6B");
  EXPECT_EQ(repo->to_string(), "Qwen/Qwen3-0.6B");
  EXPECT_TRUE(parse_hf_repo_id("gpt2"));
  EXPECT_FALSE(parse_hf_repo_id("a/b/c"));
  EXPECT_FALSE(parse_hf_repo_id("../x"));
  EXPECT_FALSE(parse_hf_repo_id("org/"));
  EXPECT_FALSE(parse_hf_repo_id("org/na me"));
  EXPECT_TRUE(looks_like_hf_repo_id("meta-llama/Llama-3.2-1B"));
  EXPECT_FALSE(looks_like_hf_repo_id("models/llama/model.gguf"));
  EXPECT_FALSE(looks_like_hf_repo_id("gpt2"));
  EXPECT_EQ(hf_repo_cache_dir("/c", *repo), std::filesystem::path("/c/models--Qwen--Qwen3-0.6B"));
}

TEST_F(TempDir, CacheDirFollowsEnvironment) {
  setenv("HF_HUB_CACHE", "/hub-cache", 1);
  EXPECT_EQ(hf_hub_cache_dir(), std::filesystem::path("/hub-cache"));
  unsetenv("HF_HUB_CACHE");
  setenv("HF_HOME", "/hf-home", 1);
  EXPECT_EQ(hf_hub_cache_dir(), std::filesystem::path("/hf-home/hub"));
  unsetenv("HF_HOME");
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(hf_hub_cache_dir(), std::filesystem::path("/xdg/huggingface/hub"));
  unsetenv("XDG_CACHE_HOME");
  const std::string home = std::getenv("HOME") != nullptr ? std::getenv("HOME") : "";
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(hf_hub_cache_dir(), std::filesystem::path("/home/u/.cache/huggingface/hub"));
  setenv("HOME", home.c_str(), 1);
}

TEST_F(TempDir, ResolvesSnapshotsThroughRefs) {
  const auto repo_dir = root_ / "models--org--tiny";
  touch(repo_dir / "refs" / "main", kCommit + "\n");
  touch(repo_dir / "snapshots" / kCommit / "config.json");
  const HfRepoId repo{"org", "tiny"};
  auto snapshot = resolve_hf_snapshot(root_, repo, "main");
  ASSERT_TRUE(snapshot) << snapshot.error().to_string();
  EXPECT_EQ(*snapshot, repo_dir / "snapshots" / kCommit);
  EXPECT_TRUE(resolve_hf_snapshot(root_, repo, kCommit));

  auto no_branch = resolve_hf_snapshot(root_, repo, "dev");
  ASSERT_FALSE(no_branch);
  EXPECT_NE(no_branch.error().message().find("no revision 'dev'"), std::string::npos);
  auto not_pulled = resolve_hf_snapshot(root_, HfRepoId{"org", "other"});
  ASSERT_FALSE(not_pulled);
  EXPECT_EQ(not_pulled.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(not_pulled.error().message().find("ferrum pull org/other"), std::string::npos);

  setenv("HF_HUB_CACHE", root_.c_str(), 1);
  auto resolved = resolve_model_path("org/tiny");
  unsetenv("HF_HUB_CACHE");
  ASSERT_TRUE(resolved) << resolved.error().to_string();
  EXPECT_EQ(*resolved, repo_dir / "snapshots" / kCommit);
}

TEST_F(TempDir, FindsSingleShardedAndGgufWeights) {
  touch(root_ / "single" / "config.json");
  touch(root_ / "single" / "tokenizer.json");
  touch(root_ / "single" / "model.safetensors", "");
  auto single = ModelDir::open(root_ / "single");
  ASSERT_TRUE(single) << single.error().to_string();
  EXPECT_EQ(single->weight_format, WeightFormat::kSafetensors);
  EXPECT_EQ(single->weights, root_ / "single" / "model.safetensors");
  EXPECT_TRUE(single->config && single->tokenizer);
  EXPECT_FALSE(single->tokenizer_config || single->generation_config || single->quantize_config);

  touch(root_ / "sharded" / "model.safetensors.index.json");
  touch(root_ / "sharded" / "model-00001-of-00002.safetensors", "");
  touch(root_ / "sharded" / "quantize_config.json");
  auto sharded = ModelDir::open(root_ / "sharded");
  ASSERT_TRUE(sharded);
  EXPECT_EQ(sharded->weight_format, WeightFormat::kSafetensorsSharded);
  EXPECT_TRUE(sharded->quantize_config);

  touch(root_ / "gguf" / "tiny-Q4_K.gguf", "");
  auto gguf = ModelDir::open(root_ / "gguf");
  ASSERT_TRUE(gguf);
  EXPECT_EQ(gguf->weight_format, WeightFormat::kGguf);
  auto direct = ModelDir::open(root_ / "gguf" / "tiny-Q4_K.gguf");
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->root, root_ / "gguf");

  touch(root_ / "two" / "a.gguf", "");
  touch(root_ / "two" / "b.gguf", "");
  auto two = ModelDir::open(root_ / "two");
  ASSERT_FALSE(two);
  EXPECT_NE(two.error().message().find("a.gguf, b.gguf"), std::string::npos) << two.error().message();

  touch(root_ / "pickle" / "pytorch_model.bin", "");
  auto pickle = ModelDir::open(root_ / "pickle");
  ASSERT_FALSE(pickle);
  EXPECT_EQ(pickle.error().code(), ErrorCode::kUnsupported);

  std::filesystem::create_directories(root_ / "empty");
  EXPECT_EQ(ModelDir::open(root_ / "empty").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ModelDir::open(root_ / "missing").error().code(), ErrorCode::kNotFound);
}

TEST(ModelDir, HfTinyFixture) {
  auto dir = ModelDir::open(kFixtures + "/hf-tiny/llama3");
  ASSERT_TRUE(dir) << dir.error().to_string();
  EXPECT_EQ(dir->weight_format, WeightFormat::kSafetensors);
  EXPECT_EQ(dir->weights.filename(), "model.safetensors");  // not reference.safetensors
  EXPECT_TRUE(dir->config);
}

}  // namespace
}  // namespace ferrum
