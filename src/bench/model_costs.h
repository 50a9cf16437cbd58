// What one token costs a decoder in arithmetic and memory traffic, from its shapes: the figures
// behind every "% of bound" that `ferrum bench` prints.
//
// FLOPs count multiply-adds as two. A token passing through a linear layer of P weights costs
// 2P; MoE layers count the router, the top-k experts and the shared experts (what a token
// actually runs). Attention for a query at position t over t + 1 keys costs 4 * heads * head_dim
// * (t + 1) (QK^T and PV), limited to the window on sliding-window layers. Prefill computes logits
// for the last token only, so the lm_head counts once per prefill, not once per token.
//
// Bytes: decode reads every weight it uses once per step (CausalLmInfo::weight_bytes, which the
// model counts from its actual buffers) plus the whole KV cache so far on each layer (window-
// limited on sliding layers). A batched step reads the weights once for all sequences.
#pragma once

#include <cstddef>
#include <vector>

#include "core/error.h"
#include "formats/model_config.h"
#include "models/causal_lm.h"

namespace ferrum::bench {

struct LayerAttentionCost {
  double flops_per_key = 0;     // per query token per attended key (QK^T + PV, all heads)
  double kv_bytes_per_key = 0;  // cache bytes read per attended key
  size_t window = 0;            // 0: attends to every earlier token
};

struct ModelCosts {
  double linear_flops_per_token = 0;  // every layer's projections (MoE: active experts), lm_head excluded
  double lm_head_flops = 0;           // one token's logits
  double parameters = 0;              // every weight (all experts, embeddings, lm_head)
  double active_parameters = 0;       // what one token runs through (embedding row excluded)
  double weight_bytes_per_step = 0;   // weights one decode step reads
  std::vector<LayerAttentionCost> layers;

  // Attention FLOPs of one query token that attends to `keys` keys (window-limited per layer).
  double attention_flops(size_t keys) const;
  // KV cache bytes one decode step reads when the sequence holds `keys` tokens.
  double kv_bytes_read(size_t keys) const;

  // Prefill of `tokens` tokens after `start` cached ones, logits for the last token only.
  double prefill_flops(size_t tokens, size_t start = 0) const;
  // One decode step of a sequence that holds `keys` tokens including the new one.
  double decode_flops(size_t keys) const;
  // Bytes one decode step of `batch` sequences of `keys` tokens each reads.
  double decode_bytes(size_t keys, size_t batch = 1) const;
};

// Costs of a decoder (Llama family, Qwen3-MoE, DeepSeek V3); `info` supplies the bytes the loaded
// model really holds (weights per step, KV per token).
Expected<ModelCosts> model_costs(const ModelConfig& config, const CausalLmInfo& info);

}  // namespace ferrum::bench
