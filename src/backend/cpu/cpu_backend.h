// The CPU backend: every op of the Backend contract (backend/backend.h) on host memory, run to
// completion before it returns, spread over a ThreadPool and vectorised with cpu_simd.h.
//
// Dtypes accepted (everything else returns kUnsupported):
//   activations, outputs, q, residuals ......... f32
//   gemm weights b .............................. f32, f16, bf16 (read in place, converted in registers)
//   gemm_quant ................................. GPTQ (2/4/8 bit), AWQ (4 bit), GGUF Q4_0..Q8_0, Q2_K..Q6_K
//                                                (activations quantized to 8 bits: integer kernels)
//   norm weights, biases, embedding tables ...... f32, f16, bf16 (tables also any dequantizable type)
//   k / v, KV caches, MLA latents ............... f32, f16, bf16 (k and v alike)
//   RoPE cos / sin ............................. f32
//   argmax / topk ids .......................... i32
// Element-wise ops (add_inplace, activation, gelu, scale, ...) may be given out == x.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_buffer.h"
#include "backend/cpu/cpu_int8_gemm.h"
#include "core/thread_pool.h"
#include "dist/rank_group.h"
#include "quant/grouped_weight.h"

namespace ferrum {

// Where CPU ops run. The pool must outlive the context (set_default_thread_count replaces the
// default pool, so call it before creating contexts).
struct CpuContext {
  ThreadPool* pool = &default_thread_pool();
  // The tensor-parallel group this context's collectives run over; null for one rank.
  std::shared_ptr<dist::RankGroup> rank_group;
};

// GPTQ and AWQ weights decoded once at load into integer panels (cpu_int8_gemm.h): codes of up to
// 4 bits two to a byte (8-bit ones a byte each) with an exact f32 scale and offset per quantization
// group (per 32 input channels where a group does not fill whole runs of 32), multiplied by the
// integer kernels (act-order weights keep their channels sorted by group, and activations are
// gathered into that order).
struct CpuGptqStore {
  std::shared_ptr<const cpu::PanelMatrix> panels;
  quant::PanelOrder order;
  size_t n = 0;
  size_t k = 0;
};

struct CpuBackend : BackendDefaults {
  using Buffer = CpuBuffer;
  using Context = CpuContext;
  using GptqStore = CpuGptqStore;

  // Models keep activations (and KV caches) in this dtype on this backend.
  static constexpr DType kActivationDType = DType::kF32;

  // ── Buffer management ──
  static Expected<CpuBuffer> alloc(size_t n, DType dtype);
  // dtype: f32, f16, bf16 (rounded to nearest even) or i32 (values must be integers in range).
  static Expected<CpuBuffer> from_slice(std::span<const float> data, DType dtype);
  // bytes.size() must be exactly the storage size of n elements of dtype.
  static Expected<CpuBuffer> from_bytes(std::span<const uint8_t> bytes, DType dtype, size_t n);
  // Any plain dtype converts; block types dequantize (whole blocks are decoded, then truncated to n).
  static Expected<std::vector<float>> to_vec(const CpuBuffer& buffer, size_t n);
  static Status to_host(const CpuBuffer& buffer, std::span<uint8_t> host_bytes);
  // Uses host memory in place (a mapped weight file): no copy; `keep_alive` owns the memory.
  static Expected<CpuBuffer> borrow_host(const void* data, DType dtype, size_t n,
                                         std::shared_ptr<const void> keep_alive) {
    return CpuBuffer::borrow(data, dtype, n, std::move(keep_alive));
  }

  // ── Context ──
  static CpuContext new_context() { return CpuContext{}; }
  // Ops run as they come, so a peer is the same pool and rank group.
  static CpuContext new_peer_context(const CpuContext& parent) { return parent; }
  static Status sync(CpuContext&) { return ok(); }

  // ── GPTQ ──
  // g_idx may be absent (then row k belongs to group k / group_size); group_size 0 means one group.
  static Expected<CpuGptqStore> load_gptq(std::span<const int32_t> qweight, std::span<const float> scales,
                                          std::span<const int32_t> qzeros,
                                          std::optional<std::span<const int32_t>> g_idx, uint32_t bits,
                                          size_t group_size, size_t k, size_t n);
  // A 4-bit AWQ layer (qweight [k, n / 8] interleaved, scales [groups, n], qzeros [groups, n / 8]
  // interleaved, zero points as they are, 0 included) decoded to the same panels, for gemm_gptq.
  static Expected<CpuGptqStore> load_awq(std::span<const int32_t> qweight, std::span<const float> scales,
                                         std::span<const int32_t> qzeros, size_t group_size, size_t k, size_t n);
  static Status gemm_gptq(CpuContext& ctx, const CpuBuffer& a, const CpuGptqStore& weight, CpuBuffer& out, size_t m);

