// Multi-head latent attention (DeepSeek V2 / V3) in the weight-absorbed form.
//
// Per token, with H heads, latent rank r, and per head nope + rope query/key dims and v value dims:
//   queries   q = q_b(rms_norm(q_a(x)))  (or q_proj(x) without q_lora_rank), per head [q_nope | q_rope]
//   latent    kv_a_proj_with_mqa(x) = [c | k_rope];  c_kv = rms_norm(c) (kv_a_layernorm), r wide
//   per head  k_nope = W_UK c_kv and v = W_UV c_kv, where kv_b_proj stacks [W_UK (nope rows); W_UV
//             (v rows)] per head.
// Since q_nope . (W_UK c_kv) = (W_UK^T q_nope) . c_kv, each head's query is moved into latent
// space once (q_latent = W_UK^T q_nope, a batched GEMM over heads), attention runs against the
// cached c_kv and k_rope directly (Backend::mla_attention: score = q_latent . c_kv + q_rope . k_rope,
// output = softmax @ c_kv), and W_UV is applied to each head's latent output afterwards (again one
// batched GEMM). The cache therefore holds c_kv and k_rope only: r + rope values per token and
// layer instead of H x (nope + rope + v).
//
// RoPE: DeepSeek's checkpoints rotate adjacent pairs (2i, 2i + 1) of the rope dims (config
// rope_interleave); transformers gathers the even then the odd dims before a rotate-half RoPE. At
// load we reorder the rope rows of q_b_proj (q_proj) and kv_a_proj_with_mqa the same way, so the
// projections emit that order directly and the shared rotate-half qk_norm_rope applies. The
// reorder is a fixed permutation of output rows, so q . k and every output match transformers
// exactly, and GGUF blocks (whole rows) move as they are.
//
// Softmax scale: (nope + rope)^-0.5, times mscale^2 with mscale = yarn_mscale(factor,
// mscale_all_dim) under YaRN, as transformers does; the RoPE table itself carries YaRN's
// attention factor (from rope.h) on both q_rope and k_rope.
//
// Tensor parallel: split by heads. The query down-projection (q_a), the latent projection
// (kv_a_proj_with_mqa) and their norms are shared by all heads and stay whole on every rank, as
// does the latent cache; each rank keeps its heads' rows of q_b_proj and kv_b_proj and its heads'
// columns of o_proj, and all_reduce sums the ranks' partial outputs.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/forward_batch.h"
#include "models/latent_decoder_state.h"
#include "models/linear.h"
#include "models/tracer.h"
#include "models/weight_loader.h"

namespace ferrum {

struct MlaParams {
  size_t hidden_size = 0;
  size_t num_heads = 0;
  size_t q_lora_rank = 0;  // 0: queries come from q_proj directly
  size_t kv_lora_rank = 0;
  size_t qk_nope_head_dim = 0;
  size_t qk_rope_head_dim = 0;
  size_t v_head_dim = 0;
  bool rope_interleaved = true;  // stored weights rotate pairs (2i, 2i + 1) of the rope dims
  float rms_norm_eps = 1e-6f;
  float scale = 1.0f;
  TensorParallel tp;  // this rank's share of the heads

  size_t q_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  size_t local_heads() const { return num_heads / tp.size; }
};

// Row order that turns a stored block of `rope_dim` interleaved-pair rows starting at `first` into
// rotate-half order (even dims, then odd dims); rows outside the block keep their place.
inline void deinterleave_rope_rows(std::vector<size_t>& order, size_t first, size_t rope_dim) {
  const size_t half = rope_dim / 2;
  for (size_t i = 0; i < half; ++i) {
    order[first + i] = first + 2 * i;
    order[first + half + i] = first + 2 * i + 1;
  }
}

template <Backend B>
class LatentAttention {
 public:
  using Buffer = typename B::Buffer;
  using Context = typename B::Context;

  struct Scratch {
    Buffer q_compressed, q_compressed_norm, q, q_nope, q_nope_heads, q_latent, q_rope, q_rope_heads, q_absorbed;
    Buffer kv_a, latent_raw, latent, k_rope_raw, k_rope, out_latent, v_heads, attn;

