#include "formats/gguf_file.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "formats/gguf_writer.h"

namespace ferrum {
namespace {

const std::string kFixtures = FERRUM_FIXTURES_DIR;

std::vector<float> read_f32_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(GgufFile, QuantMixFixture) {
  auto file = GgufFile::open(kFixtures + "/quant/gguf/quant-mix.gguf");
  ASSERT_TRUE(file) << file.error().to_string();
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), 32u);
  EXPECT_EQ(file->data_offset(), 832u);
  EXPECT_EQ(file->metadata().size(), 6u);
  EXPECT_EQ(file->architecture(), "test");
  EXPECT_EQ(*file->get_string("general.name"), "quant-mix test vectors");
  EXPECT_EQ(*file->get_uint("test.seed"), 20240601u);
  EXPECT_EQ(*file->get_uint("test.cols"), 512u);

  struct Expect {
    const char* name;
    DType dtype;
    uint64_t offset;
    size_t bytes;
    const char* bin;
  };
  const Expect expected[] = {
      {"w.f32", DType::kF32, 0, 8192, "input.f32"},      {"w.q4_0", DType::kQ4_0, 8192, 1152, "Q4_0.bin"},
      {"w.q4_1", DType::kQ4_1, 9344, 1280, "Q4_1.bin"},  {"w.q5_0", DType::kQ5_0, 10624, 1408, "Q5_0.bin"},
      {"w.q5_1", DType::kQ5_1, 12032, 1536, "Q5_1.bin"}, {"w.q8_0", DType::kQ8_0, 13568, 2176, "Q8_0.bin"},
      {"w.q2_k", DType::kQ2_K, 15744, 672, "Q2_K.bin"},  {"w.q3_k", DType::kQ3_K, 16416, 880, "Q3_K.bin"},
      {"w.q4_k", DType::kQ4_K, 17312, 1152, "Q4_K.bin"}, {"w.q5_k", DType::kQ5_K, 18464, 1408, "Q5_K.bin"},
      {"w.q6_k", DType::kQ6_K, 19872, 1680, "Q6_K.bin"},
  };
  ASSERT_EQ(file->tensors().size(), std::size(expected));
  for (const Expect& want : expected) {
    const GgufTensorInfo* info = file->find_tensor(want.name);
    ASSERT_NE(info, nullptr) << want.name;
    EXPECT_EQ(info->dtype, want.dtype) << want.name;
    EXPECT_EQ(info->shape, Shape({4, 512})) << want.name;  // stored ne = [512, 4]
    EXPECT_EQ(info->ggml_dims, (std::vector<uint64_t>{512, 4})) << want.name;
    EXPECT_EQ(info->offset, want.offset) << want.name;
    EXPECT_EQ(info->nbytes, want.bytes) << want.name;
    const std::vector<uint8_t> reference = read_file(kFixtures + "/quant/gguf/" + want.bin);
    std::span<const uint8_t> bytes = file->tensor_bytes(*info);
    ASSERT_EQ(bytes.size(), reference.size()) << want.name;
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), reference.begin())) << want.name;
    TensorView view = file->tensor_view(*info);
    EXPECT_EQ(view.nbytes(), want.bytes);
    EXPECT_EQ(view.data(), bytes.data());
  }
  const std::vector<float> input = read_f32_file(kFixtures + "/quant/gguf/input.f32");
  TensorView f32 = file->tensor_view(*file->find_tensor("w.f32"));
  EXPECT_EQ(f32.data_as<float>()[3 * 512 + 300], input[3 * 512 + 300]);
  EXPECT_EQ(f32.data_as<float>()[3 * 512 + 300], -250.0f);
}

TEST(GgufFile, Stories260K) {
  auto file = GgufFile::open(kFixtures + "/stories260K/stories260K.gguf");
  ASSERT_TRUE(file) << file.error().to_string();
  EXPECT_EQ(file->architecture(), "llama");
  EXPECT_EQ(file->tensors().size(), 48u);
  for (const GgufTensorInfo& info : file->tensors()) EXPECT_EQ(info.dtype, DType::kF32) << info.name;
  const GgufTensorInfo* embed = file->find_tensor("token_embd.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->shape, Shape({512, 64}));
  const GgufTensorInfo* ffn_up = file->find_tensor("blk.0.ffn_up.weight");
  ASSERT_NE(ffn_up, nullptr);
  EXPECT_EQ(ffn_up->shape, Shape({172, 64}));
  EXPECT_EQ(*file->get_uint("llama.block_count"), 5u);
  EXPECT_EQ(*file->get_uint("llama.attention.head_count_kv"), 4u);
  EXPECT_NEAR(*file->get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-12);
  auto tokens = file->get_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens);
  EXPECT_EQ((*tokens)->element_type(), GgufValueType::kString);
  EXPECT_EQ((*tokens)->size(), 512u);
  auto scores = (*tokens)->to_vector<float>();
  EXPECT_FALSE(scores);  // strings are not numbers
  auto real_scores = file->get_array("tokenizer.ggml.scores");
  ASSERT_TRUE(real_scores);
  auto values = (*real_scores)->to_vector<float>();
  ASSERT_TRUE(values);
  EXPECT_EQ(values->size(), 512u);
}

