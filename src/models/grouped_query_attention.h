// Self-attention with grouped-query heads (multi-head when num_kv_heads == num_heads), the
// attention of the Llama family and Qwen3-MoE: fused q / k / v projection (optional biases),
// optional per-head RMSNorm on q and k (QK-norm), rotate-half RoPE, a head-major KV cache, causal
// flash attention with an optional sliding window, and the output projection.
//
// Tensor parallel: heads split over ranks (tensor_parallel.h's HeadSplit). q / k / v are
// column-parallel (each rank projects only its heads, and caches only its KV heads), the output
// projection is row-parallel, and all_reduce sums the ranks' partial outputs.
#pragma once

#include <array>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

#include "models/forward_batch.h"
#include "models/fused_projection.h"
#include "models/tensor_parallel.h"
#include "models/tracer.h"
#include "models/weight_loader.h"

namespace ferrum {

struct GqaParams {
  size_t hidden_size = 0;
  size_t num_heads = 0;
  size_t num_kv_heads = 0;
  size_t head_dim = 0;
  bool qkv_bias = false;
  bool qk_norm = false;
  float norm_weight_offset = 0.0f;  // added to stored QK-norm weights (Gemma stores w - 1)
  float rms_norm_eps = 1e-6f;
  float scale = 1.0f;  // multiplies q.k before the softmax
  TensorParallel tp;   // this rank's share of the heads
  // Whether forward sums the ranks' partial outputs (all_reduce) or leaves that to the caller,
  // which fuses it with what follows (all_reduce_add_rms_norm_rounding).
  bool sum_ranks_in_forward = true;

  // The whole model's projections.
  size_t q_dim() const { return num_heads * head_dim; }
  size_t kv_dim() const { return num_kv_heads * head_dim; }
  // This rank's heads (all of them with one rank); load checks that they split.
  size_t local_heads() const { return num_heads / tp.size; }
  size_t local_kv_heads() const { return num_kv_heads >= tp.size ? num_kv_heads / tp.size : 1; }
  size_t local_q_dim() const { return local_heads() * head_dim; }
  size_t local_kv_dim() const { return local_kv_heads() * head_dim; }
};

template <Backend B>
class GroupedQueryAttention {
 public:
  using Buffer = typename B::Buffer;
  using Context = typename B::Context;

  // Activations of one forward for up to max_tokens tokens, shared by every layer.
  struct Scratch {
    Buffer qkv, q, k, v, q_heads, k_heads, v_heads, attn_heads, attn, part;

    static Expected<Scratch> create(const GqaParams& params, size_t max_tokens) {
      Scratch s;
      const size_t t = max_tokens;
      const size_t q = params.local_q_dim();
      const size_t kv = params.local_kv_dim();
      for (auto [buffer, size] : std::initializer_list<std::pair<Buffer*, size_t>>{{&s.qkv, t * (q + 2 * kv)},
                                                                                   {&s.q, t * q},
                                                                                   {&s.k, t * kv},
                                                                                   {&s.v, t * kv},
                                                                                   {&s.q_heads, t * q},
                                                                                   {&s.k_heads, t * kv},
                                                                                   {&s.v_heads, t * kv},
                                                                                   {&s.attn_heads, t * q},
                                                                                   {&s.attn, t * q},
                                                                                   {&s.part, t * q}}) {
        FERRUM_ASSIGN_OR_RETURN(*buffer, B::alloc(size, B::kActivationDType));
      }
      return s;
    }
  };

  // `prefix` is the layer's attention module ("model.layers.0.self_attn.").
  size_t weight_bytes() const { return qkv_->weight_bytes() + o_->weight_bytes(); }

