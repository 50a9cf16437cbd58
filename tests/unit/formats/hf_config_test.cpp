#include "formats/hf_config.h"
#include "formats/generation_config.h"

#include <gtest/gtest.h>

#include "unit/formats/temp_path.h"

#include <filesystem>
#include <fstream>

namespace ferrum {
namespace {

const std::string kTiny = std::string(FERRUM_FIXTURES_DIR) + "/hf-tiny/";

ModelConfig load_tiny(const std::string& name) {
  auto config = load_hf_config(kTiny + name + "/config.json");
  EXPECT_TRUE(config) << name << ": " << config.error().to_string();
  return config ? *config : ModelConfig{};
}

std::vector<LayerAttention> layers(std::initializer_list<char> pattern) {
  std::vector<LayerAttention> out;
  for (char c : pattern) out.push_back(c == 's' ? LayerAttention::kSliding : LayerAttention::kFull);
  return out;
}

TEST(HfConfig, Llama3) {
  const ModelConfig config = load_tiny("llama3");
  EXPECT_EQ(config.arch, ModelArch::kLlama);
  EXPECT_EQ(config.architecture, "LlamaForCausalLM");
  EXPECT_EQ(config.torch_dtype, "bfloat16");
  const DecoderConfig& c = *config.decoder();
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 176);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.rotary_dim, 16);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_DOUBLE_EQ(c.rope.theta, 500000.0);
  EXPECT_EQ(c.rope.scaling.type, RopeType::kLlama3);
  EXPECT_DOUBLE_EQ(c.rope.scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope.scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope.scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope.scaling.original_max_position_embeddings, 256);
  EXPECT_FALSE(c.rope_local);
  EXPECT_EQ(c.layer_types, layers({'f', 'f'}));
  EXPECT_FALSE(c.sliding_window);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_qkv_bias || c.attention_out_bias || c.mlp_bias || c.qk_norm);
  EXPECT_FALSE(c.moe || c.mla);
  EXPECT_EQ(config.tokens.bos, 1);
  EXPECT_EQ(config.tokens.eos, std::vector<int64_t>{2});
  EXPECT_FALSE(config.quantization);
}

TEST(HfConfig, Qwen3) {
  const ModelConfig config = load_tiny("qwen3");
  EXPECT_EQ(config.arch, ModelArch::kQwen3);
  const DecoderConfig& c = *config.decoder();
  EXPECT_EQ(c.head_dim, 32);  // q_dim 128 != hidden 64
  EXPECT_EQ(c.num_heads * c.head_dim, 128);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.intermediate_size, 160);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_qkv_bias);
  EXPECT_DOUBLE_EQ(c.rope.theta, 1e6);
  EXPECT_EQ(c.rope.scaling.type, RopeType::kDefault);  // rope_scaling: null
  EXPECT_EQ(c.layer_types, layers({'f', 'f', 'f'}));
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-6);
}

TEST(HfConfig, Qwen2) {
  const ModelConfig config = load_tiny("qwen2");
  const DecoderConfig& c = *config.decoder();
  EXPECT_TRUE(c.attention_qkv_bias);
  EXPECT_FALSE(c.attention_out_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.head_dim, 16);  // derived: 64 / 4
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_FALSE(c.sliding_window);  // use_sliding_window false
}

TEST(HfConfig, MistralSlidingWindow) {
  const ModelConfig config = load_tiny("mistral_swa");
  const DecoderConfig& c = *config.decoder();
  EXPECT_EQ(c.sliding_window, 8);
  EXPECT_EQ(c.layer_types, layers({'s', 's'}));
  EXPECT_EQ(c.num_kv_heads, 1);
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
}

TEST(HfConfig, Qwen3Moe) {
  const ModelConfig config = load_tiny("qwen3_moe");
  EXPECT_EQ(config.arch, ModelArch::kQwen3Moe);
  const DecoderConfig& c = *config.decoder();
  ASSERT_TRUE(c.moe);
  EXPECT_EQ(c.moe->num_experts, 8);
  EXPECT_EQ(c.moe->num_experts_per_tok, 2);
  EXPECT_EQ(c.moe->expert_intermediate_size, 32);
  EXPECT_TRUE(c.moe->norm_topk_prob);
  EXPECT_EQ(c.moe->scoring, MoeScoring::kSoftmax);
  EXPECT_EQ(c.moe->num_shared_experts, 0);
  EXPECT_EQ(c.moe->layer_is_moe, (std::vector<bool>{true, true}));
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.tie_word_embeddings);
}

