// Typed hyper-parameters of every architecture ferrum runs, filled from a Hugging Face config.json
// (hf_config.h) or from GGUF metadata (gguf_config.h). Model code reads these structs and never
// the JSON or GGUF keys. Every field holds what the model computes with: defaults that
// transformers applies are already applied, derived values (head_dim, layer_types, which layers are
// MoE) are already derived.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ferrum {

// Configs with more layers than this are refused: per-layer tables are sized by the layer count,
// and no real model comes close.
inline constexpr int64_t kMaxModelLayers = 65536;

enum class ModelArch {
  kLlama,       // LlamaForCausalLM (also GGUF "llama", which Mistral GGUFs use too)
  kMistral,     // MistralForCausalLM
  kQwen2,       // Qwen2ForCausalLM
  kQwen3,       // Qwen3ForCausalLM
  kQwen3Moe,    // Qwen3MoeForCausalLM
  kGemma3,      // Gemma3ForCausalLM, and the text model of Gemma3ForConditionalGeneration
  kDeepseekV3,  // DeepseekV3ForCausalLM (GGUF "deepseek2")
  kBert,        // BertModel
  kWhisper,     // WhisperForConditionalGeneration
  kClip,        // CLIPModel
};

std::string_view model_arch_name(ModelArch arch);  // "llama", "qwen3_moe", ...

enum class RopeType { kDefault, kLinear, kDynamic, kLlama3, kYarn, kLongrope };
std::string_view rope_type_name(RopeType type);  // as transformers spells it: "default", "yarn", ...

// Rotary position embedding scaling, with the parameters of every supported type. Fields that a
// type does not use keep their defaults.
struct RopeScaling {
  RopeType type = RopeType::kDefault;
  double factor = 1.0;  // linear, dynamic, llama3, yarn, longrope
  // llama3 and yarn (transformers falls back to max_position_embeddings for yarn; so does this).
  std::optional<int64_t> original_max_position_embeddings;
  double low_freq_factor = 1.0;            // llama3
  double high_freq_factor = 4.0;           // llama3
  double beta_fast = 32.0;                 // yarn
  double beta_slow = 1.0;                  // yarn
  std::optional<double> mscale;            // yarn (DeepSeek's variant sets both mscale values)
  std::optional<double> mscale_all_dim;    // yarn
  std::optional<double> attention_factor;  // yarn, longrope: explicit attention scaling
  bool truncate = true;                    // yarn: round the correction range to whole dims
  std::vector<double> short_factor;        // longrope
  std::vector<double> long_factor;         // longrope
  // GGUF rope_freqs.weight (how converted Llama 3 files carry their scaling): inverse frequency i
  // is divided by entry i after the type's own scaling. Empty: none.
  std::vector<float> frequency_divisors;
};

struct RopeParams {
  double theta = 10000.0;
  RopeScaling scaling;
};

enum class LayerAttention { kFull, kSliding };

enum class MoeScoring { kSoftmax, kSigmoid };

struct MoeConfig {
  int64_t num_experts = 0;               // routed experts
  int64_t num_experts_per_tok = 0;       // top-k
  int64_t expert_intermediate_size = 0;  // moe_intermediate_size
  int64_t num_shared_experts = 0;
  int64_t shared_expert_intermediate_size = 0;  // of all shared experts together
  bool norm_topk_prob = false;
  MoeScoring scoring = MoeScoring::kSoftmax;
  std::string topk_method;  // "greedy", "noaux_tc" (DeepSeek V3), ...; empty when not given
  int64_t num_groups = 1;   // n_group: experts are split in groups for group-limited routing
  int64_t topk_groups = 1;  // topk_group
  double routed_scaling_factor = 1.0;
  bool has_score_correction_bias = false;  // DeepSeek V3's e_score_correction_bias (noaux_tc)
  std::vector<bool> layer_is_moe;          // one entry per layer; false layers use the dense MLP
};

// Multi-head latent attention (DeepSeek V2/V3).
struct MlaConfig {
  int64_t q_lora_rank = 0;  // 0: queries are projected directly, without the low-rank step
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
};