  static Expected<GroupedQueryAttention> load(const WeightLoader<B>& loader, const std::string& prefix,
                                              const GqaParams& params) {
    GroupedQueryAttention block;
    block.params_ = params;
    FERRUM_ASSIGN_OR_RETURN(HeadSplit heads,
                            HeadSplit::of(params.num_heads, params.num_kv_heads, params.tp, prefix + "attention"));
    const std::array<std::string, 3> names = {prefix + "q_proj", prefix + "k_proj", prefix + "v_proj"};
    const std::array<size_t, 3> rows = {params.q_dim(), params.kv_dim(), params.kv_dim()};
    const std::array<WeightSplit, 3> splits = {heads.q, heads.kv, heads.kv};
    FERRUM_ASSIGN_OR_RETURN(block.qkv_, FusedProjection<B>::load(loader, names, rows, params.hidden_size,
                                                                 params.qkv_bias, prefix + "qkv_proj", splits));
    FERRUM_ASSIGN_OR_RETURN(block.o_, loader.linear(prefix + "o_proj", params.hidden_size, params.q_dim(), false,
                                                    WeightSplit::columns(params.tp)));
    if (params.qk_norm) {
      FERRUM_ASSIGN_OR_RETURN(block.q_norm_,
                              loader.vector_f32(prefix + "q_norm.weight", params.head_dim, params.norm_weight_offset));
      FERRUM_ASSIGN_OR_RETURN(block.k_norm_,
                              loader.vector_f32(prefix + "k_norm.weight", params.head_dim, params.norm_weight_offset));
    }
    return block;
  }

  const GqaParams& params() const { return params_; }
  // Whether forward's q / k / v projection of `rows` rows reads x's rounding made ahead (rounded_rows.h).
  bool takes_rounded_rows(size_t rows) const { return qkv_->takes_rounded_rows(rows); }

  // out [tokens, hidden] = attention of x [tokens, hidden], whose tokens sit at positions
  // position.. and see the cache's rows before them. Appends their K / V to `cache` (the caller
  // advances cache.len). cos / sin: the RoPE table for this layer; window 0 = full attention.
  // `x_rounded`, when given, holds x's rounding for quantized q / k / v (rounded_rows.h).
  Status forward(Context& ctx, const Buffer& x, Buffer& out, size_t tokens, KvCache<Buffer>& cache, size_t position,
                 const Buffer& cos, const Buffer& sin, size_t window, Scratch& s, const Tracer& tracer, int layer,
                 const RoundedRows<B>* x_rounded = nullptr) const {
    const GqaParams& p = params_;
    AttnConfig config = attention_config(window);
    config.kv_seq_stride = cache.capacity;
    if constexpr (requires {
                    B::qkv_rope_attention(ctx, s.qkv, cos, cos, cos, sin, s.q_heads, cache.k, cache.v, s.attn_heads,
                                          tokens, position, p.rms_norm_eps, 0, config);
                  }) {
      // Backends with the fused op go from the projection to the attention output in one call
      // (for decode, one kernel); the debug dump wants the split intermediates, so it takes the
      // op-by-op path.
      if (!tracer.enabled()) {
        FERRUM_TRY(qkv_->forward(ctx, x, s.qkv, tokens, s.part, x_rounded));
        FERRUM_TRY(B::qkv_rope_attention(ctx, s.qkv, q_norm_or(cos), k_norm_or(cos), cos, sin, s.q_heads, cache.k,
                                         cache.v, s.attn_heads, tokens, position, p.rms_norm_eps, qk_mode(), config));
        return project_out(ctx, out, tokens, s, tracer, layer);
      }
    }
    FERRUM_TRY(project_qkv(ctx, x, x_rounded, tokens, cos, sin, position, s, tracer, layer));
    FERRUM_TRY(B::kv_cache_append_head_major(ctx, cache.k, cache.v, position, cache.capacity, s.k_heads, s.v_heads,
                                             tokens, p.local_kv_heads(), p.head_dim));
    FERRUM_TRY(B::flash_attention(ctx, s.q_heads, cache.k, cache.v, s.attn_heads, 1, tokens, position + tokens,
                                  position, config));
    return project_out(ctx, out, tokens, s, tracer, layer);
  }

