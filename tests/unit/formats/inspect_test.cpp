#include "formats/inspect.h"

#include <gtest/gtest.h>

#include "unit/formats/temp_path.h"

#include <filesystem>
#include <sstream>

namespace ferrum {
namespace {

const std::string kFixtures = FERRUM_FIXTURES_DIR;

std::string inspect(const std::string& spec) {
  std::ostringstream out;
  Status status = inspect_model(spec, out);
  EXPECT_TRUE(status) << spec << ": " << status.error().to_string();
  return out.str();
}

void expect_contains(const std::string& text, std::string_view fragment) {
  EXPECT_NE(text.find(fragment), std::string::npos) << "missing \"" << fragment << "\" in:\n" << text;
}

TEST(Inspect, QuantMixGguf) {
  const std::string text = inspect(kFixtures + "/quant/gguf/quant-mix.gguf");
  expect_contains(text, "GGUF v3");
  expect_contains(text, "general.name (string) = \"quant-mix test vectors\"");
  expect_contains(text, "test.seed (u32) = 20240601");
  expect_contains(text, "GGUF architecture 'test' is not supported");
  expect_contains(text, "w.q4_k");
  expect_contains(text, "q4_K");
  expect_contains(text, "[4, 512]");
  expect_contains(text, "total: 11 tensors");
}

TEST(Inspect, Stories260KGguf) {
  const std::string text = inspect(kFixtures + "/stories260K/stories260K.gguf");
  expect_contains(text, "model: llama (llama)");
  expect_contains(text, "heads 8, kv heads 4, head_dim 8");
  expect_contains(text, "tokenizer: llama, vocab 512");
  expect_contains(text, "bos 1 \"<s>\"");
  expect_contains(text, "tokenizer.ggml.tokens (array of string) = [\"<unk>\", \"<s>\", \"</s>\"");
  expect_contains(text, "token_embd.weight");
  expect_contains(text, "total: 48 tensors");
}

TEST(Inspect, HfDirectory) {
  const std::string text = inspect(kFixtures + "/hf-tiny/deepseek_v3");
  expect_contains(text, "safetensors, 1 file(s), 47 tensors");
  expect_contains(text, "format=pt");
  expect_contains(text, "model: deepseek_v3 (DeepseekV3ForCausalLM)");
  expect_contains(text, "mla: q_lora 32, kv_lora 16");
  expect_contains(text, "moe: 8 experts, top 2");
  expect_contains(text, "model.layers.1.mlp.experts.gate_up_proj");
  expect_contains(text, "bf16");
}

TEST(Inspect, VocabularyOnlyGguf) {
  const std::string text = inspect(kFixtures + "/tokenizer/ggml-vocab-gpt-2.gguf");
  expect_contains(text, "tokenizer: gpt2 (pre gpt-2), vocab 50257, 50000 merges");
  expect_contains(text, "total: 0 tensors");
}

// A directory with tokenizer.json and tokenizer_config.json (Qwen3's) beside the weights.
TEST(Inspect, TokenizerJsonSummary) {
  const auto dir = unique_temp_path("inspect-tokenizer");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
    std::filesystem::copy_file(kFixtures + "/tokenizer/qwen3/" + file, dir / file);
  }
  std::filesystem::copy_file(kFixtures + "/hf-tiny/qwen3/model.safetensors", dir / "model.safetensors");
  std::filesystem::copy_file(kFixtures + "/hf-tiny/qwen3/config.json", dir / "config.json");
  const std::string text = inspect(dir.string());
  std::filesystem::remove_all(dir);
  expect_contains(text, "tokenizer: BPE, vocab 151669, 151387 merges, add_bos no, chat template yes");
  expect_contains(text, "special 151644 \"<|im_start|>\"");
  expect_contains(text, "eos 151645 \"<|im_end|>\"");
  expect_contains(text, "more special tokens");
  expect_contains(text, "model: qwen3 (Qwen3ForCausalLM)");
}

TEST(Inspect, Errors) {
  std::ostringstream out;
  Status missing = inspect_model("/nonexistent/model.gguf", out);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace ferrum