    static Expected<Scratch> create(const MlaParams& p, size_t max_tokens) {
      Scratch s;
      const size_t t = max_tokens;
      const size_t h = p.local_heads();
      const size_t r = p.kv_lora_rank;
      const size_t rope = p.qk_rope_head_dim;
      const size_t q_lora = std::max<size_t>(p.q_lora_rank, 1);
      for (auto [buffer, size] :
           std::initializer_list<std::pair<Buffer*, size_t>>{{&s.q_compressed, t * q_lora},
                                                             {&s.q_compressed_norm, t * q_lora},
                                                             {&s.q, t * h * p.q_head_dim()},
                                                             {&s.q_nope, t * h * p.qk_nope_head_dim},
                                                             {&s.q_nope_heads, t * h * p.qk_nope_head_dim},
                                                             {&s.q_latent, t * h * r},
                                                             {&s.q_rope, t * h * rope},
                                                             {&s.q_rope_heads, t * h * rope},
                                                             {&s.q_absorbed, t * h * (r + rope)},
                                                             {&s.kv_a, t * (r + rope)},
                                                             {&s.latent_raw, t * r},
                                                             {&s.latent, t * r},
                                                             {&s.k_rope_raw, t * rope},
                                                             {&s.k_rope, t * rope},
                                                             {&s.out_latent, t * h * r},
                                                             {&s.v_heads, t * h * p.v_head_dim},
                                                             {&s.attn, t * h * p.v_head_dim}}) {
        FERRUM_ASSIGN_OR_RETURN(*buffer, B::alloc(size, B::kActivationDType));
      }
      return s;
    }
  };

  // `prefix` is the layer's attention module ("model.layers.0.self_attn.").
  static Expected<LatentAttention> load(const WeightLoader<B>& loader, const std::string& prefix, const MlaParams& p) {
    FERRUM_CHECK(p.qk_rope_head_dim % 2 == 0 && p.qk_nope_head_dim > 0 && p.kv_lora_rank > 0 && p.v_head_dim > 0,
                 ErrorCode::kInvalidArgument, prefix, ": latent attention with nope ", p.qk_nope_head_dim, ", rope ",
                 p.qk_rope_head_dim, " (even), kv_lora_rank ", p.kv_lora_rank, ", v ", p.v_head_dim);
    LatentAttention block;
    block.params_ = p;
    const size_t r = p.kv_lora_rank;
    const size_t rope = p.qk_rope_head_dim;
    FERRUM_ASSIGN_OR_RETURN(ShareRange heads,
                            even_share(p.num_heads, p.tp.rank, p.tp.size, prefix + "attention heads"));

    // Rows of the stored query projection in rotate-half order, then this rank's heads' share.
    const size_t stored_q_rows = p.num_heads * p.q_head_dim();
    std::vector<size_t> all_q_rows(stored_q_rows);
    std::iota(all_q_rows.begin(), all_q_rows.end(), size_t{0});
    if (p.rope_interleaved) {
      for (size_t head = 0; head < p.num_heads; ++head) {
        deinterleave_rope_rows(all_q_rows, head * p.q_head_dim() + p.qk_nope_head_dim, rope);
      }
    }
    const std::vector<size_t> q_rows(all_q_rows.begin() + static_cast<std::ptrdiff_t>(heads.begin * p.q_head_dim()),
                                     all_q_rows.begin() + static_cast<std::ptrdiff_t>(heads.end * p.q_head_dim()));
    if (p.q_lora_rank > 0) {
      FERRUM_ASSIGN_OR_RETURN(block.q_a_, loader.linear(prefix + "q_a_proj", p.q_lora_rank, p.hidden_size));
      FERRUM_ASSIGN_OR_RETURN(block.q_a_norm_, loader.vector_f32(prefix + "q_a_layernorm.weight", p.q_lora_rank));
      FERRUM_ASSIGN_OR_RETURN(block.q_b_, loader.linear_with_row_order(prefix + "q_b_proj", q_rows.size(),
                                                                       p.q_lora_rank, q_rows, stored_q_rows));
    } else {
      FERRUM_ASSIGN_OR_RETURN(block.q_b_, loader.linear_with_row_order(prefix + "q_proj", q_rows.size(), p.hidden_size,
                                                                       q_rows, stored_q_rows));
    }

    std::vector<size_t> kv_rows(r + rope);
    std::iota(kv_rows.begin(), kv_rows.end(), size_t{0});
    if (p.rope_interleaved) deinterleave_rope_rows(kv_rows, r, rope);
    FERRUM_ASSIGN_OR_RETURN(
        block.kv_a_, loader.linear_with_row_order(prefix + "kv_a_proj_with_mqa", r + rope, p.hidden_size, kv_rows));
    FERRUM_ASSIGN_OR_RETURN(block.kv_a_norm_, loader.vector_f32(prefix + "kv_a_layernorm.weight", r));
    FERRUM_TRY(block.load_absorbed_up_projections(loader, prefix + "kv_b_proj.weight", heads));
    FERRUM_ASSIGN_OR_RETURN(block.o_, loader.linear(prefix + "o_proj", p.hidden_size, p.num_heads * p.v_head_dim, false,
                                                    WeightSplit::columns(p.tp)));
    return block;
  }

