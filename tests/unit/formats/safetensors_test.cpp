#include <gtest/gtest.h>

#include "unit/formats/temp_path.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "formats/gguf_file.h"
#include "formats/safetensors_checkpoint.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"

namespace ferrum {
namespace {

const std::string kFixtures = FERRUM_FIXTURES_DIR;

Expected<SafetensorsFile> parse_bytes(std::vector<uint8_t> bytes) {
  return SafetensorsFile::parse(MappedFile::from_bytes(std::move(bytes), "test.safetensors"));
}

// A file from a header written by hand and `data_bytes` bytes of data.
std::vector<uint8_t> raw_file(std::string_view header, size_t data_bytes) {
  std::vector<uint8_t> bytes(8 + header.size() + data_bytes, 0x5a);
  const uint64_t length = header.size();
  std::memcpy(bytes.data(), &length, 8);
  std::memcpy(bytes.data() + 8, header.data(), header.size());
  return bytes;
}

void expect_parse_error(std::vector<uint8_t> bytes, std::string_view fragment) {
  auto file = parse_bytes(std::move(bytes));
  ASSERT_FALSE(file) << "expected an error containing: " << fragment;
  EXPECT_NE(file.error().message().find(fragment), std::string::npos) << file.error().message();
  EXPECT_NE(file.error().message().find("test.safetensors"), std::string::npos) << file.error().message();
}

TEST(SafetensorsFile, EveryFixtureOpens) {
  struct Expect {
    const char* path;
    size_t tensors;
    DType dtype;  // of `tensor`
    const char* tensor;
    Shape shape;
  };
  const Expect expected[] = {
      {"hf-tiny/bert/model.safetensors", 37, DType::kBF16, "embeddings.LayerNorm.bias", {64}},
      {"hf-tiny/clip/model.safetensors", 78, DType::kBF16, "logit_scale", {}},
      {"hf-tiny/deepseek_v3/model.safetensors", 47, DType::kBF16, "lm_head.weight", {512, 64}},
      {"hf-tiny/gemma3/model.safetensors", 54, DType::kBF16, "model.embed_tokens.weight", {512, 64}},
      {"hf-tiny/llama3/model.safetensors", 21, DType::kBF16, "model.layers.0.self_attn.k_proj.weight", {32, 64}},
      {"hf-tiny/mistral_swa/model.safetensors", 21, DType::kBF16, "lm_head.weight", {512, 64}},
      {"hf-tiny/qwen2/model.safetensors", 26, DType::kBF16, "model.layers.0.self_attn.q_proj.bias", {64}},
      {"hf-tiny/qwen3/model.safetensors", 35, DType::kBF16, "model.layers.0.self_attn.q_proj.weight", {128, 64}},
      {"hf-tiny/qwen3_moe/model.safetensors", 25, DType::kBF16, "lm_head.weight", {512, 64}},
      {"hf-tiny/whisper/model.safetensors", 90, DType::kBF16, "model.decoder.embed_positions.weight", {64, 64}},
      {"hf-tiny/llama3/reference.safetensors", 2, DType::kF32, "logits", {40, 512}},
      {"hf-tiny/bert/reference.safetensors", 4, DType::kI32, "attention_mask", {2, 12}},
      {"quant/awq/awq_4bit_g128.safetensors", 6, DType::kI32, "qweight", {256, 16}},
      {"quant/gptq/gptq_4bit_g128_sym.safetensors", 7, DType::kI32, "g_idx", {256}},
      {"stories260K/stories260K-hf/model.safetensors", 47, DType::kF32, "model.embed_tokens.weight", {512, 64}},
      {"whisper-mel/log_mel_reference.safetensors", 3, DType::kF32, "log_mel_128", {128, 3000}},
  };
  for (const Expect& want : expected) {
    auto file = SafetensorsFile::open(kFixtures + "/" + want.path);
    ASSERT_TRUE(file) << file.error().to_string();
    EXPECT_EQ(file->tensors().size(), want.tensors) << want.path;
    const SafetensorsTensorInfo* info = file->find_tensor(want.tensor);
    ASSERT_NE(info, nullptr) << want.path << " " << want.tensor;
    EXPECT_EQ(info->dtype, want.dtype) << want.path;
    EXPECT_EQ(info->shape, want.shape) << want.path;
    EXPECT_EQ(file->tensor_view(*info).nbytes(), info->nbytes());
    for (size_t i = 1; i < file->tensors().size(); ++i) {
      EXPECT_LT(file->tensors()[i - 1].name, file->tensors()[i].name);
    }
  }
}

TEST(SafetensorsFile, MetadataOfGptqFixture) {
  auto file = SafetensorsFile::open(kFixtures + "/quant/gptq/gptq_4bit_g32_asym.safetensors");
  ASSERT_TRUE(file) << file.error().to_string();
  EXPECT_EQ(file->metadata().at("quant_method"), "gptq");
  EXPECT_EQ(file->metadata().at("group_size"), "32");
  EXPECT_EQ(file->metadata().at("sym"), "false");
}

// The HF copy of stories260K was derived from the GGUF: unpermuted tensors must match byte for byte,
// which checks both readers' shapes (GGUF's reversed dims) and offsets against each other.
TEST(SafetensorsFile, AgreesWithGgufOfTheSameModel) {
  auto hf = SafetensorsFile::open(kFixtures + "/stories260K/stories260K-hf/model.safetensors");
  auto gguf = GgufFile::open(kFixtures + "/stories260K/stories260K.gguf");
  ASSERT_TRUE(hf && gguf);
  const std::pair<const char*, const char*> pairs[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.layers.0.mlp.up_proj.weight", "blk.0.ffn_up.weight"},
      {"model.layers.4.mlp.down_proj.weight", "blk.4.ffn_down.weight"},
      {"model.layers.2.self_attn.v_proj.weight", "blk.2.attn_v.weight"},
      {"model.norm.weight", "output_norm.weight"},
  };
  for (const auto& [hf_name, gguf_name] : pairs) {
    const SafetensorsTensorInfo* a = hf->find_tensor(hf_name);
    const GgufTensorInfo* b = gguf->find_tensor(gguf_name);
    ASSERT_TRUE(a && b) << hf_name;
    EXPECT_EQ(a->shape, b->shape) << hf_name;
    ASSERT_EQ(a->nbytes(), b->nbytes) << hf_name;
    EXPECT_EQ(std::memcmp(hf->tensor_bytes(*a).data(), gguf->tensor_bytes(*b).data(), b->nbytes), 0) << hf_name;
  }
}

TEST(SafetensorsWriter, RoundTrip) {
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  const std::vector<float> logits = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(writer.add_tensor("logits", TensorView(logits.data(), DType::kF32, Shape{2, 3})));
  ASSERT_TRUE(writer.add_tensor("ids", DType::kI64, Shape{3}, std::vector<uint8_t>(24, 7)));
  ASSERT_TRUE(writer.add_tensor("scalar", DType::kBF16, Shape{}, std::vector<uint8_t>{1, 2}));
  ASSERT_TRUE(writer.add_tensor("empty", DType::kF16, Shape{0, 4}, {}));
  ASSERT_TRUE(writer.add_tensor("fp8", DType::kF8E4M3, Shape{4}, std::vector<uint8_t>{1, 2, 3, 4}));
  EXPECT_FALSE(writer.add_tensor("logits", DType::kU8, Shape{1}, {1}));
  EXPECT_FALSE(writer.add_tensor("q", DType::kQ4_0, Shape{32}, std::vector<uint8_t>(18)));
  EXPECT_FALSE(writer.add_tensor("short", DType::kF32, Shape{2}, std::vector<uint8_t>(7)));

  const std::filesystem::path path = unique_temp_path("writer-test.safetensors");
  ASSERT_TRUE(writer.write(path));
  auto file = SafetensorsFile::open(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(file) << file.error().to_string();
  EXPECT_EQ(file->data_offset() % 8, 0u);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  ASSERT_EQ(file->tensors().size(), 5u);
  const SafetensorsTensorInfo* read_logits = file->find_tensor("logits");
  EXPECT_EQ(read_logits->shape, Shape({2, 3}));
  EXPECT_EQ(std::memcmp(file->tensor_bytes(*read_logits).data(), logits.data(), 24), 0);
  EXPECT_EQ(file->find_tensor("ids")->dtype, DType::kI64);
  EXPECT_EQ(file->find_tensor("scalar")->shape.rank(), 0u);
  EXPECT_EQ(file->find_tensor("empty")->nbytes(), 0u);
  EXPECT_EQ(file->find_tensor("fp8")->dtype, DType::kF8E4M3);
}

TEST(SafetensorsMalformed, HeaderErrors) {
  EXPECT_TRUE(parse_bytes(raw_file("{}", 0)));
  expect_parse_error({1, 2, 3}, "truncated: header length");
  std::vector<uint8_t> huge = raw_file("{}", 0);
  const uint64_t length = uint64_t{1} << 62;
  std::memcpy(huge.data(), &length, 8);
  expect_parse_error(huge, "exceeds the format's limit");
  std::vector<uint8_t> cut = raw_file("{}", 0);
  cut[0] = 100;
  expect_parse_error(cut, "truncated: JSON header needs 100 bytes");
  expect_parse_error(raw_file("{\"a\": ", 0), "invalid JSON");
  expect_parse_error(raw_file("[1]", 0), "header is a JSON array");
  expect_parse_error(raw_file("{\"__metadata__\": {\"k\": 1}}", 0), "__metadata__ value of 'k'");
}

TEST(SafetensorsMalformed, TensorErrors) {
  const auto file = [](std::string_view entry, size_t data) {
    return raw_file(std::string("{\"w\": ") + std::string(entry) + "}", data);
  };
  EXPECT_TRUE(parse_bytes(file(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8)));
  expect_parse_error(file(R"([1])", 8), "tensor 'w': entry is a JSON array");
  expect_parse_error(file(R"({"shape":[2],"data_offsets":[0,8]})", 8), "missing string field \"dtype\"");
  expect_parse_error(file(R"({"dtype":"F33","shape":[2],"data_offsets":[0,8]})", 8), "unknown dtype \"F33\"");
  expect_parse_error(file(R"({"dtype":"F8_E5M2","shape":[2],"data_offsets":[0,2]})", 2),
                     "dtype F8_E5M2 is not supported");
  expect_parse_error(file(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})", 8), "shape entry 0 is -2");
  expect_parse_error(file(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})", 8), "shape entry 0 is 2.5");
  expect_parse_error(file(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1],"data_offsets":[0,4]})", 4), "rank 7");
  expect_parse_error(file(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]})", 8), "overflows");
  expect_parse_error(file(R"({"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]})", 0), "overflows");
  expect_parse_error(file(R"({"dtype":"F32","shape":[2],"data_offsets":[0,12]})", 12), "span 12");
  expect_parse_error(file(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})", 8), "not an ordered pair");
  expect_parse_error(file(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})", 8), "data_offsets");
  expect_parse_error(file(R"({"dtype":"F32","shape":[2],"data_offsets":[4,12]})", 8),
                     "extend past the 8 bytes of tensor data");
  expect_parse_error(file(R"({"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]})", 8), "extend past");
  expect_parse_error(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                  "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                              12),
                     "overlap");
}