  // ── GEMM ──
  static Status gemm(CpuContext& ctx, const CpuBuffer& a, const CpuBuffer& b, CpuBuffer& out, size_t m, size_t n,
                     size_t k);
  // GPTQ: qweight i32 [k*bits/32, n], zeros i32 [groups, n*bits/32], scales f32/f16/bf16 [groups, n],
  //       g_idx i32 [k] (required with desc_act, used whenever given). Zeros follow GPTQ v1 (stored z - 1).
  // AWQ:  qweight i32 [k, n/8], zeros i32 [groups, n/8] (nibble order 0,2,4,6,1,3,5,7), scales [groups, n].
  // GGUF: qweight holds n rows of k values in the block type; k is a whole number of blocks.
  static Status gemm_quant(CpuContext& ctx, const CpuBuffer& a, const QuantWeights<CpuBuffer>& weights, CpuBuffer& out,
                           size_t m, size_t n, size_t k, const QuantKind& kind);
  // b: f32, f16 or bf16, as gemm.
  static Status gemm_batched(CpuContext& ctx, const CpuBuffer& a, const CpuBuffer& b, CpuBuffer& out, size_t batch,
                             size_t m, size_t n, size_t k);

  // ── Norms ──
  static Status rms_norm(CpuContext& ctx, const CpuBuffer& x, const CpuBuffer& w, float eps, CpuBuffer& out,
                         size_t tokens, size_t dim);
  static Status fused_add_rms_norm(CpuContext& ctx, CpuBuffer& residual, const CpuBuffer& x, const CpuBuffer& w,
                                   float eps, CpuBuffer& out, size_t tokens, size_t dim);
  static Status layer_norm(CpuContext& ctx, const CpuBuffer& x, const CpuBuffer& gamma, const CpuBuffer& beta,
                           float eps, CpuBuffer& out, size_t tokens, size_t dim);

  // ── Attention ──
  static Status flash_attention(CpuContext& ctx, const CpuBuffer& q, const CpuBuffer& k, const CpuBuffer& v,
                                CpuBuffer& out, size_t batch, size_t q_len, size_t kv_len, size_t pos_offset,
                                const AttnConfig& cfg);
  // cfg.num_kv_heads is not used: every head reads the one shared latent.
  static Status mla_attention(CpuContext& ctx, const CpuBuffer& q, const CpuBuffer& kv_compressed,
                              const CpuBuffer& kv_rope, CpuBuffer& out, size_t batch, size_t q_len, size_t kv_len,
                              size_t pos_offset, const AttnConfig& cfg, size_t kv_lora_rank, size_t qk_rope_head_dim);

  // ── Paged KV cache ──
  // Pools f32, f16 or bf16 (new rows f32, rounded to the pool's dtype); metadata i32. Every block id,
  // slot and length is checked on the host before the kernel runs. Slots of one write must be distinct.
  static Status paged_cache_write(CpuContext& ctx, CpuBuffer& pool, const CpuBuffer& rows,
                                  const CpuBuffer& slot_mapping, size_t tokens, size_t heads, size_t width,
                                  size_t block_size);
  static Status paged_attention(CpuContext& ctx, const CpuBuffer& q, const CpuBuffer& k_pool, const CpuBuffer& v_pool,
                                CpuBuffer& out, const PagedAttnBatch<CpuBuffer>& batch, const AttnConfig& cfg);
  static Status paged_mla_attention(CpuContext& ctx, const CpuBuffer& q, const CpuBuffer& latent_pool,
                                    const CpuBuffer& rope_pool, CpuBuffer& out, const PagedAttnBatch<CpuBuffer>& batch,
                                    const AttnConfig& cfg, size_t kv_lora_rank, size_t qk_rope_head_dim);
  // ids i32, each checked against the table.
  static Status gather_rows(CpuContext& ctx, const CpuBuffer& table, const CpuBuffer& ids, size_t count, CpuBuffer& out,
                            size_t dim);
  // ids i32, each checked to be non-negative.
  static Status gather_rows_slice(CpuContext& ctx, const CpuBuffer& table, const CpuBuffer& ids, size_t count,
                                  size_t first_id, CpuBuffer& out, size_t dim);
  // Any plain dtype.
  static Status copy_from_host(CpuContext& ctx, std::span<const uint8_t> bytes, CpuBuffer& dst, size_t dst_offset);