  // The same for a batch of many sequences over the engine's paged cache: x holds the batch's
  // tokens (step.batch), each at its own position; cos_rows / sin_rows are the RoPE rows of those
  // positions, one per token ([tokens, head_dim / 2]). Writes their K / V into their slots of
  // `pools` and attends over each sequence's blocks.
  Status forward_paged(Context& ctx, const Buffer& x, Buffer& out, size_t tokens,
                       typename PagedKvCache<B>::Layer& pools, const PagedStep<B>& step, const Buffer& cos_rows,
                       const Buffer& sin_rows, size_t window, Scratch& s, const Tracer& tracer, int layer,
                       const RoundedRows<B>* x_rounded = nullptr) const {
    const GqaParams& p = params_;
    const size_t block_size = step.cache.block_size;
    const Buffer& slots = step.metadata.slot_mapping();
    const size_t kv_heads = p.local_kv_heads();
    bool written = false;
    if constexpr (requires {
                    B::paged_qkv_rope_write(ctx, s.qkv, cos_rows, cos_rows, cos_rows, sin_rows, s.q_heads, pools.k,
                                            pools.v, slots, tokens, kv_heads, kv_heads, kv_heads, block_size, 0.0f, 0);
                  }) {
      // Backends with the fused op write q, and K / V into their slots, in one kernel when the pools
      // hold the activations' dtype (not fp8) and the RoPE rows are f32; the debug dump wants the
      // split intermediates.
      if (!tracer.enabled() && pools.k.dtype() == s.qkv.dtype() && cos_rows.dtype() == DType::kF32) {
        FERRUM_TRY(qkv_->forward(ctx, x, s.qkv, tokens, s.part, x_rounded));
        FERRUM_TRY(B::paged_qkv_rope_write(ctx, s.qkv, q_norm_or(cos_rows), k_norm_or(cos_rows), cos_rows, sin_rows,
                                           s.q_heads, pools.k, pools.v, slots, tokens, p.local_heads(), kv_heads,
                                           p.head_dim, block_size, p.rms_norm_eps, qk_mode()));
        written = true;
      }
    }
    if (!written) {
      FERRUM_TRY(project_qkv(ctx, x, x_rounded, tokens, cos_rows, sin_rows, 0, s, tracer, layer));
      FERRUM_TRY(B::paged_cache_write(ctx, pools.k, s.k_heads, slots, tokens, kv_heads, p.head_dim, block_size));
      FERRUM_TRY(B::paged_cache_write(ctx, pools.v, s.v_heads, slots, tokens, kv_heads, p.head_dim, block_size));
    }
    // Backends with the token-major op write what o_proj reads ([tokens, heads, head_dim]) and
    // skip the transpose (a decode batch's attention kernel stores it that way directly).
    if constexpr (requires {
                    B::paged_attention_token_major(ctx, s.q_heads, pools.k, pools.v, s.attn, step.metadata.attention(),
                                                   attention_config(window));
                  }) {
      FERRUM_TRY(B::paged_attention_token_major(ctx, s.q_heads, pools.k, pools.v, s.attn, step.metadata.attention(),
                                                attention_config(window)));
      return project_out(ctx, out, tokens, s, tracer, layer, /*token_major=*/true);
    }
    FERRUM_TRY(B::paged_attention(ctx, s.q_heads, pools.k, pools.v, s.attn_heads, step.metadata.attention(),
                                  attention_config(window)));
    return project_out(ctx, out, tokens, s, tracer, layer);
  }