TEST(SafetensorsMalformed, RandomCorruptionNeverCrashes) {
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  ASSERT_TRUE(writer.add_tensor("a.weight", DType::kBF16, Shape{2, 3}, std::vector<uint8_t>(12)));
  ASSERT_TRUE(writer.add_tensor("b.bias", DType::kF32, Shape{3}, std::vector<uint8_t>(12)));
  const std::vector<uint8_t> original = *writer.to_bytes();
  std::mt19937 rng(99);
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> bytes = original;
    for (int i = 0; i <= trial % 3; ++i) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    auto file = parse_bytes(std::move(bytes));
    if (!file) continue;
    for (const SafetensorsTensorInfo& info : file->tensors()) {
      ASSERT_LE(info.file_offset + info.nbytes(), original.size());
    }
  }
}

class ShardedCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = unique_temp_path("sharded");
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    SafetensorsWriter first;
    ASSERT_TRUE(first.add_tensor("a", DType::kF32, Shape{2}, std::vector<uint8_t>(8, 1)));
    ASSERT_TRUE(first.add_tensor("b", DType::kF32, Shape{1}, std::vector<uint8_t>(4, 2)));
    ASSERT_TRUE(first.write(dir_ / "model-00001-of-00002.safetensors"));
    SafetensorsWriter second;
    ASSERT_TRUE(second.add_tensor("c", DType::kI32, Shape{3}, std::vector<uint8_t>(12, 3)));
    ASSERT_TRUE(second.write(dir_ / "model-00002-of-00002.safetensors"));
    write_index(R"({"metadata": {"total_size": 24}, "weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
        "c": "model-00002-of-00002.safetensors"}})");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write_index(std::string_view text) { std::ofstream(dir_ / "model.safetensors.index.json") << text; }
  std::filesystem::path index() const { return dir_ / "model.safetensors.index.json"; }

  std::filesystem::path dir_;
};