TEST(HfConfig, Gemma3) {
  const ModelConfig config = load_tiny("gemma3");
  EXPECT_EQ(config.arch, ModelArch::kGemma3);
  EXPECT_EQ(config.model_type, "gemma3_text");
  const DecoderConfig& c = *config.decoder();
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.num_kv_heads, 1);
  EXPECT_EQ(c.intermediate_size, 176);
  EXPECT_EQ(c.hidden_act, "gelu_pytorch_tanh");
  EXPECT_DOUBLE_EQ(c.rope.theta, 1e6);
  ASSERT_TRUE(c.rope_local);
  EXPECT_DOUBLE_EQ(c.rope_local->theta, 10000.0);
  EXPECT_EQ(c.rope_local->scaling.type, RopeType::kDefault);
  EXPECT_EQ(c.sliding_window, 8);
  EXPECT_EQ(c.layer_types, layers({'s', 'f', 's', 'f'}));
  EXPECT_EQ(c.query_pre_attn_scalar, 16.0);
  EXPECT_FALSE(c.final_logit_softcapping);
  EXPECT_FALSE(c.attn_logit_softcapping);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(config.tokens.bos, 2);
  EXPECT_EQ(config.tokens.eos, std::vector<int64_t>{1});
  EXPECT_EQ(config.tokens.pad, 0);
}

TEST(HfConfig, DeepseekV3) {
  const ModelConfig config = load_tiny("deepseek_v3");
  EXPECT_EQ(config.arch, ModelArch::kDeepseekV3);
  const DecoderConfig& c = *config.decoder();
  ASSERT_TRUE(c.mla);
  EXPECT_EQ(c.mla->q_lora_rank, 32);
  EXPECT_EQ(c.mla->kv_lora_rank, 16);
  EXPECT_EQ(c.mla->qk_nope_head_dim, 16);
  EXPECT_EQ(c.mla->qk_rope_head_dim, 8);
  EXPECT_EQ(c.mla->v_head_dim, 16);
  EXPECT_EQ(c.head_dim, 24);
  EXPECT_EQ(c.rotary_dim, 8);
  EXPECT_TRUE(c.rope_interleaved);
  EXPECT_EQ(c.rope.scaling.type, RopeType::kYarn);
  EXPECT_DOUBLE_EQ(c.rope.scaling.factor, 4.0);
  EXPECT_EQ(c.rope.scaling.original_max_position_embeddings, 512);
  EXPECT_DOUBLE_EQ(c.rope.scaling.beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(c.rope.scaling.beta_slow, 1.0);
  EXPECT_EQ(c.rope.scaling.mscale, 1.0);
  EXPECT_EQ(c.rope.scaling.mscale_all_dim, 1.0);
  ASSERT_TRUE(c.moe);
  EXPECT_EQ(c.moe->num_experts, 8);
  EXPECT_EQ(c.moe->num_experts_per_tok, 2);
  EXPECT_EQ(c.moe->num_shared_experts, 1);
  EXPECT_EQ(c.moe->shared_expert_intermediate_size, 32);
  EXPECT_EQ(c.moe->num_groups, 2);
  EXPECT_EQ(c.moe->topk_groups, 1);
  EXPECT_DOUBLE_EQ(c.moe->routed_scaling_factor, 2.5);
  EXPECT_EQ(c.moe->scoring, MoeScoring::kSigmoid);
  EXPECT_TRUE(c.moe->has_score_correction_bias);
  EXPECT_TRUE(c.moe->norm_topk_prob);
  EXPECT_EQ(c.moe->layer_is_moe, (std::vector<bool>{false, true, true}));  // first_k_dense_replace 1
  EXPECT_EQ(c.intermediate_size, 128);
}

TEST(HfConfig, Bert) {
  const ModelConfig config = load_tiny("bert");
  ASSERT_NE(config.bert(), nullptr);
  const BertConfig& c = *config.bert();
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.intermediate_size, 128);
  EXPECT_EQ(c.hidden_act, "gelu");
  EXPECT_EQ(c.max_position_embeddings, 128);
  EXPECT_EQ(c.type_vocab_size, 2);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-12);
  EXPECT_EQ(c.position_embedding_type, "absolute");
  EXPECT_EQ(config.tokens.pad, 0);
}

