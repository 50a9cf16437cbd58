#include "formats/gguf_config.h"

#include <gtest/gtest.h>

#include "formats/gguf_writer.h"
#include "formats/hf_config.h"

namespace ferrum {
namespace {

const std::string kFixtures = FERRUM_FIXTURES_DIR;

GgufFile parse_writer(const GgufWriter& writer) {
  auto bytes = writer.to_bytes();
  EXPECT_TRUE(bytes) << bytes.error().to_string();
  auto file = GgufFile::parse(MappedFile::from_bytes(*bytes, "test.gguf"));
  EXPECT_TRUE(file) << file.error().to_string();
  return std::move(file).value();
}

void add_placeholder(GgufWriter& writer, const std::string& name) {
  ASSERT_TRUE(writer.add_tensor(name, DType::kF32, Shape{1}, std::vector<uint8_t>(4)));
}

// The fields both sources state; GGUF cannot express some others (documented in docs/formats.md).
void expect_same_decoder(const DecoderConfig& gguf, const DecoderConfig& hf) {
  EXPECT_EQ(gguf.vocab_size, hf.vocab_size);
  EXPECT_EQ(gguf.hidden_size, hf.hidden_size);
  EXPECT_EQ(gguf.intermediate_size, hf.intermediate_size);
  EXPECT_EQ(gguf.num_layers, hf.num_layers);
  EXPECT_EQ(gguf.num_heads, hf.num_heads);
  EXPECT_EQ(gguf.num_kv_heads, hf.num_kv_heads);
  EXPECT_EQ(gguf.head_dim, hf.head_dim);
  EXPECT_EQ(gguf.rotary_dim, hf.rotary_dim);
  EXPECT_EQ(gguf.max_position_embeddings, hf.max_position_embeddings);
  EXPECT_DOUBLE_EQ(gguf.norm_eps, hf.norm_eps);
  EXPECT_EQ(gguf.hidden_act, hf.hidden_act);
  EXPECT_DOUBLE_EQ(gguf.rope.theta, hf.rope.theta);
  EXPECT_EQ(gguf.rope.scaling.type, hf.rope.scaling.type);
  EXPECT_DOUBLE_EQ(gguf.rope.scaling.factor, hf.rope.scaling.factor);
  EXPECT_EQ(gguf.rope.scaling.original_max_position_embeddings, hf.rope.scaling.original_max_position_embeddings);
  // GGUF carries the yarn multiplier as f32.
  EXPECT_NEAR(gguf.rope.scaling.mscale.value_or(-1), hf.rope.scaling.mscale.value_or(-1), 1e-6);
  EXPECT_NEAR(gguf.rope.scaling.mscale_all_dim.value_or(-1), hf.rope.scaling.mscale_all_dim.value_or(-1), 1e-6);
  EXPECT_EQ(gguf.rope_local.has_value(), hf.rope_local.has_value());
  if (gguf.rope_local && hf.rope_local) {
    EXPECT_DOUBLE_EQ(gguf.rope_local->theta, hf.rope_local->theta);
  }
  EXPECT_EQ(gguf.sliding_window, hf.sliding_window);
  EXPECT_EQ(gguf.layer_types, hf.layer_types);
  EXPECT_EQ(gguf.tie_word_embeddings, hf.tie_word_embeddings);
  EXPECT_EQ(gguf.attention_qkv_bias, hf.attention_qkv_bias);
  EXPECT_EQ(gguf.qk_norm, hf.qk_norm);
  EXPECT_EQ(gguf.query_pre_attn_scalar, hf.query_pre_attn_scalar);
  ASSERT_EQ(gguf.moe.has_value(), hf.moe.has_value());
  if (gguf.moe) {
    EXPECT_EQ(gguf.moe->num_experts, hf.moe->num_experts);
    EXPECT_EQ(gguf.moe->num_experts_per_tok, hf.moe->num_experts_per_tok);
    EXPECT_EQ(gguf.moe->expert_intermediate_size, hf.moe->expert_intermediate_size);
    EXPECT_EQ(gguf.moe->num_shared_experts, hf.moe->num_shared_experts);
    EXPECT_EQ(gguf.moe->shared_expert_intermediate_size, hf.moe->shared_expert_intermediate_size);
    EXPECT_EQ(gguf.moe->norm_topk_prob, hf.moe->norm_topk_prob);
    EXPECT_EQ(gguf.moe->scoring, hf.moe->scoring);
    EXPECT_EQ(gguf.moe->num_groups, hf.moe->num_groups);
    EXPECT_EQ(gguf.moe->topk_groups, hf.moe->topk_groups);
    EXPECT_DOUBLE_EQ(gguf.moe->routed_scaling_factor, hf.moe->routed_scaling_factor);
    EXPECT_EQ(gguf.moe->has_score_correction_bias, hf.moe->has_score_correction_bias);
    EXPECT_EQ(gguf.moe->layer_is_moe, hf.moe->layer_is_moe);
  }
  ASSERT_EQ(gguf.mla.has_value(), hf.mla.has_value());
  if (gguf.mla) {
    EXPECT_EQ(gguf.mla->q_lora_rank, hf.mla->q_lora_rank);
    EXPECT_EQ(gguf.mla->kv_lora_rank, hf.mla->kv_lora_rank);
    EXPECT_EQ(gguf.mla->qk_nope_head_dim, hf.mla->qk_nope_head_dim);
    EXPECT_EQ(gguf.mla->qk_rope_head_dim, hf.mla->qk_rope_head_dim);
    EXPECT_EQ(gguf.mla->v_head_dim, hf.mla->v_head_dim);
  }
}

ModelConfig hf_tiny(const std::string& name) {
  auto config = load_hf_config(kFixtures + "/hf-tiny/" + name + "/config.json");
  EXPECT_TRUE(config) << config.error().to_string();
  return *config;
}

TEST(GgufConfig, Stories260K) {
  auto file = GgufFile::open(kFixtures + "/stories260K/stories260K.gguf");
  ASSERT_TRUE(file);
  auto config = config_from_gguf(*file);
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->arch, ModelArch::kLlama);
  const DecoderConfig& c = *config->decoder();
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.num_layers, 5);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.rotary_dim, 8);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_NEAR(c.norm_eps, 1e-5, 1e-12);
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  EXPECT_TRUE(c.rope_interleaved);
  EXPECT_FALSE(c.tie_word_embeddings);  // the file has output.weight
  EXPECT_EQ(config->tokens.bos, 1);
  EXPECT_EQ(config->tokens.eos, std::vector<int64_t>{2});
}