TEST(GgufFile, EveryVocabFixtureOpens) {
  for (const char* name : {"bert-bge", "falcon", "gpt-2", "gpt-neox", "llama-spm", "mpt", "phi-3"}) {
    auto file = GgufFile::open(kFixtures + "/tokenizer/ggml-vocab-" + name + ".gguf");
    ASSERT_TRUE(file) << name << ": " << file.error().to_string();
    auto tokens = file->get_array("tokenizer.ggml.tokens");
    ASSERT_TRUE(tokens) << name;
    EXPECT_GT((*tokens)->size(), 1000u) << name;
    EXPECT_EQ((*tokens)->strings().size(), (*tokens)->size());
    EXPECT_TRUE(file->get_string("tokenizer.ggml.model")) << name;
  }
}

TEST(GgufFile, TypedGetterErrorsNameKeyAndFile) {
  auto file = GgufFile::open(kFixtures + "/quant/gguf/quant-mix.gguf");
  ASSERT_TRUE(file);
  auto missing = file->get_uint("test.nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("test.nope"), std::string::npos);
  EXPECT_NE(missing.error().message().find("quant-mix.gguf"), std::string::npos);
  auto wrong = file->get_string("test.rows");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("test.rows"), std::string::npos);
  EXPECT_NE(wrong.error().message().find("u32"), std::string::npos);
  EXPECT_EQ(*file->get_uint_or("test.nope", 7), 7u);
  EXPECT_FALSE(file->get_uint_or("general.name", 7));
}

TEST(GgufFile, MissingFile) {
  auto file = GgufFile::open("/nonexistent/model.gguf");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(file.error().message().find("/nonexistent/model.gguf"), std::string::npos);
}

TEST(GgufFile, EveryTruncationFailsCleanly) {
  const std::vector<uint8_t> bytes = read_file(kFixtures + "/quant/gguf/quant-mix.gguf");
  for (size_t size = 0; size < bytes.size(); size += (size < 900 ? 1 : 97)) {
    auto file =
        GgufFile::parse(MappedFile::from_bytes(std::vector<uint8_t>(bytes.begin(), bytes.begin() + size), "cut.gguf"));
    ASSERT_FALSE(file) << "truncated to " << size << " bytes";
    EXPECT_NE(file.error().message().find("cut.gguf"), std::string::npos) << file.error().message();
  }
}

// A vocabulary the size of Qwen's (151k tokens and as many merges) must parse in well under 100 ms.
TEST(GgufFile, LargeVocabularyParsesQuickly) {
  constexpr size_t kVocab = 151936;
  std::vector<std::string> tokens(kVocab);
  std::vector<std::string> merges(kVocab);
  std::vector<float> scores(kVocab);
  std::vector<int32_t> types(kVocab, 1);
  for (size_t i = 0; i < kVocab; ++i) {
    // Appending (not "tok" + to_string) sidesteps a GCC 12 -Wrestrict false positive.
    tokens[i].append("tok").append(std::to_string(i));
    merges[i].append("m").append(std::to_string(i)).append(" x");
    scores[i] = -static_cast<float>(i);
  }
  GgufWriter writer;
  writer.set_string("general.architecture", "qwen2");
  writer.set_string("tokenizer.ggml.model", "gpt2");
  writer.set_string_array("tokenizer.ggml.tokens", tokens);
  writer.set_array<float>("tokenizer.ggml.scores", scores);
  writer.set_array<int32_t>("tokenizer.ggml.token_type", types);
  writer.set_string_array("tokenizer.ggml.merges", merges);
  auto mapping = MappedFile::from_bytes(*writer.to_bytes(), "vocab.gguf");

  double best_ms = 1e9;
  for (int run = 0; run < 5; ++run) {
    const auto start = std::chrono::steady_clock::now();
    auto file = GgufFile::parse(mapping);
    const auto stop = std::chrono::steady_clock::now();
    ASSERT_TRUE(file) << file.error().to_string();
    ASSERT_EQ((*file->get_array("tokenizer.ggml.tokens"))->strings()[kVocab - 1], tokens.back());
    best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(stop - start).count());
  }
  std::printf("151936-token vocabulary metadata parsed in %.2f ms (best of 5)\n", best_ms);
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(best_ms, 100.0);
#endif
}

}  // namespace
}  // namespace ferrum
