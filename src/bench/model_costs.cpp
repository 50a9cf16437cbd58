#include "bench/model_costs.h"

#include <algorithm>

namespace ferrum::bench {
namespace {

double attention_params(const DecoderConfig& c) {
  const double hidden = static_cast<double>(c.hidden_size);
  const double heads = static_cast<double>(c.num_heads);
  if (c.mla) {
    const MlaConfig& m = *c.mla;
    const double q_head = static_cast<double>(m.qk_nope_head_dim + m.qk_rope_head_dim);
    const double q =
        m.q_lora_rank > 0 ? hidden * m.q_lora_rank + m.q_lora_rank * heads * q_head : hidden * heads * q_head;
    const double kv_a = hidden * static_cast<double>(m.kv_lora_rank + m.qk_rope_head_dim);
    const double kv_b =
        static_cast<double>(m.kv_lora_rank) * heads * static_cast<double>(m.qk_nope_head_dim + m.v_head_dim);
    const double o = heads * static_cast<double>(m.v_head_dim) * hidden;
    return q + kv_a + kv_b + o;
  }
  const double q_dim = heads * static_cast<double>(c.head_dim);
  const double kv_dim = static_cast<double>(c.num_kv_heads * c.head_dim);
  return hidden * (q_dim + 2 * kv_dim) + q_dim * hidden;
}

// Per query token per key: QK^T over the key width, PV over the value width, for every head.
double attention_flops_per_key(const DecoderConfig& c) {
  const double heads = static_cast<double>(c.num_heads);
  if (c.mla) {
    // Absorbed MLA attends over the latent (kv_lora_rank) plus the rope key; values are the latent.
    const MlaConfig& m = *c.mla;
    return 2 * heads * static_cast<double>(m.kv_lora_rank + m.qk_rope_head_dim) + 2 * heads * m.kv_lora_rank;
  }
  return 4 * heads * static_cast<double>(c.head_dim);
}

}  // namespace

double ModelCosts::attention_flops(size_t keys) const {
  double flops = 0;
  for (const LayerAttentionCost& layer : layers) {
    const size_t attended = layer.window ? std::min(keys, layer.window) : keys;
    flops += layer.flops_per_key * static_cast<double>(attended);
  }
  return flops;
}

double ModelCosts::kv_bytes_read(size_t keys) const {
  double bytes = 0;
  for (const LayerAttentionCost& layer : layers) {
    const size_t attended = layer.window ? std::min(keys, layer.window) : keys;
    bytes += layer.kv_bytes_per_key * static_cast<double>(attended);
  }
  return bytes;
}

double ModelCosts::prefill_flops(size_t tokens, size_t start) const {
  double flops = linear_flops_per_token * static_cast<double>(tokens) + lm_head_flops;
  for (size_t i = 0; i < tokens; ++i) flops += attention_flops(start + i + 1);
  return flops;
}

double ModelCosts::decode_flops(size_t keys) const {
  return linear_flops_per_token + lm_head_flops + attention_flops(keys);
}

double ModelCosts::decode_bytes(size_t keys, size_t batch) const {
  return weight_bytes_per_step + static_cast<double>(batch) * kv_bytes_read(keys);
}

Expected<ModelCosts> model_costs(const ModelConfig& config, const CausalLmInfo& info) {
  const DecoderConfig* c = config.decoder();
  FERRUM_CHECK(c != nullptr, ErrorCode::kUnsupported, "model costs: ", config.architecture,
               " is not a decoder-only language model");
  FERRUM_CHECK(c->num_layers > 0 && c->hidden_size > 0, ErrorCode::kInvalidArgument,
               "model costs: the config has no layers");
  const double hidden = static_cast<double>(c->hidden_size);
  const double vocab = static_cast<double>(c->vocab_size);
  const double attention = attention_params(*c);
  const double dense_mlp = 3 * hidden * static_cast<double>(c->intermediate_size);
  ModelCosts costs;
  double active = 0;
  double all = 0;
  for (int64_t layer = 0; layer < c->num_layers; ++layer) {
    double mlp_active = dense_mlp;
    double mlp_all = dense_mlp;
    if (c->moe && c->moe->layer_is_moe[static_cast<size_t>(layer)]) {
      const MoeConfig& m = *c->moe;
      const double expert = 3 * hidden * static_cast<double>(m.expert_intermediate_size);
      const double router = hidden * static_cast<double>(m.num_experts);
      const double shared = 3 * hidden * static_cast<double>(m.shared_expert_intermediate_size);
      mlp_active = router + static_cast<double>(m.num_experts_per_tok) * expert + shared;
      mlp_all = router + static_cast<double>(m.num_experts) * expert + shared;
    }
    active += attention + mlp_active;
    all += attention + mlp_all;
    LayerAttentionCost cost;
    cost.flops_per_key = attention_flops_per_key(*c);
    cost.kv_bytes_per_key = static_cast<double>(info.kv_bytes_per_token) / static_cast<double>(c->num_layers);
    if (c->layer_types[static_cast<size_t>(layer)] == LayerAttention::kSliding && c->sliding_window) {
      cost.window = static_cast<size_t>(*c->sliding_window);
    }
    costs.layers.push_back(cost);
  }
  costs.linear_flops_per_token = 2 * active;
  costs.lm_head_flops = 2 * vocab * hidden;
  costs.active_parameters = active + vocab * hidden;
  costs.parameters = all + vocab * hidden * (c->tie_word_embeddings ? 1 : 2);
  costs.weight_bytes_per_step = static_cast<double>(info.weight_bytes);
  return costs;
}

}  // namespace ferrum::bench
