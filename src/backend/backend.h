// The Backend contract: one static interface over CPU and CUDA, after ../shared/seed/backend_traits.rs.txt.
//
// A backend is a type B with only static members (the Rust trait's associated functions):
//   B::Buffer     an opaque, move-only buffer of `numel()` elements of one `dtype()`, on the device
//   B::Context    where work accumulates: CPU runs each op immediately, CUDA enqueues on a stream
//   B::GptqStore  GPTQ weights repacked once at load into what B::gemm_gptq wants
//   B::kActivationDType  the dtype models keep activations and KV caches in (CPU f32, CUDA bf16)
// and the operations below. Models are templates over B (`template <Backend B> class Llama`), so
// the backend is chosen once at the top and no op goes through a virtual call.
//
// Every op returns Status. Shapes are checked on the host before any work is issued, in release
// builds too: a mismatch returns kShapeMismatch naming the op, the buffer, and the expected and
// actual sizes; an unsupported dtype returns kUnsupported. Buffers may be larger than an op needs
// (pre-allocated scratch), never smaller. Activations are F32 on the CPU; backends document which
// dtypes each op accepts.
//
// Layouts are row-major, outermost first. Notation: [tokens, dim] means `tokens` rows of `dim`.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "backend/backend_types.h"
#include "core/error.h"