TEST(HfConfig, Whisper) {
  const ModelConfig config = load_tiny("whisper");
  ASSERT_NE(config.whisper(), nullptr);
  const WhisperConfig& c = *config.whisper();
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.encoder_layers, 2);
  EXPECT_EQ(c.decoder_layers, 2);
  EXPECT_EQ(c.encoder_attention_heads, 4);
  EXPECT_EQ(c.decoder_ffn_dim, 128);
  EXPECT_EQ(c.num_mel_bins, 80);
  EXPECT_EQ(c.max_source_positions, 50);
  EXPECT_EQ(c.max_target_positions, 64);
  EXPECT_EQ(c.activation_function, "gelu");
  EXPECT_FALSE(c.scale_embedding);
  EXPECT_TRUE(c.suppress_tokens.empty());
  EXPECT_EQ(config.tokens.decoder_start, 1);
}

TEST(HfConfig, Clip) {
  const ModelConfig config = load_tiny("clip");
  ASSERT_NE(config.clip(), nullptr);
  const ClipConfig& c = *config.clip();
  EXPECT_EQ(c.projection_dim, 32);
  EXPECT_DOUBLE_EQ(c.logit_scale_init_value, 2.6592);
  EXPECT_EQ(c.text.vocab_size, 512);
  EXPECT_EQ(c.text.hidden_size, 64);
  EXPECT_EQ(c.text.max_position_embeddings, 32);
  EXPECT_EQ(c.text.hidden_act, "quick_gelu");
  EXPECT_EQ(c.text.eos_token_id, 2);
  EXPECT_EQ(c.vision.image_size, 32);
  EXPECT_EQ(c.vision.patch_size, 8);
  EXPECT_EQ(c.vision.num_channels, 3);
  EXPECT_EQ(c.vision.num_layers, 2);
}

TEST(HfConfig, Stories260KCopy) {
  auto config = load_hf_config(std::string(FERRUM_FIXTURES_DIR) + "/stories260K/stories260K-hf/config.json");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->decoder()->head_dim, 8);
  EXPECT_EQ(config->decoder()->num_kv_heads, 4);
}

Expected<ModelConfig> parse(std::string_view text) {
  return parse_hf_config(text, "test/config.json");
}

void expect_error(std::string_view text, std::string_view fragment) {
  auto config = parse(text);
  ASSERT_FALSE(config) << "expected an error containing: " << fragment;
  EXPECT_NE(config.error().message().find(fragment), std::string::npos) << config.error().message();
  EXPECT_NE(config.error().message().find("test/config.json"), std::string::npos) << config.error().message();
}

constexpr std::string_view kLlamaBase =
    R"("architectures": ["LlamaForCausalLM"], "vocab_size": 32, "hidden_size": 8, "intermediate_size": 16,
       "num_hidden_layers": 2, "num_attention_heads": 2)";

std::string llama_with(std::string_view extra) {
  return "{" + std::string(kLlamaBase) + (extra.empty() ? "" : ", ") + std::string(extra) + "}";
}