 private:
  // q / k / v of x into head-major s.q_heads, s.k_heads, s.v_heads, with QK-norm and RoPE (token i
  // uses row position + i of cos / sin).
  Status project_qkv(Context& ctx, const Buffer& x, const RoundedRows<B>* x_rounded, size_t tokens, const Buffer& cos,
                     const Buffer& sin, size_t position, Scratch& s, const Tracer& tracer, int layer) const {
    const GqaParams& p = params_;
    FERRUM_TRY(qkv_->forward(ctx, x, s.qkv, tokens, s.part, x_rounded));
    const size_t heads = p.local_heads();
    const size_t kv_heads = p.local_kv_heads();
    FERRUM_TRY(B::split_qkv(ctx, s.qkv, s.q, s.k, s.v, tokens, p.local_q_dim(), p.local_kv_dim()));
    tracer.template trace<B>(ctx, "Qcur", layer, s.q, tokens * p.local_q_dim());
    tracer.template trace<B>(ctx, "Kcur", layer, s.k, tokens * p.local_kv_dim());
    tracer.template trace<B>(ctx, "Vcur", layer, s.v, tokens * p.local_kv_dim());

    const int mode = qk_mode();
    const Buffer& q_norm = q_norm_or(cos);
    const Buffer& k_norm = k_norm_or(cos);
    FERRUM_TRY(B::qk_norm_rope(ctx, s.q, q_norm, cos, sin, s.q_heads, tokens, heads, p.head_dim, position,
                               p.rms_norm_eps, mode));
    FERRUM_TRY(B::qk_norm_rope(ctx, s.k, k_norm, cos, sin, s.k_heads, tokens, kv_heads, p.head_dim, position,
                               p.rms_norm_eps, mode));
    return B::qk_norm_rope(ctx, s.v, k_norm, cos, sin, s.v_heads, tokens, kv_heads, p.head_dim, position,
                           p.rms_norm_eps, kQkTransposeOnly);
  }

  int qk_mode() const { return params_.qk_norm ? kQkNormRope : kQkRope; }
  // The norm weights are read only with QK-norm; any buffer stands in otherwise.
  const Buffer& q_norm_or(const Buffer& stand_in) const { return q_norm_ ? *q_norm_ : stand_in; }
  const Buffer& k_norm_or(const Buffer& stand_in) const { return k_norm_ ? *k_norm_ : stand_in; }

  AttnConfig attention_config(size_t window) const {
    AttnConfig config;
    config.num_heads = params_.local_heads();
    config.num_kv_heads = params_.local_kv_heads();
    config.head_dim = params_.head_dim;
    config.causal = true;
    config.scale = params_.scale;
    config.sliding_window = window;
    return config;
  }

  // s.attn_heads [heads, tokens, head_dim] (or, `token_major`, s.attn [tokens, heads, head_dim]) ->
  // out [tokens, hidden] through o_proj.
  Status project_out(Context& ctx, Buffer& out, size_t tokens, Scratch& s, const Tracer& tracer, int layer,
                     bool token_major = false) const {
    const GqaParams& p = params_;
    // One token's [heads, 1, head_dim] is already the token-major [1, heads, head_dim].
    if (tokens > 1 && !token_major) {
      FERRUM_TRY(B::transpose_head_to_token(ctx, s.attn_heads, s.attn, tokens, p.local_heads(), p.head_dim));
    }
    const Buffer& attn = tokens > 1 || token_major ? s.attn : s.attn_heads;
    tracer.template trace<B>(ctx, "kqv_out", layer, attn, tokens * p.local_q_dim());
    FERRUM_TRY(o_->forward(ctx, attn, out, tokens));
    // Each rank's output projection covered only its heads: the sum over ranks is the whole output.
    if (p.sum_ranks_in_forward) FERRUM_TRY(B::all_reduce(ctx, out, tokens * p.hidden_size, ReduceOp::kSum));
    tracer.template trace<B>(ctx, "attn_out", layer, out, tokens * p.hidden_size);
    return ok();
  }

  GqaParams params_;
  std::optional<FusedProjection<B>> qkv_;
  std::optional<Linear<B>> o_;
  std::optional<Buffer> q_norm_;
  std::optional<Buffer> k_norm_;
};

}  // namespace ferrum