// Decoder-only language models: Llama, Mistral, Qwen2/3, Qwen3-MoE, Gemma 3, DeepSeek V3.
struct DecoderConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  // dense MLP
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;    // per query/key head (MLA: qk_nope_head_dim + qk_rope_head_dim)
  int64_t rotary_dim = 0;  // leading dims of each head that RoPE rotates (MLA: qk_rope_head_dim)
  int64_t max_position_embeddings = 0;
  double norm_eps = 1e-6;
  std::string hidden_act;                   // "silu", "gelu_pytorch_tanh", ...
  RopeParams rope;                          // full-attention layers
  std::optional<RopeParams> rope_local;     // sliding-window layers when they differ (Gemma 3)
  bool rope_interleaved = false;            // pairs (2i, 2i+1) rotate together (DeepSeek V3's rope_interleave)
  std::optional<int64_t> sliding_window;    // tokens a sliding layer attends to
  std::vector<LayerAttention> layer_types;  // one entry per layer
  bool tie_word_embeddings = false;
  bool attention_qkv_bias = false;
  bool attention_out_bias = false;
  bool mlp_bias = false;
  bool qk_norm = false;                           // RMSNorm on each query and key head (Qwen3, Gemma 3)
  std::optional<double> query_pre_attn_scalar;    // Gemma: scores are scaled by its inverse sqrt
  std::optional<double> final_logit_softcapping;  // Gemma
  std::optional<double> attn_logit_softcapping;   // Gemma
  std::optional<MoeConfig> moe;
  std::optional<MlaConfig> mla;
};

struct BertConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  std::string hidden_act;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  std::string position_embedding_type = "absolute";
};

struct WhisperConfig {
  int64_t vocab_size = 0;
  int64_t d_model = 0;
  int64_t encoder_layers = 0;
  int64_t decoder_layers = 0;
  int64_t encoder_attention_heads = 0;
  int64_t decoder_attention_heads = 0;
  int64_t encoder_ffn_dim = 0;
  int64_t decoder_ffn_dim = 0;
  int64_t num_mel_bins = 80;
  int64_t max_source_positions = 1500;  // encoder positions after the stride-2 convolution
  int64_t max_target_positions = 448;
  std::string activation_function = "gelu";
  bool scale_embedding = false;
  std::vector<int64_t> suppress_tokens;
  std::vector<int64_t> begin_suppress_tokens;
};

struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t num_layers = 12;
  int64_t num_heads = 8;
  int64_t max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;
  // Pooling takes the hidden state at this token; transformers treats configs that say 2 (older
  // checkpoints) as "pool at the highest token id" instead.
  int64_t eos_token_id = 49407;
};

struct ClipVisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  int64_t num_channels = 3;
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;
};

struct ClipConfig {
  ClipTextConfig text;
  ClipVisionConfig vision;
  int64_t projection_dim = 512;
  double logit_scale_init_value = 2.6592;
};

// GPTQ or AWQ weight quantization, from config.json's quantization_config or a quantize_config.json.
struct QuantizationConfig {
  std::string method;  // "gptq" or "awq"
  int64_t bits = 4;
  int64_t group_size = 128;                // -1: one group per output channel
  bool desc_act = false;                   // GPTQ act-order: g_idx permutes input channels
  bool sym = true;                         // GPTQ symmetric (no stored zero points beyond the implicit one)
  bool zero_point = true;                  // AWQ asymmetric zero points
  std::string checkpoint_format = "gptq";  // GPTQ: "gptq" (v1, zeros stored minus one) or "gptq_v2"
  std::string awq_version = "gemm";        // AWQ packing: "gemm" or "gemv"
  std::vector<std::string> modules_to_not_convert;
  std::string source;  // the file it came from
};

struct SpecialTokenIds {
  std::optional<int64_t> bos;
  std::vector<int64_t> eos;  // config.json allows one id or a list
  std::optional<int64_t> pad;
  std::optional<int64_t> decoder_start;  // encoder-decoder models
};

struct ModelConfig {
  ModelArch arch = ModelArch::kLlama;
  std::string architecture;  // as given: "LlamaForCausalLM", or the GGUF general.architecture
  std::string model_type;    // config.json model_type ("gemma3_text" for Gemma 3's text model)
  std::string torch_dtype;   // the checkpoint's dtype as declared ("bfloat16"), empty if absent
  SpecialTokenIds tokens;
  std::variant<DecoderConfig, BertConfig, WhisperConfig, ClipConfig> params;
  std::optional<QuantizationConfig> quantization;

  const DecoderConfig* decoder() const { return std::get_if<DecoderConfig>(&params); }
  const BertConfig* bert() const { return std::get_if<BertConfig>(&params); }
  const WhisperConfig* whisper() const { return std::get_if<WhisperConfig>(&params); }
  const ClipConfig* clip() const { return std::get_if<ClipConfig>(&params); }
};

}  // namespace ferrum