TEST(HfConfig, RopeSpellings) {
  auto legacy = parse(llama_with(R"("rope_scaling": {"type": "linear", "factor": 2.0})"));
  ASSERT_TRUE(legacy) << legacy.error().to_string();
  EXPECT_EQ(legacy->decoder()->rope.scaling.type, RopeType::kLinear);
  EXPECT_DOUBLE_EQ(legacy->decoder()->rope.scaling.factor, 2.0);

  auto dynamic = parse(llama_with(R"("rope_scaling": {"rope_type": "dynamic", "factor": 3})"));
  ASSERT_TRUE(dynamic);
  EXPECT_EQ(dynamic->decoder()->rope.scaling.type, RopeType::kDynamic);

  auto flat = parse(llama_with(
      R"("max_position_embeddings": 4096, "rope_parameters": {"rope_type": "yarn", "rope_theta": 50000.0,
         "factor": 4.0, "attention_factor": 1.2, "truncate": false})"));
  ASSERT_TRUE(flat) << flat.error().to_string();
  const RopeParams& rope = flat->decoder()->rope;
  EXPECT_DOUBLE_EQ(rope.theta, 50000.0);
  EXPECT_EQ(rope.scaling.type, RopeType::kYarn);
  EXPECT_EQ(rope.scaling.original_max_position_embeddings, 4096);  // falls back to max_position_embeddings
  EXPECT_EQ(rope.scaling.attention_factor, 1.2);
  EXPECT_FALSE(rope.scaling.truncate);
  EXPECT_FALSE(rope.scaling.mscale);

  auto per_type = parse(R"({"architectures": ["Gemma3ForCausalLM"], "num_hidden_layers": 2,
      "layer_types": ["sliding_attention", "full_attention"], "sliding_window": 512,
      "rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                          "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}})");
  ASSERT_TRUE(per_type) << per_type.error().to_string();
  const DecoderConfig& gemma = *per_type->decoder();
  EXPECT_EQ(gemma.rope.scaling.type, RopeType::kLinear);
  EXPECT_DOUBLE_EQ(gemma.rope.theta, 1e6);
  ASSERT_TRUE(gemma.rope_local);
  EXPECT_DOUBLE_EQ(gemma.rope_local->theta, 10000.0);
  EXPECT_EQ(gemma.vocab_size, 262208);  // Gemma3TextConfig default
  EXPECT_EQ(gemma.head_dim, 256);

  auto longrope = parse(llama_with(
      R"("partial_rotary_factor": 0.5, "rope_scaling": {"type": "longrope", "short_factor": [1, 1], "long_factor": [2, 3]})"));
  ASSERT_TRUE(longrope) << longrope.error().to_string();
  EXPECT_EQ(longrope->decoder()->rope.scaling.long_factor, (std::vector<double>{2, 3}));
  EXPECT_EQ(longrope->decoder()->rotary_dim, 2);  // head_dim 4 * 0.5

  expect_error(llama_with(R"("rope_scaling": {"rope_type": "mrope"})"), "\"mrope\", which ferrum does not support");
  expect_error(llama_with(R"("rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1,
                               "high_freq_factor": 4})"),
               "missing required field \"rope_scaling.original_max_position_embeddings\"");
  expect_error(llama_with(R"("rope_scaling": {"rope_type": "linear"})"), "\"rope_scaling.factor\"");
  expect_error(llama_with(R"("rope_parameters": {"rope_type": "linear", "factor": "2"})"),
               "field \"rope_parameters.factor\" is a string");
}

TEST(HfConfig, Gemma3ConditionalGenerationUsesTextConfig) {
  auto config = parse(R"({"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
      "eos_token_id": [1, 106],
      "text_config": {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240,
                      "num_hidden_layers": 12, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                      "sliding_window": 1024},
      "vision_config": {"hidden_size": 1152}})");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->arch, ModelArch::kGemma3);
  const DecoderConfig& c = *config->decoder();
  EXPECT_EQ(c.hidden_size, 2560);
  EXPECT_EQ(c.num_layers, 12);
  EXPECT_EQ(c.rope.scaling.type, RopeType::kLinear);
  EXPECT_EQ(c.sliding_window, 1024);
  EXPECT_EQ(c.layer_types[5], LayerAttention::kFull);  // pattern 6
  EXPECT_EQ(c.layer_types[4], LayerAttention::kSliding);
  EXPECT_EQ(config->tokens.eos, (std::vector<int64_t>{1, 106}));
  expect_error(R"({"architectures": ["Gemma3ForConditionalGeneration"], "text_config": {"num_hidden_layers": "x"}})",
               "field \"text_config.num_hidden_layers\" is a string");
}

TEST(HfConfig, Errors) {
  expect_error(R"({"architectures": ["MambaForCausalLM"], "model_type": "mamba"})",
               "architecture MambaForCausalLM (model_type \"mamba\") is not supported");
  expect_error(R"({"vocab_size": 3})", "neither \"architectures\" nor \"model_type\"");
  expect_error(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 32, "intermediate_size": 16,
                   "num_hidden_layers": 2, "num_attention_heads": 2})",
               "missing required field \"hidden_size\"");
  expect_error(llama_with(R"("num_key_value_heads": 3)"), "does not divide num_attention_heads 2");
  expect_error(R"({"architectures": ["Gemma3ForCausalLM"], "num_hidden_layers": 1000000000})",
               "\"num_hidden_layers\" is 1000000000, more than the 65536 ferrum accepts");
  expect_error(llama_with(R"("tie_word_embeddings": "yes")"), "field \"tie_word_embeddings\" is a string");
  expect_error("[1, 2]", "top level is a JSON array");
  expect_error("{", "invalid JSON");
  expect_error(R"({"architectures": ["Qwen3MoeForCausalLM"], "vocab_size": 32, "hidden_size": 8,
                   "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                   "num_experts": 4, "moe_intermediate_size": 8})",
               "missing required field \"num_experts_per_tok\"");
  expect_error(R"({"architectures": ["Gemma3ForCausalLM"], "num_hidden_layers": 2,
                   "layer_types": ["sliding_attention"]})",
               "has 1 entries for 2 layers");
  expect_error(llama_with(R"("quantization_config": {"quant_method": "fp8"})"),
               "quantization method \"fp8\" is not supported");
  expect_error(llama_with(R"("quantization_config": {"quant_method": "gptq", "bits": 5})"), "\"bits\" is 5");
  auto model_type_only = parse(R"({"model_type": "qwen3", "vocab_size": 32, "hidden_size": 8,
                                   "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2})");
  ASSERT_TRUE(model_type_only) << model_type_only.error().to_string();
  EXPECT_EQ(model_type_only->arch, ModelArch::kQwen3);
}