namespace ferrum {

template <class B>
concept Backend = requires {
  typename B::Buffer;
  typename B::Context;
  typename B::GptqStore;
}
&&std::movable<typename B::Buffer>&& requires(
    typename B::Context& ctx, const typename B::Context& cctx, const typename B::Buffer& in, typename B::Buffer& out,
    std::span<const float> floats, std::span<const uint8_t> bytes, std::span<uint8_t> host_bytes,
    std::span<const uint32_t> ids, std::span<const int32_t> ints, std::optional<std::span<const int32_t>> g_idx,
    const typename B::GptqStore& gptq, const QuantWeights<typename B::Buffer>& quant_weights, const QuantKind& kind,
    const AttnConfig& attn, const PagedAttnBatch<typename B::Buffer>& paged, size_t n, float x, int mode, bool flag,
    uint32_t u32, DType dtype, ReduceOp reduce, Activation act) {
  // ── Buffer management (context-free) ──
  { in.dtype() } -> std::same_as<DType>;
  { in.numel() } -> std::convertible_to<size_t>;
  // Zero-initialised buffer of n elements.
  { B::alloc(n, dtype) } -> std::same_as<Expected<typename B::Buffer>>;
  // Buffer holding `floats` converted to dtype (a plain float type or i32).
  { B::from_slice(floats, dtype) } -> std::same_as<Expected<typename B::Buffer>>;
  // Buffer of n elements of dtype from their raw bytes (how quantized and bf16 weights upload).
  { B::from_bytes(bytes, dtype, n) } -> std::same_as<Expected<typename B::Buffer>>;
  // The first n elements converted to float (quantized buffers are dequantized).
  { B::to_vec(in, n) } -> std::same_as<Expected<std::vector<float>>>;
  // Raw bytes of the buffer's start, host_bytes.size() of them.
  { B::to_host(in, host_bytes) } -> std::same_as<Status>;

  // ── Context ──
  { B::new_context() } -> std::same_as<typename B::Context>;
  // A second context beside `cctx`: same device and rank group (its collectives reach the same
  // ranks), its own queue of work (CUDA: stream, scratch, graph). The caller orders the two, since
  // every rank must meet the collectives in one order. Args: (parent)
  { B::new_peer_context(cctx) } -> std::same_as<typename B::Context>;
  // Flushes accumulated work and waits for it.
  { B::sync(ctx) } -> std::same_as<Status>;

  // ── Graph capture / replay (CUDA; others inherit "unsupported" defaults) ──
  // Per decode step: set_decode_state, then replay_last_graph; when it returns false, run eager,
  // inside set_dev_state_mode(true) + begin/end_graph_capture when in the capture window.
  { B::set_decode_state(ctx, u32, u32) } -> std::same_as<void>;
  { B::set_dev_state_mode(ctx, flag) } -> std::same_as<void>;
  { B::begin_graph_capture(ctx) } -> std::same_as<Status>;
  { B::end_graph_capture(ctx) } -> std::same_as<Status>;
  { B::replay_last_graph(ctx) } -> std::same_as<Expected<bool>>;
  // Drops the captured graph: required before freeing the KV cache it points into.
  { B::reset_graph(ctx) } -> std::same_as<void>;

  // ── GPTQ ── load once per weight (host inputs, unpacked per backend), multiply per forward.
  // load_gptq(qweight [k*bits/32, n], scales [groups, n], qzeros [groups, n*bits/32], g_idx [k],
  //           bits, group_size, k, n); out[m, n] = a[m, k] @ dequant(weight)
  { B::load_gptq(ints, floats, ints, g_idx, u32, n, n, n) } -> std::same_as<Expected<typename B::GptqStore>>;
  { B::gemm_gptq(ctx, in, gptq, out, n) } -> std::same_as<Status>;

  // ── Dense GEMM ── out[m, n] = a[m, k] @ b[n, k]^T  (b is a Linear weight, [out_features, in_features])
  { B::gemm(ctx, in, in, out, n, n, n) } -> std::same_as<Status>;
  // Same with a packed quantized b; m, n, k describe the dense equivalent.
  { B::gemm_quant(ctx, in, quant_weights, out, n, n, n, kind) } -> std::same_as<Status>;
  // `batch` independent dense GEMMs in one call: out[i] = a[i] @ b[i]^T with a [batch, m, k],
  // b [batch, n, k] (dense float, as gemm takes) and out [batch, m, n], each contiguous.
  // Per-head projections (a different small matrix for every attention head) are one such call.
  // Args: (a, b, out, batch, m, n, k)
  { B::gemm_batched(ctx, in, in, out, n, n, n, n) } -> std::same_as<Status>;

  // ── Norms ──
  // out[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * w
  { B::rms_norm(ctx, in, in, x, out, n, n) } -> std::same_as<Status>;
  // residual += x; out = rms_norm(residual, w, eps)
  { B::fused_add_rms_norm(ctx, out, in, in, x, out, n, n) } -> std::same_as<Status>;
  // out[t, c] = (x[t, c] - mean) / sqrt(var + eps) * gamma[c] + beta[c]  (biased variance)
  { B::layer_norm(ctx, in, in, in, x, out, n, n) } -> std::same_as<Status>;

  // ── Attention ── (q, k, v, out, batch, q_len, kv_len, pos_offset, cfg); layouts in AttnConfig.
  { B::flash_attention(ctx, in, in, in, out, n, n, n, n, attn) } -> std::same_as<Status>;
  // Multi-head latent attention (DeepSeek V2/V3) in the weight-absorbed form:
  //   q             [batch, num_heads, q_len, kv_lora_rank + qk_rope_head_dim]   (cfg.head_dim = that sum)
  //   kv_compressed [batch, stride, kv_lora_rank]       (the normalised latent c_kv, shared by all heads)
  //   kv_rope       [batch, stride, qk_rope_head_dim]   (the RoPE'd shared key part)
  //   out           [batch, num_heads, q_len, kv_lora_rank]
  // score(i, j) = scale * (q_latent[i] . c_kv[j] + q_rope[i] . k_rope[j]); out = softmax(score) @ c_kv.
  // Causality, sliding window, kv_seq_stride and pos_offset act as in flash_attention.
  // Args: (q, kv_compressed, kv_rope, out, batch, q_len, kv_len, pos_offset, cfg, kv_lora_rank, qk_rope_head_dim)
  { B::mla_attention(ctx, in, in, in, out, n, n, n, n, attn, n, n) } -> std::same_as<Status>;

  // ── Paged KV cache (the serving engine's block pools; layouts in PagedAttnBatch) ──
  // New rows into their slots: rows [heads, tokens, width] (head-major as qk_norm_rope writes it;
  // heads = 1 for MLA's shared latent) into pool [num_blocks, heads, block_size, width]. Token t
  // goes to block slot_mapping[t] / block_size, row slot_mapping[t] % block_size, converted to the
  // pool's dtype (an f8_e4m3 pool scales each row: backend_types.h's paged_pool_numel); a negative
  // slot skips the token. slot_mapping: i32 [tokens] on the device.
  // Args: (pool, rows, slot_mapping, tokens, heads, width, block_size)
  { B::paged_cache_write(ctx, out, in, in, n, n, n, n) } -> std::same_as<Status>;
  // Attention of a mixed batch (prefill chunks and decode tokens of many sequences) over paged K / V:
  //   q [num_heads, num_tokens, head_dim], k / v pools [num_blocks, num_kv_heads, block_size, head_dim],
  //   out [num_heads, num_tokens, head_dim].
  // Query row i of sequence s, at position p = context_lens[s] - q_len_s + i, attends to the key
  // positions j < context_lens[s] that flash_attention's mask allows (causal: j <= p; the sliding
  // window: j >= p - w + 1); GQA and scale as there. cfg.kv_seq_stride is not used. A row with no
  // visible key is written as zeros. Pools of f8_e4m3 are read as value x their row's scale.
  // Args: (q, k_pool, v_pool, out, batch, cfg)
  { B::paged_attention(ctx, in, in, in, out, paged, attn) } -> std::same_as<Status>;
  // mla_attention over paged latents: q [num_heads, num_tokens, kv_lora_rank + qk_rope_head_dim],
  // latent pool [num_blocks, block_size, kv_lora_rank], rope pool [num_blocks, block_size,
  // qk_rope_head_dim], out [num_heads, num_tokens, kv_lora_rank]; positions and masks as paged_attention.
  // Args: (q, latent_pool, rope_pool, out, batch, cfg, kv_lora_rank, qk_rope_head_dim)
  { B::paged_mla_attention(ctx, in, in, in, out, paged, attn, n, n) } -> std::same_as<Status>;
  // embedding_lookup with the ids in device memory: out[i, :] = table[ids[i], :] for i < count, ids
  // i32 [count] below the table's rows (tables and outputs as embedding_lookup takes them). A
  // captured graph reads new ids from the same buffer on every replay. Backends that read the ids
  // on the host check them; a device backend writes zeros for an id outside the table.
  // Args: (table, ids, count, out, dim)
  { B::gather_rows(ctx, in, in, n, out, n) } -> std::same_as<Status>;
  // The vocabulary-parallel forms of embedding_lookup and gather_rows: the table holds one rank's
  // slice of the vocabulary, the rows of ids [first_id, first_id + table rows). out[i, :] =
  // table[ids[i] - first_id, :] for an id inside the slice and zeros for one outside it (another
  // rank's row, which the all_reduce that follows adds in). embedding_lookup_slice follows the
  // decode state as embedding_lookup does (set_dev_state_mode), so a decode graph can capture it.
  // Args: (table, ids, first_id, out, dim) and (table, ids, count, first_id, out, dim)
  { B::embedding_lookup_slice(ctx, in, ids, n, out, n) } -> std::same_as<Status>;
  { B::gather_rows_slice(ctx, in, in, n, n, out, n) } -> std::same_as<Status>;
  // Host bytes into an existing buffer: elements dst_offset.. of dst (a plain dtype) become `bytes`
  // (a whole number of elements), in order with the context's other work; `bytes` may be reused as
  // soon as the call returns. Per-step metadata goes into fixed buffers this way, so a captured
  // graph reads each step's values from the same addresses. Args: (bytes, dst, dst_offset)
  { B::copy_from_host(ctx, bytes, out, n) } -> std::same_as<Status>;

  // ── Layout and element-wise ──
  // dst[dst_offset + i] = src[src_offset + i] for i < len (same dtype).
  { B::copy_slice(ctx, in, n, out, n, n) } -> std::same_as<Status>;
  // 2-D copy: rows x cols block from src (row stride src_stride, from src_offset) into dst (dst_stride,
  // dst_offset). Args: (src, src_offset, src_stride, dst, dst_offset, dst_stride, rows, cols).
  { B::copy_2d(ctx, in, n, n, out, n, n, n, n) } -> std::same_as<Status>;
  // Patches of a 1-D signal, so a convolution becomes one gemm with its weight viewed as
  // [out_channels, channels * kernel] (PyTorch's Conv1d layout):
  //   x [channels, length] -> out [out_length, channels * kernel],
  //   out_length = (length + 2 padding - kernel) / stride + 1,
  //   out[t, c * kernel + k] = x[c, t * stride + k - padding], or 0 where that index is outside [0, length).
  // Args: (x, out, channels, length, kernel, stride, padding)
  { B::im2col_1d(ctx, in, out, n, n, n, n, n) } -> std::same_as<Status>;
  // The same over a 2-D image with a square kernel (weight [out_channels, channels, kernel, kernel]):
  //   x [channels, height, width] -> out [out_h * out_w, channels * kernel * kernel],
  //   out_h = (height + 2 padding - kernel) / stride + 1 (out_w likewise),
  //   out[oy * out_w + ox, (c * kernel + ky) * kernel + kx]
  //     = x[c, oy * stride + ky - padding, ox * stride + kx - padding], or 0 outside the image.
  // Args: (x, out, channels, height, width, kernel, stride, padding)
  { B::im2col_2d(ctx, in, out, n, n, n, n, n, n) } -> std::same_as<Status>;
  // out[i, :] = table[ids[i], :]; ids >= rows of table are an error. Also the row gather of
  // activations (table = an activation buffer).
  { B::embedding_lookup(ctx, in, ids, out, n) } -> std::same_as<Status>;
  // The inverse of that gather, weighted: out[ids[i], :] += weights[i] * src[i, :] for i < ids.size(),
  // with src [ids.size(), cols]. ids must be distinct (so rows can be updated in parallel) and below
  // out.numel() / cols; rows of out not named keep their values. ids and weights come from the host.
  // Args: (src, ids, weights, out, cols)
  { B::scatter_add_rows(ctx, in, ids, floats, out, n) } -> std::same_as<Status>;
  // qkv [tokens, q_dim + 2 kv_dim] -> q [tokens, q_dim], k, v [tokens, kv_dim]
  { B::split_qkv(ctx, in, out, out, out, n, n, n) } -> std::same_as<Status>;
  // gate_up [tokens, 2 im] (gate first) -> out [tokens, im] = silu(gate) * up
  { B::fused_silu_mul_split(ctx, in, out, n, n) } -> std::same_as<Status>;
  // Same with any activation (GeGLU with tanh-GELU for Gemma).
  { B::fused_act_mul_split(ctx, in, out, n, n, act) } -> std::same_as<Status>;
  // input [tokens, heads, head_dim] -> output [heads, tokens, head_dim]; mode per QkNormRopeMode.
  // cos / sin: [positions, head_dim / 2]; token i uses row pos_offset + i. RoPE pairs x[d] with
  // x[d + head_dim/2] (the "rotate half" convention of HF transformers). norm_w [head_dim] for mode 1.
  // Args: (input, norm_w, cos, sin, output, tokens, heads, head_dim, pos_offset, eps, mode)
  { B::qk_norm_rope(ctx, in, in, in, in, out, n, n, n, n, x, mode) } -> std::same_as<Status>;
  // Writes new_k/new_v [nkv, new_tokens, hd] into rows cache_len.. of cache_k/cache_v [nkv, capacity, hd].
  // Args: (cache_k, cache_v, cache_len, cache_capacity, new_k, new_v, new_tokens, nkv, hd)
  { B::kv_cache_append_head_major(ctx, out, out, n, n, in, in, n, n, n) } -> std::same_as<Status>;
  // [heads, tokens, dim] -> [tokens, heads, dim]
  { B::transpose_head_to_token(ctx, in, out, n, n, n) } -> std::same_as<Status>;
  // residual[i] += x[i]
  { B::add_inplace(ctx, out, in, n) } -> std::same_as<Status>;
  // data[r, c] += bias[c]
  { B::add_bias(ctx, out, in, n, n) } -> std::same_as<Status>;
  // out[i] = gelu_erf(x[i])
  { B::gelu(ctx, in, out, n) } -> std::same_as<Status>;
  // out[i] = act(x[i])
  { B::activation(ctx, in, out, n, act) } -> std::same_as<Status>;
  // data[i] *= factor
  { B::scale(ctx, out, n, x) } -> std::same_as<Status>;
  // data[i] = cap * tanh(data[i] / cap)  (logit soft-capping)
  { B::softcap(ctx, out, n, x) } -> std::same_as<Status>;
  // out[r, :] = softmax(x[r, :])
  { B::softmax_rows(ctx, in, out, n, n) } -> std::same_as<Status>;
  // ids[r] (i32) = argmax of x[r, :], lowest index on ties
  { B::argmax_rows(ctx, in, out, n, n) } -> std::same_as<Status>;
  // values[r, :k] (f32) and ids[r, :k] (i32) of the k largest of x[r, :], descending, lowest index on ties.
  // Args: (x, values, ids, rows, cols, k)
  { B::topk_rows(ctx, in, out, out, n, n, n) } -> std::same_as<Status>;
  // ids[r] (i32) = one token drawn from x[r, :] (f32 logits) with the row's RowSampling, the
  // params buffer holding [rows, kRowSamplingFields] f32. temperature 0 picks as argmax_rows does.
  // Otherwise, over the row's finite logits (NaN and -inf are never drawn; a row with none picks as
  // argmax_rows): p = softmax(x / temperature); keep the top_k largest logits (lowest index first
  // among equals); of those keep the shortest largest-first prefix whose mass reaches top_p; drop
  // tokens whose p is below min_p x the largest p; then walk the kept tokens in index order and
  // return the first whose running mass exceeds uniform x the kept mass (the last kept one if
  // rounding leaves none). Parameters out of range or NaN: temperature not > 0 is greedy; top_k
  // below 1 and top_p not below 1 are off; a uniform not above 0 draws at 0, one at or above 1
  // takes the last kept token; min_p above 1 or NaN keeps nothing, which picks as argmax_rows.
  // Args: (x, params, ids, rows, cols)
  { B::sample_rows(ctx, in, in, out, n, n) } -> std::same_as<Status>;

  // Sparse changes to f32 logits x [rows, cols], in place (penalties and logit bias). `adjustments`
  // (i32) holds a header of kLogitAdjustmentWords words, the first of them the entry count, then
  // LogitAdjustment entries. The count is read where the op runs (device memory), so a captured
  // graph replays with whatever count was uploaded since. Entries past the buffer's capacity, and
  // those whose row or token falls outside x, are skipped. A (row, token) named twice is changed by
  // one of its entries, unspecified which.
  // Args: (x, adjustments, rows, cols)
  { B::adjust_logits(ctx, out, in, n, n) } -> std::same_as<Status>;
  // out[r, j] (f32) = x[r, ids[r, j]] - log(sum over c of exp(x[r, c])): the log-probability of
  // each id (i32 [rows, k]) under softmax(x[r, :]) of f32 logits. NaN for an id outside [0, cols);
  // -inf for every id of a row whose values are all -inf. Rows holding +inf or NaN give non-finite
  // results. Args: (x, ids, out, rows, cols, k)
  { B::log_softmax_at(ctx, in, in, out, n, n, n) } -> std::same_as<Status>;

  // ── Tensor-parallel collectives (single-rank defaults: identity) ──
  { B::world_size(cctx) } -> std::same_as<size_t>;
  { B::rank(cctx) } -> std::same_as<size_t>;
  { B::all_reduce(ctx, out, n, reduce) } -> std::same_as<Status>;
  // global = concat over ranks of local (local_len elements each), in rank order.
  { B::all_gather(ctx, in, out, n) } -> std::same_as<Status>;
  { B::broadcast(ctx, out, n, n) } -> std::same_as<Status>;
};

// Defaults for the optional parts of the contract, inherited by backends (CRTP-free: the
// members are templates so they bind to each backend's own Context and Buffer lazily).
struct BackendDefaults {
  template <class Context>
  static void set_decode_state(Context&, uint32_t /*token*/, uint32_t /*step*/) {}
  template <class Context>
  static void set_dev_state_mode(Context&, bool /*enable*/) {}
  template <class Context>
  static Status begin_graph_capture(Context&) {
    return make_error(ErrorCode::kUnsupported, "graph capture is not supported by this backend");
  }
  template <class Context>
  static Status end_graph_capture(Context&) {
    return make_error(ErrorCode::kUnsupported, "graph capture is not supported by this backend");
  }
  template <class Context>
  static Expected<bool> replay_last_graph(Context&) {
    return false;
  }
  template <class Context>
  static void reset_graph(Context&) {}

