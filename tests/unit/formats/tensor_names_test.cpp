#include "formats/tensor_names.h"

#include <gtest/gtest.h>

#include <cstring>

#include "formats/gguf_file.h"
#include "formats/hf_config.h"
#include "formats/safetensors_file.h"

namespace ferrum {
namespace {

const std::string kFixtures = FERRUM_FIXTURES_DIR;

bool contains(const std::vector<TensorNameMapping>& mappings, std::string_view name) {
  return std::any_of(mappings.begin(), mappings.end(), [&](const auto& m) { return m.name == name; });
}

TEST(TensorNames, Examples) {
  auto q = gguf_to_hf_tensor_names(ModelArch::kLlama, "blk.12.attn_q.weight");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].name, "model.layers.12.self_attn.q_proj.weight");
  EXPECT_EQ(q[0].relation, TensorNameRelation::kSame);

  // Same GGUF name, different HF meaning in Gemma 3 (sandwich norms).
  EXPECT_EQ(gguf_to_hf_tensor_names(ModelArch::kLlama, "blk.0.ffn_norm.weight")[0].name,
            "model.layers.0.post_attention_layernorm.weight");
  EXPECT_EQ(gguf_to_hf_tensor_names(ModelArch::kGemma3, "blk.0.ffn_norm.weight")[0].name,
            "model.layers.0.pre_feedforward_layernorm.weight");

  auto gate = gguf_to_hf_tensor_names(ModelArch::kQwen3Moe, "blk.3.ffn_gate_exps.weight");
  EXPECT_TRUE(contains(gate, "model.layers.3.mlp.experts.{E}.gate_proj.weight"));
  EXPECT_TRUE(contains(gate, "model.layers.3.mlp.experts.gate_up_proj"));

  auto expert = hf_to_gguf_tensor_names(ModelArch::kQwen3Moe, "model.layers.3.mlp.experts.17.up_proj.weight");
  ASSERT_EQ(expert.size(), 1u);
  EXPECT_EQ(expert[0].name, "blk.3.ffn_up_exps.weight");
  EXPECT_EQ(expert[0].relation, TensorNameRelation::kExpertSlice);

  auto fused = hf_to_gguf_tensor_names(ModelArch::kDeepseekV3, "model.layers.1.mlp.experts.gate_up_proj");
  ASSERT_EQ(fused.size(), 2u);
  EXPECT_EQ(fused[0].relation, TensorNameRelation::kGateHalf);
  EXPECT_EQ(fused[1].relation, TensorNameRelation::kUpHalf);

  EXPECT_TRUE(gguf_to_hf_tensor_names(ModelArch::kLlama, "rope_freqs.weight").empty());
  EXPECT_TRUE(gguf_to_hf_tensor_names(ModelArch::kLlama, "blk.x.attn_q.weight").empty());
  EXPECT_TRUE(tensor_name_table(ModelArch::kWhisper).empty());
}

// Every tensor of every hf-tiny checkpoint with a GGUF convention maps to GGUF and back.
TEST(TensorNames, EveryHfTinyTensorRoundTrips) {
  for (const char* model : {"llama3", "qwen2", "qwen3", "mistral_swa", "qwen3_moe", "gemma3", "deepseek_v3", "bert"}) {
    const std::string dir = kFixtures + "/hf-tiny/" + model;
    auto config = load_hf_config(dir + "/config.json");
    auto weights = SafetensorsFile::open(dir + "/model.safetensors");
    ASSERT_TRUE(config && weights) << model;
    for (const SafetensorsTensorInfo& tensor : weights->tensors()) {
      const auto gguf = hf_to_gguf_tensor_names(config->arch, tensor.name);
      ASSERT_FALSE(gguf.empty()) << model << ": no GGUF name for " << tensor.name;
      for (const TensorNameMapping& mapping : gguf) {
        EXPECT_TRUE(contains(gguf_to_hf_tensor_names(config->arch, mapping.name), tensor.name))
            << model << ": " << tensor.name << " -> " << mapping.name << " does not map back";
      }
    }
  }
}

// stories260K's GGUF and its HF copy hold the same weights under the two naming schemes; tensors
// other than Q and K (permuted for RoPE) are byte-identical.
TEST(TensorNames, Stories260KGgufNamesFindHfTensors) {
  auto gguf = GgufFile::open(kFixtures + "/stories260K/stories260K.gguf");
  auto hf = SafetensorsFile::open(kFixtures + "/stories260K/stories260K-hf/model.safetensors");
  ASSERT_TRUE(gguf && hf);
  size_t compared = 0;
  for (const GgufTensorInfo& info : gguf->tensors()) {
    if (info.name == "output.weight") continue;  // the HF copy ties lm_head to the embeddings
    const auto names = gguf_to_hf_tensor_names(ModelArch::kLlama, info.name);
    ASSERT_EQ(names.size(), 1u) << info.name;
    const SafetensorsTensorInfo* match = hf->find_tensor(names[0].name);
    ASSERT_NE(match, nullptr) << info.name << " -> " << names[0].name;
    EXPECT_EQ(match->shape, info.shape) << info.name;
    const bool permuted =
        info.name.find("attn_q") != std::string_view::npos || info.name.find("attn_k") != std::string_view::npos;
    if (!permuted) {
      EXPECT_EQ(std::memcmp(hf->tensor_bytes(*match).data(), gguf->tensor_bytes(info).data(), info.nbytes), 0)
          << info.name;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 48u - 1 - 2 * 5);
}

}  // namespace
}  // namespace ferrum