  const MlaParams& params() const { return params_; }

  // out [tokens, hidden] = attention of x [tokens, hidden], whose tokens sit at positions
  // position.. and see the cache's rows before them; writes their latent and rope key into
  // `cache` rows position.. (the caller advances the state's length). cos / sin: the RoPE table
  // of qk_rope_head_dim.
  Status forward(Context& ctx, const Buffer& x, Buffer& out, size_t tokens, LatentKvCache<Buffer>& cache,
                 size_t position, const Buffer& cos, const Buffer& sin, Scratch& s, const Tracer& tracer,
                 int layer) const {
    const MlaParams& p = params_;
    const size_t t = tokens;
    const size_t r = p.kv_lora_rank;
    const size_t rope = p.qk_rope_head_dim;
    FERRUM_TRY(project(ctx, x, t, cos, sin, position, s, tracer, layer));
    FERRUM_TRY(B::copy_slice(ctx, s.latent, 0, cache.latent, position * r, t * r));
    FERRUM_TRY(B::copy_slice(ctx, s.k_rope, 0, cache.rope_key, position * rope, t * rope));
    AttnConfig config = attention_config();
    config.kv_seq_stride = cache.capacity;
    FERRUM_TRY(B::mla_attention(ctx, s.q_absorbed, cache.latent, cache.rope_key, s.out_latent, 1, t, position + t,
                                position, config, r, rope));
    return project_out(ctx, out, t, s, tracer, layer);
  }

  // The same for a batch of many sequences over the engine's paged cache (forward_batch.h):
  // `pools` holds this layer's latent pool (as K) and rope-key pool (as V); cos_rows / sin_rows
  // are the RoPE rows of the batch's positions, one per token.
  Status forward_paged(Context& ctx, const Buffer& x, Buffer& out, size_t tokens,
                       typename PagedKvCache<B>::Layer& pools, const PagedStep<B>& step, const Buffer& cos_rows,
                       const Buffer& sin_rows, Scratch& s, const Tracer& tracer, int layer) const {
    const MlaParams& p = params_;
    const size_t r = p.kv_lora_rank;
    const size_t rope = p.qk_rope_head_dim;
    const size_t block_size = step.cache.block_size;
    FERRUM_TRY(project(ctx, x, tokens, cos_rows, sin_rows, 0, s, tracer, layer));
    const Buffer& slots = step.metadata.slot_mapping();
    FERRUM_TRY(B::paged_cache_write(ctx, pools.k, s.latent, slots, tokens, 1, r, block_size));
    FERRUM_TRY(B::paged_cache_write(ctx, pools.v, s.k_rope, slots, tokens, 1, rope, block_size));
    FERRUM_TRY(B::paged_mla_attention(ctx, s.q_absorbed, pools.k, pools.v, s.out_latent, step.metadata.attention(),
                                      attention_config(), r, rope));
    return project_out(ctx, out, tokens, s, tracer, layer);
  }