  // Ops added to the contract after a backend was written answer "unsupported" there until it
  // implements them (the CPU backend has both).
  template <class Context, class Buffer>
  static Status gemm_batched(Context&, const Buffer&, const Buffer&, Buffer&, size_t, size_t, size_t, size_t) {
    return make_error(ErrorCode::kUnsupported, "gemm_batched is not implemented by this backend");
  }
  template <class Context, class Buffer>
  static Status scatter_add_rows(Context&, const Buffer&, std::span<const uint32_t>, std::span<const float>, Buffer&,
                                 size_t) {
    return make_error(ErrorCode::kUnsupported, "scatter_add_rows is not implemented by this backend");
  }
  // The paged-cache ops serve the batching engine; a backend without them still runs one
  // sequence at a time through flash_attention / mla_attention.
  template <class Context, class Buffer>
  static Status paged_cache_write(Context&, Buffer&, const Buffer&, const Buffer&, size_t, size_t, size_t, size_t) {
    return make_error(ErrorCode::kUnsupported, "paged_cache_write is not implemented by this backend");
  }
  template <class Context, class Buffer>
  static Status paged_attention(Context&, const Buffer&, const Buffer&, const Buffer&, Buffer&,
                                const PagedAttnBatch<Buffer>&, const AttnConfig&) {
    return make_error(ErrorCode::kUnsupported, "paged_attention is not implemented by this backend");
  }
  template <class Context, class Buffer>
  static Status paged_mla_attention(Context&, const Buffer&, const Buffer&, const Buffer&, Buffer&,
                                    const PagedAttnBatch<Buffer>&, const AttnConfig&, size_t, size_t) {
    return make_error(ErrorCode::kUnsupported, "paged_mla_attention is not implemented by this backend");
  }
  template <class Context, class Buffer>
  static Status gather_rows(Context&, const Buffer&, const Buffer&, size_t, Buffer&, size_t) {
    return make_error(ErrorCode::kUnsupported, "gather_rows is not implemented by this backend");
  }
  template <class Context, class Buffer>
  static Status embedding_lookup_slice(Context&, const Buffer&, std::span<const uint32_t>, size_t, Buffer&, size_t) {
    return make_error(ErrorCode::kUnsupported, "embedding_lookup_slice is not implemented by this backend");
  }
  template <class Context, class Buffer>
  static Status gather_rows_slice(Context&, const Buffer&, const Buffer&, size_t, size_t, Buffer&, size_t) {
    return make_error(ErrorCode::kUnsupported, "gather_rows_slice is not implemented by this backend");
  }
  template <class Context, class Buffer>
  static Status copy_from_host(Context&, std::span<const uint8_t>, Buffer&, size_t) {
    return make_error(ErrorCode::kUnsupported, "copy_from_host is not implemented by this backend");
  }
  // Convolution patches are needed by Whisper and CLIP only: a backend that serves decoders alone
  // may leave them out, and those models then fail with this error instead of the build.
  template <class Context, class Buffer>
  static Status im2col_1d(Context&, const Buffer&, Buffer&, size_t, size_t, size_t, size_t, size_t) {
    return make_error(ErrorCode::kUnsupported, "im2col_1d is not implemented by this backend");
  }
  template <class Context, class Buffer>
  static Status im2col_2d(Context&, const Buffer&, Buffer&, size_t, size_t, size_t, size_t, size_t, size_t) {
    return make_error(ErrorCode::kUnsupported, "im2col_2d is not implemented by this backend");
  }

