// tokenizer.json -> tokenizer.ggml.* -> ferrum's GGUF tokenizer loader encodes llama.cpp's test
// vectors exactly as the original tokenizer does (the .out files of fixtures/tokenizer).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "formats/gguf_file.h"
#include "formats/mapped_file.h"
#include "models/gguf_tokenizer_export.h"
#include "tokenizer/gguf_loader.h"

namespace ferrum {
namespace {

const std::filesystem::path kFixtures = std::filesystem::path(FERRUM_FIXTURES_DIR) / "tokenizer";

std::string read_text(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::vector<std::string> vector_inputs(const std::filesystem::path& path) {
  const std::string text = read_text(path);
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  for (size_t start = 0; start < text.size();) {
    const size_t end = text.find(separator, start);
    if (end == std::string::npos) break;
    cases.push_back(text.substr(start, end - start));
    start = end + separator.size();
  }
  return cases;
}

std::vector<std::vector<tokenizer::TokenId>> vector_outputs(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::vector<std::vector<tokenizer::TokenId>> lines;
  for (std::string line; std::getline(file, line);) {
    std::istringstream ids(line);
    std::vector<tokenizer::TokenId>& out = lines.emplace_back();
    for (tokenizer::TokenId id; ids >> id;) out.push_back(id);
  }
  return lines;
}

struct Case {
  std::string tokenizer_dir;
  std::string vectors;
  std::string pre;
};

class TokenizerExport : public ::testing::TestWithParam<Case> {};

TEST_P(TokenizerExport, GgufTokenizerEncodesLikeTheOriginal) {
  const Case& c = GetParam();
  GgufWriter writer;
  writer.set_string("general.architecture", "llama");
  const std::filesystem::path dir = kFixtures / c.tokenizer_dir;
  Status status = write_tokenizer_metadata(writer, dir / "tokenizer.json", dir / "tokenizer_config.json", 0);
  ASSERT_TRUE(status) << status.error().to_string();
  auto bytes = writer.to_bytes();
  ASSERT_TRUE(bytes);
  auto file = GgufFile::parse(MappedFile::from_bytes(std::move(*bytes), "exported.gguf"));
  ASSERT_TRUE(file) << file.error().to_string();
  EXPECT_EQ(*file->get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(*file->get_string("tokenizer.ggml.pre"), c.pre);
  EXPECT_NE(file->find("tokenizer.chat_template"), nullptr);
  auto spec = tokenizer::read_gguf_tokenizer_spec(*file);
  ASSERT_TRUE(spec) << spec.error().to_string();
  auto tokenizer = tokenizer::Tokenizer::create(std::move(*spec));
  ASSERT_TRUE(tokenizer) << tokenizer.error().to_string();

  const auto inputs = vector_inputs(kFixtures / (c.vectors + ".inp"));
  const auto expected = vector_outputs(kFixtures / (c.vectors + ".out"));
  ASSERT_EQ(inputs.size(), expected.size());
  size_t matching = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto ids = (*tokenizer)->encode(inputs[i], {.add_special = false, .parse_special = false});
    matching += ids == expected[i];
    EXPECT_EQ(ids, expected[i]) << "case " << i;
  }
  std::printf("%-8s %zu/%zu test vectors encode as the original tokenizer\n", c.tokenizer_dir.c_str(), matching,
              inputs.size());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerExport,
                         ::testing::Values(Case{"llama3", "ggml-vocab-llama-bpe.gguf", "llama-bpe"},
                                           Case{"qwen3", "ggml-vocab-qwen2.gguf", "qwen2"}),
                         [](const auto& info) { return info.param.tokenizer_dir; });

}  // namespace
}  // namespace ferrum