  // ── Layout and element-wise ──
  // copy_slice / copy_2d copy any plain dtype (src and dst alike); ranges must not overlap.
  static Status copy_slice(CpuContext& ctx, const CpuBuffer& src, size_t src_offset, CpuBuffer& dst, size_t dst_offset,
                           size_t len);
  static Status copy_2d(CpuContext& ctx, const CpuBuffer& src, size_t src_offset, size_t src_stride, CpuBuffer& dst,
                        size_t dst_offset, size_t dst_stride, size_t rows, size_t cols);
  // x and out are f32; kernel and stride must be positive and the kernel must fit the padded input.
  static Status im2col_1d(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& out, size_t channels, size_t length,
                          size_t kernel, size_t stride, size_t padding);
  static Status im2col_2d(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& out, size_t channels, size_t height,
                          size_t width, size_t kernel, size_t stride, size_t padding);
  static Status embedding_lookup(CpuContext& ctx, const CpuBuffer& table, std::span<const uint32_t> ids, CpuBuffer& out,
                                 size_t dim);
  static Status embedding_lookup_slice(CpuContext& ctx, const CpuBuffer& table, std::span<const uint32_t> ids,
                                       size_t first_id, CpuBuffer& out, size_t dim);
  // src, out and weights f32.
  static Status scatter_add_rows(CpuContext& ctx, const CpuBuffer& src, std::span<const uint32_t> ids,
                                 std::span<const float> weights, CpuBuffer& out, size_t cols);
  static Status split_qkv(CpuContext& ctx, const CpuBuffer& qkv, CpuBuffer& q, CpuBuffer& k, CpuBuffer& v,
                          size_t tokens, size_t q_dim, size_t kv_dim);
  static Status fused_silu_mul_split(CpuContext& ctx, const CpuBuffer& gate_up, CpuBuffer& out, size_t tokens,
                                     size_t im);
  static Status fused_act_mul_split(CpuContext& ctx, const CpuBuffer& gate_up, CpuBuffer& out, size_t tokens, size_t im,
                                    Activation act);
  static Status qk_norm_rope(CpuContext& ctx, const CpuBuffer& input, const CpuBuffer& norm_w, const CpuBuffer& cos,
                             const CpuBuffer& sin, CpuBuffer& output, size_t tokens, size_t heads, size_t head_dim,
                             size_t pos_offset, float eps, int mode);
  // The caches may be f32, f16 or bf16 (new rows are rounded to the cache's dtype); new_k / new_v are f32.
  static Status kv_cache_append_head_major(CpuContext& ctx, CpuBuffer& cache_k, CpuBuffer& cache_v, size_t cache_len,
                                           size_t cache_capacity, const CpuBuffer& new_k, const CpuBuffer& new_v,
                                           size_t new_tokens, size_t nkv, size_t hd);
  static Status transpose_head_to_token(CpuContext& ctx, const CpuBuffer& src, CpuBuffer& dst, size_t tokens,
                                        size_t heads, size_t dim);
  static Status add_inplace(CpuContext& ctx, CpuBuffer& residual, const CpuBuffer& x, size_t len);
  static Status add_bias(CpuContext& ctx, CpuBuffer& data, const CpuBuffer& bias, size_t rows, size_t cols);
  static Status gelu(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& out, size_t len);
  static Status activation(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& out, size_t len, Activation act);
  static Status scale(CpuContext& ctx, CpuBuffer& data, size_t len, float factor);
  static Status softcap(CpuContext& ctx, CpuBuffer& data, size_t len, float cap);
  // A row whose maximum is -inf (everything masked) becomes all zeros.
  static Status softmax_rows(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& out, size_t rows, size_t cols);
  // NaN ranks below every number, so it is chosen only when a row holds nothing else.
  static Status argmax_rows(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& out, size_t rows, size_t cols);
  static Status topk_rows(CpuContext& ctx, const CpuBuffer& x, CpuBuffer& values, CpuBuffer& ids, size_t rows,
                          size_t cols, size_t k);
  static constexpr bool kGatheredArgmax = true;
  static Status argmax_gathered(CpuContext& ctx, const CpuBuffer& values, const CpuBuffer& ids, CpuBuffer& out,
                                size_t ranks, size_t rows, size_t cols);
  static Status sample_rows(CpuContext& ctx, const CpuBuffer& x, const CpuBuffer& params, CpuBuffer& ids, size_t rows,
                            size_t cols);
  static Status adjust_logits(CpuContext& ctx, CpuBuffer& x, const CpuBuffer& adjustments, size_t rows, size_t cols);
  static Status log_softmax_at(CpuContext& ctx, const CpuBuffer& x, const CpuBuffer& ids, CpuBuffer& out, size_t rows,
                               size_t cols, size_t k);

  // ── Collectives ──
  // Without a rank group (new_context) these are the one-rank identities and cost a null check.
  // With one (new_parallel_context), f32 data travels over the group's TCP connections through
  // rank 0, which reduces in rank order and sends the result back, so every rank ends up with
  // bit-identical values (what keeps replicated computations, such as MoE routing, in step).
  // `local_device` is unused on the CPU.
  static Expected<CpuContext> new_parallel_context(std::shared_ptr<dist::RankGroup> group, size_t local_device);
  static size_t world_size(const CpuContext& ctx) { return ctx.rank_group ? ctx.rank_group->size() : 1; }
  static size_t rank(const CpuContext& ctx) { return ctx.rank_group ? ctx.rank_group->rank() : 0; }
  static Status all_reduce(CpuContext& ctx, CpuBuffer& data, size_t len, ReduceOp op);
  static Status all_gather(CpuContext& ctx, const CpuBuffer& local, CpuBuffer& global, size_t local_len);
  static Status broadcast(CpuContext& ctx, CpuBuffer& data, size_t len, size_t src_rank);
};

static_assert(Backend<CpuBackend>);

}  // namespace ferrum