TEST(HfConfig, QuantizationConfigs) {
  auto gptq = parse(llama_with(R"("quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 32,
      "desc_act": true, "sym": false, "checkpoint_format": "gptq"})"));
  ASSERT_TRUE(gptq) << gptq.error().to_string();
  ASSERT_TRUE(gptq->quantization);
  EXPECT_EQ(gptq->quantization->method, "gptq");
  EXPECT_EQ(gptq->quantization->group_size, 32);
  EXPECT_TRUE(gptq->quantization->desc_act);
  EXPECT_FALSE(gptq->quantization->sym);

  auto awq = parse(llama_with(R"("quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128,
      "zero_point": true, "version": "GEMM", "modules_to_not_convert": ["visual"]})"));
  ASSERT_TRUE(awq) << awq.error().to_string();
  EXPECT_EQ(awq->quantization->method, "awq");
  EXPECT_EQ(awq->quantization->awq_version, "gemm");
  EXPECT_TRUE(awq->quantization->zero_point);
  EXPECT_EQ(awq->quantization->modules_to_not_convert, std::vector<std::string>{"visual"});

  // A sidecar quantize_config.json (AutoGPTQ, no quant_method) next to config.json.
  const auto dir = unique_temp_path("quantize-config");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << llama_with("");
  std::ofstream(dir / "quantize_config.json") << R"({"bits": 8, "group_size": -1, "desc_act": false, "sym": true})";
  auto sidecar = load_hf_config(dir / "config.json");
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(sidecar) << sidecar.error().to_string();
  ASSERT_TRUE(sidecar->quantization);
  EXPECT_EQ(sidecar->quantization->method, "gptq");
  EXPECT_EQ(sidecar->quantization->bits, 8);
  EXPECT_EQ(sidecar->quantization->group_size, -1);
  EXPECT_NE(sidecar->quantization->source.find("quantize_config.json"), std::string::npos);

  auto awq_native = parse_quantization_config(
      nlohmann::json::parse(R"({"zero_point": true, "q_group_size": 64, "w_bit": 4, "version": "GEMM"})"),
      "quant_config.json", "awq");
  ASSERT_TRUE(awq_native) << awq_native.error().to_string();
  EXPECT_EQ(awq_native->group_size, 64);
}

TEST(HfConfig, QwenSlidingWindowLayers) {
  auto config = parse(R"({"architectures": ["Qwen2ForCausalLM"], "vocab_size": 32, "hidden_size": 8,
      "intermediate_size": 16, "num_hidden_layers": 4, "num_attention_heads": 2, "use_sliding_window": true,
      "sliding_window": 64, "max_window_layers": 2})");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->decoder()->layer_types, layers({'f', 'f', 's', 's'}));
  EXPECT_EQ(config->decoder()->sliding_window, 64);
}

TEST(GenerationConfig, ParsesSamplingDefaultsAndStopTokens) {
  auto config = parse_generation_config(R"({"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
      "do_sample": true, "temperature": 0.6, "top_p": 0.9, "top_k": 20, "transformers_version": "4.45.0"})");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->bos_token_id, 128000);
  EXPECT_EQ(config->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(config->do_sample, true);
  EXPECT_EQ(config->temperature, 0.6);
  EXPECT_EQ(config->top_k, 20);
  EXPECT_FALSE(config->max_new_tokens);
  auto bad = parse_generation_config(R"({"temperature": "hot"})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("generation_config.json: field \"temperature\" is a string"), std::string::npos);
}

}  // namespace
}  // namespace ferrum