  size_t weight_bytes() const {
    const auto bytes_of = [](const std::optional<Buffer>& buffer) {
      return buffer ? dtype_bytes(buffer->dtype(), buffer->numel()).value_or(0) : 0;
    };
    return (q_a_ ? q_a_->weight_bytes() : 0) + q_b_->weight_bytes() + kv_a_->weight_bytes() + o_->weight_bytes() +
           bytes_of(k_up_transposed_) + bytes_of(v_up_);
  }

 private:
  // Queries in latent space (s.q_absorbed [heads, tokens, r + rope]), the normalised latent
  // (s.latent [tokens, r]) and the RoPE'd shared key (s.k_rope [tokens, rope]) of x; token i uses
  // row position + i of cos / sin.
  Status project(Context& ctx, const Buffer& x, size_t t, const Buffer& cos, const Buffer& sin, size_t position,
                 Scratch& s, const Tracer& tracer, int layer) const {
    const MlaParams& p = params_;
    const size_t h = p.local_heads();
    const size_t r = p.kv_lora_rank;
    const size_t nope = p.qk_nope_head_dim;
    const size_t rope = p.qk_rope_head_dim;
    const size_t absorbed = r + rope;

    // Queries, per head [q_nope | q_rope].
    if (q_a_) {
      FERRUM_TRY(q_a_->forward(ctx, x, s.q_compressed, t));
      FERRUM_TRY(B::rms_norm(ctx, s.q_compressed, *q_a_norm_, p.rms_norm_eps, s.q_compressed_norm, t, p.q_lora_rank));
      FERRUM_TRY(q_b_->forward(ctx, s.q_compressed_norm, s.q, t));
    } else {
      FERRUM_TRY(q_b_->forward(ctx, x, s.q, t));
    }
    tracer.template trace<B>(ctx, "q", layer, s.q, t * h * p.q_head_dim());
    // q_nope [tokens, heads, nope] -> head-major -> latent space: q_latent[h] = q_nope[h] @ W_UK[h].
    FERRUM_TRY(B::copy_2d(ctx, s.q, 0, p.q_head_dim(), s.q_nope, 0, nope, t * h, nope));
    // [tokens, heads, nope] read as [heads', tokens', nope] with heads' = tokens, tokens' = heads.
    FERRUM_TRY(B::transpose_head_to_token(ctx, s.q_nope, s.q_nope_heads, h, t, nope));
    FERRUM_TRY(B::gemm_batched(ctx, s.q_nope_heads, *k_up_transposed_, s.q_latent, h, t, r, nope));
    FERRUM_TRY(B::copy_2d(ctx, s.q_latent, 0, r, s.q_absorbed, 0, absorbed, h * t, r));
    FERRUM_TRY(B::copy_2d(ctx, s.q, nope, p.q_head_dim(), s.q_rope, 0, rope, t * h, rope));
    FERRUM_TRY(
        B::qk_norm_rope(ctx, s.q_rope, cos, cos, sin, s.q_rope_heads, t, h, rope, position, p.rms_norm_eps, kQkRope));
    FERRUM_TRY(B::copy_2d(ctx, s.q_rope_heads, 0, rope, s.q_absorbed, r, absorbed, h * t, rope));

    // The latent and the shared rope key.
    FERRUM_TRY(kv_a_->forward(ctx, x, s.kv_a, t));
    FERRUM_TRY(B::copy_2d(ctx, s.kv_a, 0, absorbed, s.latent_raw, 0, r, t, r));
    FERRUM_TRY(B::rms_norm(ctx, s.latent_raw, *kv_a_norm_, p.rms_norm_eps, s.latent, t, r));
    FERRUM_TRY(B::copy_2d(ctx, s.kv_a, r, absorbed, s.k_rope_raw, 0, rope, t, rope));
    FERRUM_TRY(
        B::qk_norm_rope(ctx, s.k_rope_raw, cos, cos, sin, s.k_rope, t, 1, rope, position, p.rms_norm_eps, kQkRope));
    tracer.template trace<B>(ctx, "kv_latent", layer, s.latent, t * r);
    tracer.template trace<B>(ctx, "k_rope", layer, s.k_rope, t * rope);
    return ok();
  }