TEST_F(ShardedCheckpoint, OpensAllShards) {
  auto checkpoint = SafetensorsCheckpoint::open(index());
  ASSERT_TRUE(checkpoint) << checkpoint.error().to_string();
  EXPECT_EQ(checkpoint->shards().size(), 2u);
  EXPECT_EQ(checkpoint->tensor_count(), 3u);
  auto c = checkpoint->tensor_view("c");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->dtype(), DType::kI32);
  EXPECT_EQ(c->data_as<uint8_t>()[0], 3);
  EXPECT_EQ(checkpoint->find_tensor("a")->shape, Shape({2}));
  EXPECT_NE(checkpoint->shard_of("c")->path().find("00002"), std::string::npos);
  auto missing = checkpoint->tensor_view("zzz");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST_F(ShardedCheckpoint, SingleFileToo) {
  auto checkpoint = SafetensorsCheckpoint::open(dir_ / "model-00002-of-00002.safetensors");
  ASSERT_TRUE(checkpoint) << checkpoint.error().to_string();
  EXPECT_EQ(checkpoint->tensor_count(), 1u);
}

TEST_F(ShardedCheckpoint, MissingShardIsNamed) {
  std::filesystem::remove(dir_ / "model-00002-of-00002.safetensors");
  auto checkpoint = SafetensorsCheckpoint::open(index());
  ASSERT_FALSE(checkpoint);
  EXPECT_EQ(checkpoint.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(checkpoint.error().message().find("lists shard model-00002-of-00002.safetensors"), std::string::npos)
      << checkpoint.error().message();
}

TEST_F(ShardedCheckpoint, IndexErrors) {
  write_index(R"({"weight_map": {"zzz": "model-00001-of-00002.safetensors"}})");
  auto absent = SafetensorsCheckpoint::open(index());
  ASSERT_FALSE(absent);
  EXPECT_NE(absent.error().message().find("maps tensor 'zzz'"), std::string::npos) << absent.error().message();

  write_index(R"({"weight_map": {"a": "../etc/passwd"}})");
  auto escape = SafetensorsCheckpoint::open(index());
  ASSERT_FALSE(escape);
  EXPECT_NE(escape.error().message().find("expected a file name"), std::string::npos);

  write_index(R"({"weights": {}})");
  EXPECT_FALSE(SafetensorsCheckpoint::open(index()));
  write_index("not json");
  auto bad = SafetensorsCheckpoint::open(index());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("model.safetensors.index.json: invalid JSON"), std::string::npos);
}

}  // namespace
}  // namespace ferrum