TEST(GgufConfig, DeepseekMatchesHfTiny) {
  GgufWriter w;
  w.set_string("general.architecture", "deepseek2");
  w.set_u32("deepseek2.vocab_size", 512);
  w.set_u32("deepseek2.context_length", 2048);
  w.set_u32("deepseek2.embedding_length", 64);
  w.set_u32("deepseek2.block_count", 3);
  w.set_u32("deepseek2.feed_forward_length", 128);
  w.set_u32("deepseek2.attention.head_count", 4);
  w.set_u32("deepseek2.attention.head_count_kv", 4);
  w.set_f32("deepseek2.attention.layer_norm_rms_epsilon", 1e-6f);
  w.set_f32("deepseek2.rope.freq_base", 10000.0f);
  w.set_u32("deepseek2.rope.dimension_count", 8);
  w.set_u32("deepseek2.attention.key_length", 24);
  w.set_u32("deepseek2.attention.value_length", 16);
  w.set_u32("deepseek2.attention.q_lora_rank", 32);
  w.set_u32("deepseek2.attention.kv_lora_rank", 16);
  w.set_u32("deepseek2.leading_dense_block_count", 1);
  w.set_u32("deepseek2.expert_count", 8);
  w.set_u32("deepseek2.expert_used_count", 2);
  w.set_u32("deepseek2.expert_feed_forward_length", 32);
  w.set_u32("deepseek2.expert_shared_count", 1);
  w.set_f32("deepseek2.expert_weights_scale", 2.5f);
  w.set_bool("deepseek2.expert_weights_norm", true);
  w.set_u32("deepseek2.expert_gating_func", 2);
  w.set_u32("deepseek2.expert_group_count", 2);
  w.set_u32("deepseek2.expert_group_used_count", 1);
  w.set_string("deepseek2.rope.scaling.type", "yarn");
  w.set_f32("deepseek2.rope.scaling.factor", 4.0f);
  w.set_u32("deepseek2.rope.scaling.original_context_length", 512);
  w.set_f32("deepseek2.rope.scaling.yarn_log_multiplier", 0.1f);
  add_placeholder(w, "output.weight");
  for (const char* layer : {"1", "2"}) {
    add_placeholder(w, std::string("blk.") + layer + ".ffn_gate_inp.weight");
    add_placeholder(w, std::string("blk.") + layer + ".exp_probs_b.bias");
  }
  const GgufFile file = parse_writer(w);
  auto config = config_from_gguf(file);
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->arch, ModelArch::kDeepseekV3);
  DecoderConfig expected = *hf_tiny("deepseek_v3").decoder();
  // f32 metadata: compare at f32 precision.
  expected.norm_eps = static_cast<float>(expected.norm_eps);
  expect_same_decoder(*config->decoder(), expected);
  EXPECT_EQ(config->decoder()->moe->topk_method, "noaux_tc");
}

