// The fuzz seed corpora (tests/fuzz/make_seeds.py) must be inputs the parsers accept, or the
// fuzzers would start from error paths only.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "formats/gguf_file.h"
#include "formats/hf_config.h"
#include "formats/json_file.h"
#include "formats/safetensors_file.h"

namespace ferrum {
namespace {

const std::filesystem::path kCorpus = std::filesystem::path(FERRUM_SOURCE_DIR) / "tests" / "fuzz" / "corpus";

std::vector<std::filesystem::path> seeds(const char* target) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(kCorpus / target)) files.push_back(entry.path());
  EXPECT_FALSE(files.empty()) << target;
  return files;
}

TEST(FuzzSeeds, GgufSeedsParse) {
  for (const auto& path : seeds("fuzz-gguf")) {
    auto file = GgufFile::open(path);
    EXPECT_TRUE(file) << file.error().to_string();
  }
}

TEST(FuzzSeeds, SafetensorsSeedsParse) {
  for (const auto& path : seeds("fuzz-safetensors")) {
    auto file = SafetensorsFile::open(path);
    EXPECT_TRUE(file) << file.error().to_string();
  }
}

TEST(FuzzSeeds, ConfigSeedsParse) {
  for (const auto& path : seeds("fuzz-hf-config")) {
    auto json = read_json_file(path);
    ASSERT_TRUE(json) << json.error().to_string();
    if (path.filename() == "quantize-config") {
      EXPECT_TRUE(parse_quantization_config(*json, path.string(), "gptq"));
      continue;
    }
    auto config = parse_hf_config(*json, path.string());
    EXPECT_TRUE(config) << config.error().to_string();
  }
}

}  // namespace
}  // namespace ferrum