  // out[r] (i32) = the argmax of row r of a matrix whose columns are split over `ranks` slices of
  // `cols` (a vocabulary-parallel lm_head's logits), from each slice's topk_rows(k = 1) pick as
  // all_gather leaves them: values [ranks, rows] (f32) and ids [ranks, rows] (i32, within the
  // slice). The picks rank as topk_rows ranks values (the largest, NaN below every number, the
  // lowest column on ties), so out[r] = rank * cols + id of the best is argmax_rows over the whole
  // row. A backend that has it says so with kGatheredArgmax.
  static constexpr bool kGatheredArgmax = false;
  template <class Context, class Buffer>
  static Status argmax_gathered(Context&, const Buffer&, const Buffer&, Buffer&, size_t, size_t, size_t) {
    return make_error(ErrorCode::kUnsupported, "argmax_gathered is not implemented by this backend");
  }

  template <class Context>
  static size_t world_size(const Context&) {
    return 1;
  }
  template <class Context>
  static size_t rank(const Context&) {
    return 0;
  }
  template <class Context, class Buffer>
  static Status all_reduce(Context&, Buffer&, size_t /*len*/, ReduceOp) {
    return ok();
  }
  // With one rank, global is a copy of local.
  template <class Context, class Buffer>
  static Status broadcast(Context&, Buffer&, size_t /*len*/, size_t src_rank) {
    FERRUM_CHECK(src_rank == 0, ErrorCode::kInvalidArgument, "broadcast: src_rank ", src_rank, " with world_size 1");
    return ok();
  }
};

}  // namespace ferrum