TEST(GgufConfig, Gemma3MatchesHfTinyWithStatedPattern) {
  GgufWriter w;
  w.set_string("general.architecture", "gemma3");
  w.set_u32("gemma3.context_length", 4096);
  w.set_u32("gemma3.embedding_length", 64);
  w.set_u32("gemma3.block_count", 4);
  w.set_u32("gemma3.feed_forward_length", 176);
  w.set_u32("gemma3.attention.head_count", 4);
  w.set_u32("gemma3.attention.head_count_kv", 1);
  w.set_u32("gemma3.attention.key_length", 16);
  w.set_u32("gemma3.attention.value_length", 16);
  w.set_f64("gemma3.attention.layer_norm_rms_epsilon", 1e-6);
  w.set_f32("gemma3.rope.freq_base", 1e6f);
  w.set_u32("gemma3.attention.sliding_window", 8);
  w.set_u32("gemma3.attention.sliding_window_pattern", 2);
  const std::vector<std::string> tokens(512, "t");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_u32("tokenizer.ggml.bos_token_id", 2);
  w.set_u32("tokenizer.ggml.eos_token_id", 1);
  add_placeholder(w, "token_embd.weight");
  const GgufFile file = parse_writer(w);
  auto config = config_from_gguf(file);
  ASSERT_TRUE(config) << config.error().to_string();
  expect_same_decoder(*config->decoder(), *hf_tiny("gemma3").decoder());
  EXPECT_EQ(config->tokens.bos, 2);
}

TEST(GgufConfig, Qwen3MoeMatchesHfTiny) {
  GgufWriter w;
  w.set_string("general.architecture", "qwen3moe");
  w.set_u32("qwen3moe.vocab_size", 512);
  w.set_u32("qwen3moe.context_length", 4096);
  w.set_u32("qwen3moe.embedding_length", 64);
  w.set_u32("qwen3moe.block_count", 2);
  w.set_u32("qwen3moe.feed_forward_length", 160);
  w.set_u32("qwen3moe.attention.head_count", 4);
  w.set_u32("qwen3moe.attention.head_count_kv", 2);
  w.set_u32("qwen3moe.attention.key_length", 16);
  w.set_f32("qwen3moe.attention.layer_norm_rms_epsilon", 1e-6f);
  w.set_f32("qwen3moe.rope.freq_base", 1e6f);
  w.set_u32("qwen3moe.expert_count", 8);
  w.set_u32("qwen3moe.expert_used_count", 2);
  w.set_u32("qwen3moe.expert_feed_forward_length", 32);
  add_placeholder(w, "output.weight");
  add_placeholder(w, "blk.0.ffn_gate_inp.weight");
  add_placeholder(w, "blk.1.ffn_gate_inp.weight");
  const GgufFile file = parse_writer(w);
  auto config = config_from_gguf(file);
  ASSERT_TRUE(config) << config.error().to_string();
  DecoderConfig expected = *hf_tiny("qwen3_moe").decoder();
  expected.norm_eps = static_cast<float>(expected.norm_eps);
  expect_same_decoder(*config->decoder(), expected);
  EXPECT_FALSE(config->decoder()->rope_interleaved);
}

TEST(GgufConfig, BertAndErrors) {
  GgufWriter bert;
  bert.set_string("general.architecture", "bert");
  bert.set_u32("bert.embedding_length", 384);
  bert.set_u32("bert.block_count", 12);
  bert.set_u32("bert.feed_forward_length", 1536);
  bert.set_u32("bert.attention.head_count", 12);
  bert.set_u32("bert.context_length", 512);
  bert.set_f32("bert.attention.layer_norm_epsilon", 1e-12f);
  bert.set_u32("bert.vocab_size", 30522);
  auto config = config_from_gguf(parse_writer(bert));
  ASSERT_TRUE(config) << config.error().to_string();
  ASSERT_NE(config->bert(), nullptr);
  EXPECT_EQ(config->bert()->hidden_size, 384);
  EXPECT_EQ(config->bert()->type_vocab_size, 2);

  auto vocab = GgufFile::open(kFixtures + "/tokenizer/ggml-vocab-bert-bge.gguf");
  ASSERT_TRUE(vocab);
  auto bge = config_from_gguf(*vocab);
  ASSERT_TRUE(bge) << bge.error().to_string();
  EXPECT_EQ(bge->bert()->vocab_size, 30522);

  GgufWriter mamba;
  mamba.set_string("general.architecture", "mamba");
  auto unsupported = config_from_gguf(parse_writer(mamba));
  ASSERT_FALSE(unsupported);
  EXPECT_NE(unsupported.error().message().find("GGUF architecture 'mamba' is not supported"), std::string::npos);

  GgufWriter missing;
  missing.set_string("general.architecture", "llama");
  missing.set_u32("llama.vocab_size", 32);
  missing.set_u32("llama.embedding_length", 64);
  auto incomplete = config_from_gguf(parse_writer(missing));
  ASSERT_FALSE(incomplete);
  EXPECT_NE(incomplete.error().message().find("llama.feed_forward_length"), std::string::npos)
      << incomplete.error().message();

  GgufWriter wrong_type;
  wrong_type.set_string("general.architecture", "qwen2");
  wrong_type.set_u32("qwen2.vocab_size", 32);
  wrong_type.set_string("qwen2.embedding_length", "64");
  auto typed = config_from_gguf(parse_writer(wrong_type));
  ASSERT_FALSE(typed);
  EXPECT_NE(typed.error().message().find("'qwen2.embedding_length' is string"), std::string::npos)
      << typed.error().message();
}

}  // namespace
}  // namespace ferrum