  AttnConfig attention_config() const {
    AttnConfig config;
    config.num_heads = params_.local_heads();
    config.num_kv_heads = 1;
    config.head_dim = params_.kv_lora_rank + params_.qk_rope_head_dim;
    config.causal = true;
    config.scale = params_.scale;
    return config;
  }

  // s.out_latent [heads, tokens, r] -> out [tokens, hidden]: back from latent space
  // (v[h] = out_latent[h] @ W_UV[h]^T), then [tokens, heads * v] through o_proj.
  Status project_out(Context& ctx, Buffer& out, size_t t, Scratch& s, const Tracer& tracer, int layer) const {
    const MlaParams& p = params_;
    const size_t h = p.local_heads();
    FERRUM_TRY(B::gemm_batched(ctx, s.out_latent, *v_up_, s.v_heads, h, t, p.v_head_dim, p.kv_lora_rank));
    FERRUM_TRY(B::transpose_head_to_token(ctx, s.v_heads, s.attn, t, h, p.v_head_dim));
    tracer.template trace<B>(ctx, "kqv_out", layer, s.attn, t * h * p.v_head_dim);
    FERRUM_TRY(o_->forward(ctx, s.attn, out, t));
    // Each rank's output projection covered only its heads: the sum over ranks is the whole output.
    FERRUM_TRY(B::all_reduce(ctx, out, t * p.hidden_size, ReduceOp::kSum));
    tracer.template trace<B>(ctx, "attn_out", layer, out, t * p.hidden_size);
    return ok();
  }

  // Splits kv_b_proj [heads * (nope + v), r] into per-head W_UK^T [heads, r, nope] and W_UV
  // [heads, v, r], the b operands of the two batched GEMMs, for this rank's `heads`.
  Status load_absorbed_up_projections(const WeightLoader<B>& loader, const std::string& name, ShareRange heads) {
    const MlaParams& p = params_;
    const size_t h = heads.size();
    const size_t r = p.kv_lora_rank;
    const size_t nope = p.qk_nope_head_dim;
    const size_t v = p.v_head_dim;
    const size_t head_rows = nope + v;
    FERRUM_ASSIGN_OR_RETURN(
        std::vector<float> kv_b,
        loader.host_f32(name, {static_cast<int64_t>(p.num_heads * head_rows), static_cast<int64_t>(r)}));
    std::vector<float> k_up_transposed(h * r * nope);
    std::vector<float> v_up(h * v * r);
    for (size_t head = 0; head < h; ++head) {
      const float* rows = kv_b.data() + (heads.begin + head) * head_rows * r;
      for (size_t n = 0; n < nope; ++n) {
        for (size_t c = 0; c < r; ++c) k_up_transposed[(head * r + c) * nope + n] = rows[n * r + c];
      }
      std::copy_n(rows + nope * r, v * r, v_up.begin() + static_cast<std::ptrdiff_t>(head * v * r));
    }
    // Rearranged values are the stored ones: a float checkpoint keeps its dtype, GGUF blocks widen.
    FERRUM_ASSIGN_OR_RETURN(DType stored, loader.stored_dtype(name));
    const DType dtype = stored == DType::kF16 || stored == DType::kBF16 ? stored : DType::kF32;
    FERRUM_ASSIGN_OR_RETURN(k_up_transposed_, loader.dense_from_f32(k_up_transposed, dtype));
    FERRUM_ASSIGN_OR_RETURN(v_up_, loader.dense_from_f32(v_up, dtype));
    return ok();
  }

  MlaParams params_;
  std::optional<Linear<B>> q_a_;
  std::optional<Buffer> q_a_norm_;
  std::optional<Linear<B>> q_b_;  // q_b_proj, or q_proj without q_lora_rank (rope rows reordered)
  std::optional<Linear<B>> kv_a_;
  std::optional<Buffer> kv_a_norm_;
  std::optional<Buffer> k_up_transposed_;
  std::optional<Buffer> v_up_;
  std::optional<Linear<B>> o_;
};

}  // namespace ferrum
