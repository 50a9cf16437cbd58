// CudaBackend: the Backend contract (backend/backend.h) on one NVIDIA GPU.
//
// Buffers live in device memory from a caching allocator; ops check their arguments on the host
// and then enqueue kernels on the context's stream (nothing waits until sync, to_vec or to_host).
//
// Dtypes. Activations may be F32, BF16 or F16; the activation operands of one call (x, out,
// residual, q/k/v, ...) share one dtype unless an op says otherwise. Weights (norm weights, biases,
// cos/sin tables, embedding tables, GEMM weights) may be F32, F16 or BF16 independently; embedding
// tables and gemm_quant weights may also be GGUF block types. Accumulation, norm statistics,
// softmax and RoPE arithmetic are f32. gemm: out may be any float dtype; see cuda_backend_gemm.cpp
// for how mixed activation/weight dtypes reach cuBLASLt.
//
// Device-state mode (set_dev_state_mode(ctx, true)), for CUDA-graph decode: embedding_lookup with
// one id reads the token from the context's device state; qk_norm_rope's pos_offset,
// kv_cache_append_head_major's cache_len and attention's pos_offset become the device step, and
// attention's kv_len becomes step + (kv_len - pos_offset). Host values still size the launch, so
// capture with the shapes every replay will have (one token, the cache capacity as kv_seq_stride).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "backend/backend_types.h"
#include "backend/cuda/cuda_buffer.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/pinned_host.h"
#include "core/dtype.h"
#include "core/error.h"
#include "dist/rank_group.h"

namespace ferrum {

// GPTQ weights for the CUDA backend: the packed tensors, validated once at load and kept on the
// device (0.5 byte per 4-bit weight). gemm_gptq multiplies them in place (a GEMV at one row, the
// tensor-core kernel for small batches) or expands them into the activation's dtype for cuBLASLt.
struct CudaGptqStore {
  CudaBuffer qweight;  // i32 [k * bits / 32, n], tiled (kernels/packed_int.cuh) when `tiled`
  CudaBuffer scales;   // [groups, n]: f16, bf16 or f32, the narrowest that holds them exactly
  CudaBuffer qzeros;   // i32 [groups, n * bits / 32]
  CudaBuffer g_idx;    // i32 [k], act-order that could not be sorted (groups of uneven sizes), else empty
  CudaBuffer order;    // i32 [k], act-order sorted at load: row i holds channel order[i] (else empty)
  uint32_t bits = 4;
  size_t group_size = 0;
  size_t k = 0;
  size_t n = 0;
  bool tiled = false;
};

// Activation rows rounded to int8 per 32 values, as the fused GGUF GEMV reads them
// (kernels/rounded_rows.cuh), written beside a norm's or activation's float output by the
// *_rounded ops so that the GEMVs reading that output (gemm_quant_rounded) skip their own rounding
// launch. `of`, `rows` and `cols` name what the bytes hold; until the float output is next written
// they are its rounding.
struct CudaRoundedRows {
  CudaBuffer bytes;          // u8, at least quant_gemv_scratch_bytes(rows, cols) of any rounding held
  const void* of = nullptr;  // the float output rounded (nullptr: nothing yet)
  size_t rows = 0, cols = 0;

  // Whether the bytes are the rounding of a's first `m` rows of `k` values.
  bool holds(const CudaBuffer& a, size_t m, size_t k) const { return of == a.data() && rows == m && cols == k; }
};

struct CudaBackend : BackendDefaults {
  using Buffer = CudaBuffer;
  using Context = CudaContext;
  using GptqStore = CudaGptqStore;
  // Models keep activations and KV caches in bf16 here (CudaF32Backend below runs them in f32).
  static constexpr DType kActivationDType = DType::kBF16;

  // The device's free and total memory (cudaMemGetInfo): what sizes the serving engine's KV cache
  // under --gpu-memory-utilization.
  struct MemoryInfo {
    size_t free_bytes = 0;
    size_t total_bytes = 0;
  };
  static Expected<MemoryInfo> memory_info();

  // ── Buffers ──
  static Expected<Buffer> alloc(size_t n, DType dtype);
  static Expected<Buffer> from_slice(std::span<const float> values, DType dtype);
  // Large uploads stream through pinned staging buffers (host_upload.h).
  static Expected<Buffer> from_bytes(std::span<const uint8_t> bytes, DType dtype, size_t n);
  // One buffer holding the concatenation of `parts` (fused q/k/v, gate/up), without first joining
  // them in host memory.
  static Expected<Buffer> from_byte_parts(std::span<const std::span<const uint8_t>> parts, DType dtype, size_t n);
  static Expected<std::vector<float>> to_vec(const Buffer& buffer, size_t n);
  static Status to_host(const Buffer& buffer, std::span<uint8_t> host_bytes);
  // Page-locked host memory for what is read back every step (a decode step's logits): to_host
  // into it is one DMA, where a pageable destination costs the driver's staging (optional op).
  using HostMemory = cuda::PinnedHostMemory;
  static Expected<HostMemory> alloc_host(size_t bytes) { return HostMemory::allocate(bytes); }
  // to_host queued on ctx's stream behind the work before it (optional op): the bytes are there
  // after the next sync, and `host_bytes` must live until then. One wait then covers a step and its
  // readback, where sync + to_host is two round trips to the device.
  static Status to_host_async(Context& ctx, const Buffer& buffer, std::span<uint8_t> host_bytes);

  // ── Context ──
  static Context new_context();
  // Shares the parent's NCCL communicator (under tensor parallelism), nothing else.
  static Context new_peer_context(const Context& parent);
  static Status sync(Context& ctx);

  // ── Graphs ──
  static void set_decode_state(Context& ctx, uint32_t token, uint32_t step);
  static void set_dev_state_mode(Context& ctx, bool enable);
  static Status begin_graph_capture(Context& ctx);
  // Instantiates the captured step, keeps it as the last graph, and launches it once (capture
  // itself executes nothing, and the caller expects the step's results).
  static Status end_graph_capture(Context& ctx);
  static Expected<bool> replay_last_graph(Context& ctx);
  static void reset_graph(Context& ctx);

  // ── GEMM ──
  static Expected<GptqStore> load_gptq(std::span<const int32_t> qweight, std::span<const float> scales,
                                       std::span<const int32_t> qzeros, std::optional<std::span<const int32_t>> g_idx,
                                       uint32_t bits, size_t group_size, size_t k, size_t n);
  static Status gemm_gptq(Context& ctx, const Buffer& a, const GptqStore& weight, Buffer& out, size_t m);
  // A 4-bit AWQ layer (qweight [k, n / 8] interleaved, scales [groups, n], qzeros [groups, n / 8]
  // interleaved, zero points as they are) repacked into a GptqStore, so gemm_gptq's kernels run it.
  // kUnsupported where a zero point is 0 (GPTQ's stored zero - 1 cannot hold it): keep the layer as
  // AWQ for gemm_quant then.
  static Expected<GptqStore> load_awq(std::span<const int32_t> qweight, std::span<const float> scales,
                                      std::span<const int32_t> qzeros, size_t group_size, size_t k, size_t n);
  // gemm_gptq with a's rounding at hand (RoundedRows below): 4-bit GPTQ's GEMV reads it instead of
  // rounding a in its own launch when `rounded` holds a's row.
  static Status gemm_gptq_rounded(Context& ctx, const Buffer& a, const CudaRoundedRows& rounded,
                                  const GptqStore& weight, Buffer& out, size_t m);
  static Status gemm(Context& ctx, const Buffer& a, const Buffer& b, Buffer& out, size_t m, size_t n, size_t k);
  static Status gemm_quant(Context& ctx, const Buffer& a, const QuantWeights<Buffer>& weights, Buffer& out, size_t m,
                           size_t n, size_t k, const QuantKind& kind);
  static Status gemm_batched(Context& ctx, const Buffer& a, const Buffer& b, Buffer& out, size_t batch, size_t m,
                             size_t n, size_t k);

  // ── Optional fused ops (backend.h) ──
  // qkv [tokens, (heads + 2 kv_heads) * head_dim] -> q_heads [heads, tokens, head_dim] (QK-norm in
  // mode 1, RoPE), k likewise and v appended to the caches at rows pos_offset.. One kernel instead
  // of split_qkv + three qk_norm_rope + kv_cache_append_head_major. qkv, q_heads and the caches
  // share a float dtype; norm weights and cos / sin are f32. Device-state mode reads pos_offset.
  static Status qkv_rope_kv_append(Context& ctx, const Buffer& qkv, const Buffer& q_norm_w, const Buffer& k_norm_w,
                                   const Buffer& cos, const Buffer& sin, Buffer& q_heads, Buffer& cache_k,
                                   Buffer& cache_v, size_t tokens, size_t heads, size_t kv_heads, size_t head_dim,
                                   size_t pos_offset, size_t cache_capacity, float eps, int mode);
  // qkv_rope_kv_append for a batch over the engine's paged pools [num_blocks, kv_heads, block_size,
  // head_dim]: token t's K / V rows go to slot slot_mapping[t] (a negative slot drops them), and
  // cos_rows / sin_rows hold one RoPE row per token ([tokens, head_dim / 2]). One kernel instead of
  // split_qkv + three qk_norm_rope + two paged_cache_write; the pools share qkv's dtype.
  static Status paged_qkv_rope_write(Context& ctx, const Buffer& qkv, const Buffer& q_norm_w, const Buffer& k_norm_w,
                                     const Buffer& cos_rows, const Buffer& sin_rows, Buffer& q_heads, Buffer& k_pool,
                                     Buffer& v_pool, const Buffer& slot_mapping, size_t tokens, size_t heads,
                                     size_t kv_heads, size_t head_dim, size_t block_size, float eps, int mode);
  // The attention of a layer from its fused projection: qkv_rope_kv_append, then flash_attention of
  // q_heads over the caches (kv_seq_stride = the capacity, pos_offset = the cached length) into
  // out [heads, tokens, head_dim]. One token (decode) over a bf16 / f16 cache with head_dim 64 or
  // 128 runs as one kernel: the decode attention kernel applies RoPE itself and appends the row.
  static Status qkv_rope_attention(Context& ctx, const Buffer& qkv, const Buffer& q_norm_w, const Buffer& k_norm_w,
                                   const Buffer& cos, const Buffer& sin, Buffer& q_heads, Buffer& cache_k,
                                   Buffer& cache_v, Buffer& out, size_t tokens, size_t pos_offset, float eps, int mode,
                                   const AttnConfig& cfg);
  // out[m, im] = act(a @ w[:im]^T) * (a @ w[im:]^T) for a gate-then-up weight w [2 im, k]; for
  // m <= 8 one GEMV kernel whose [m, 2 im] intermediate never reaches memory.
  static Status gemm_gated(Context& ctx, const Buffer& a, const Buffer& w, Buffer& out, size_t m, size_t im, size_t k,
                           Activation act);

  // Rounded activations for the quantized GEMV (CudaRoundedRows). alloc_rounded_rows holds up to
  // `rows` rows of `cols` values (cols % 32 == 0). The norms and the gated activation below do what
  // their plain ops do and also write out's rounding to `rounded` (out's rows and width must fit).
  // gemm_quant_rounded is gemm_quant with a's rounding at hand: it skips the rounding launch when
  // `rounded` holds a's m rows of k and the fused GEMV takes the weight, else runs gemm_quant.
  using RoundedRows = CudaRoundedRows;
  static Expected<RoundedRows> alloc_rounded_rows(size_t rows, size_t cols);
  static Status rms_norm_rounded(Context& ctx, const Buffer& x, const Buffer& w, float eps, Buffer& out, size_t tokens,
                                 size_t dim, RoundedRows& rounded);
  static Status fused_add_rms_norm_rounded(Context& ctx, Buffer& residual, const Buffer& x, const Buffer& w, float eps,
                                           Buffer& out, size_t tokens, size_t dim, RoundedRows& rounded);
  static Status fused_act_mul_split_rounded(Context& ctx, const Buffer& gate_up, Buffer& out, size_t tokens, size_t im,
                                            Activation act, RoundedRows& rounded);
  static Status gemm_quant_rounded(Context& ctx, const Buffer& a, const RoundedRows& rounded,
                                   const QuantWeights<Buffer>& weights, Buffer& out, size_t m, size_t n, size_t k,
                                   const QuantKind& kind);
  // The GGUF matrices `parts` applied to a [m, k], their outputs side by side in out [m, sum of
  // their n], each written in place by the fused GEMV (no per-part output and copy), all reading
  // one rounding of a: `rounded`'s when it holds a, else one launch. Only where the fused GEMV takes
  // every part (gemm_quant_parts_supported); models run the parts one by one otherwise.
  static bool gemm_quant_parts_supported(std::span<const GgufPart<Buffer>> parts, size_t m);
  static Status gemm_quant_parts(Context& ctx, const Buffer& a, const RoundedRows* rounded,
                                 std::span<const GgufPart<Buffer>> parts, Buffer& out, size_t m, size_t k);

  // ── Norms ──
  static Status rms_norm(Context& ctx, const Buffer& x, const Buffer& w, float eps, Buffer& out, size_t tokens,
                         size_t dim);
  static Status fused_add_rms_norm(Context& ctx, Buffer& residual, const Buffer& x, const Buffer& w, float eps,
                                   Buffer& out, size_t tokens, size_t dim);
  static Status layer_norm(Context& ctx, const Buffer& x, const Buffer& gamma, const Buffer& beta, float eps,
                           Buffer& out, size_t tokens, size_t dim);

  // ── Attention ──
  static Status flash_attention(Context& ctx, const Buffer& q, const Buffer& k, const Buffer& v, Buffer& out,
                                size_t batch, size_t q_len, size_t kv_len, size_t pos_offset, const AttnConfig& cfg);
  static Status mla_attention(Context& ctx, const Buffer& q, const Buffer& kv_compressed, const Buffer& kv_rope,
                              Buffer& out, size_t batch, size_t q_len, size_t kv_len, size_t pos_offset,
                              const AttnConfig& cfg, size_t kv_lora_rank, size_t qk_rope_head_dim);

  // ── Paged KV cache (the serving engine; kernels/paged.h) ──
  // Pools and rows of any float dtype (converted on write); attention takes equal dtypes or f32
  // q/out over a bf16/f16 pool. The metadata's values are read on the device only.
  static Status paged_cache_write(Context& ctx, Buffer& pool, const Buffer& rows, const Buffer& slot_mapping,
                                  size_t tokens, size_t heads, size_t width, size_t block_size);
  static Status paged_attention(Context& ctx, const Buffer& q, const Buffer& k_pool, const Buffer& v_pool, Buffer& out,
                                const PagedAttnBatch<Buffer>& batch, const AttnConfig& cfg);
  // paged_attention with out as [num_tokens, num_heads, head_dim] (token-major, what o_proj reads):
  // decode-only batches write it directly, others go through a transpose. Optional: models look
  // for it and transpose paged_attention's output otherwise.
  static Status paged_attention_token_major(Context& ctx, const Buffer& q, const Buffer& k_pool, const Buffer& v_pool,
                                            Buffer& out, const PagedAttnBatch<Buffer>& batch, const AttnConfig& cfg);
  static Status paged_mla_attention(Context& ctx, const Buffer& q, const Buffer& latent_pool, const Buffer& rope_pool,
                                    Buffer& out, const PagedAttnBatch<Buffer>& batch, const AttnConfig& cfg,
                                    size_t kv_lora_rank, size_t qk_rope_head_dim);
  // The embedding kernel with device ids (an id outside the table gives a zero row).
  static Status gather_rows(Context& ctx, const Buffer& table, const Buffer& ids, size_t count, Buffer& out,
                            size_t dim);
  static Status gather_rows_slice(Context& ctx, const Buffer& table, const Buffer& ids, size_t count, size_t first_id,
                                  Buffer& out, size_t dim);
  // Not during graph capture (a pageable host copy cannot be captured).
  static Status copy_from_host(Context& ctx, std::span<const uint8_t> bytes, Buffer& dst, size_t dst_offset);
  // ── Layout and element-wise ──
  static Status copy_slice(Context& ctx, const Buffer& src, size_t src_offset, Buffer& dst, size_t dst_offset,
                           size_t len);
  static Status copy_2d(Context& ctx, const Buffer& src, size_t src_offset, size_t src_stride, Buffer& dst,
                        size_t dst_offset, size_t dst_stride, size_t rows, size_t cols);
  static Status im2col_1d(Context& ctx, const Buffer& x, Buffer& out, size_t channels, size_t length, size_t kernel,
                          size_t stride, size_t padding);
  static Status im2col_2d(Context& ctx, const Buffer& x, Buffer& out, size_t channels, size_t height, size_t width,
                          size_t kernel, size_t stride, size_t padding);
  static Status scatter_add_rows(Context& ctx, const Buffer& src, std::span<const uint32_t> ids,
                                 std::span<const float> weights, Buffer& out, size_t cols);
  static Status embedding_lookup(Context& ctx, const Buffer& table, std::span<const uint32_t> ids, Buffer& out,
                                 size_t dim);
  static Status embedding_lookup_slice(Context& ctx, const Buffer& table, std::span<const uint32_t> ids,
                                       size_t first_id, Buffer& out, size_t dim);
  static Status split_qkv(Context& ctx, const Buffer& qkv, Buffer& q, Buffer& k, Buffer& v, size_t tokens, size_t q_dim,
                          size_t kv_dim);
  static Status fused_silu_mul_split(Context& ctx, const Buffer& gate_up, Buffer& out, size_t tokens, size_t im);
  static Status fused_act_mul_split(Context& ctx, const Buffer& gate_up, Buffer& out, size_t tokens, size_t im,
                                    Activation act);
  static Status qk_norm_rope(Context& ctx, const Buffer& input, const Buffer& norm_w, const Buffer& cos,
                             const Buffer& sin, Buffer& output, size_t tokens, size_t heads, size_t head_dim,
                             size_t pos_offset, float eps, int mode);
  static Status kv_cache_append_head_major(Context& ctx, Buffer& cache_k, Buffer& cache_v, size_t cache_len,
                                           size_t cache_capacity, const Buffer& new_k, const Buffer& new_v,
                                           size_t new_tokens, size_t nkv, size_t hd);
  static Status transpose_head_to_token(Context& ctx, const Buffer& src, Buffer& dst, size_t tokens, size_t heads,
                                        size_t dim);
  static Status add_inplace(Context& ctx, Buffer& residual, const Buffer& x, size_t len);
  static Status add_bias(Context& ctx, Buffer& data, const Buffer& bias, size_t rows, size_t cols);
  static Status gelu(Context& ctx, const Buffer& x, Buffer& out, size_t len);
  static Status activation(Context& ctx, const Buffer& x, Buffer& out, size_t len, Activation act);
  static Status scale(Context& ctx, Buffer& data, size_t len, float factor);
  static Status softcap(Context& ctx, Buffer& data, size_t len, float cap);
  static Status softmax_rows(Context& ctx, const Buffer& x, Buffer& out, size_t rows, size_t cols);
  static Status argmax_rows(Context& ctx, const Buffer& x, Buffer& out, size_t rows, size_t cols);
  static Status topk_rows(Context& ctx, const Buffer& x, Buffer& values, Buffer& ids, size_t rows, size_t cols,
                          size_t k);
  static constexpr bool kGatheredArgmax = true;
  // A pick outside its slice's columns gives that row -1 (device data: the host cannot refuse it).
  static Status argmax_gathered(Context& ctx, const Buffer& values, const Buffer& ids, Buffer& out, size_t ranks,
                                size_t rows, size_t cols);
  static Status sample_rows(Context& ctx, const Buffer& x, const Buffer& params, Buffer& ids, size_t rows, size_t cols);
  static Status adjust_logits(Context& ctx, Buffer& x, const Buffer& adjustments, size_t rows, size_t cols);
  static Status log_softmax_at(Context& ctx, const Buffer& x, const Buffer& ids, Buffer& out, size_t rows, size_t cols,
                               size_t k);

  // ── Collectives ──
  // new_context: one GPU, the collectives are identities (all_gather a copy). new_parallel_context:
  // selects GPU `local_device`, creates the context on it and joins the group's NCCL communicator
  // (nccl_communicator.h); collectives are enqueued on the context's stream like any op, so a CUDA
  // graph captured around a step captures them too, and sync waits with NCCL's failure checks.
  static Expected<Context> new_parallel_context(std::shared_ptr<dist::RankGroup> group, size_t local_device);
  static size_t world_size(const Context& ctx);
  static size_t rank(const Context& ctx);
  static Status all_reduce(Context& ctx, Buffer& data, size_t len, ReduceOp op);
  // all_reduce(x), then fused_add_rms_norm(residual, x, w, eps, out) (with `rounded`: its
  // *_rounded form): one kernel where the ranks share IPC buffers and the rows fit it (kernels/
  // ipc_all_reduce.h; the same bits), else those ops. x then holds this rank's part or the sum.
  static Status all_reduce_add_rms_norm(Context& ctx, Buffer& x, Buffer& residual, const Buffer& w, float eps,
                                        Buffer& out, size_t tokens, size_t dim, RoundedRows* rounded);
  static Status all_gather(Context& ctx, const Buffer& local, Buffer& global, size_t local_len);
  static Status broadcast(Context& ctx, Buffer& data, size_t len, size_t src_rank);

 private:
  // gemm_quant, reading a's rounding from `rounded` (which holds a's m rows of k) when not null.
  static Status gemm_quant_impl(Context& ctx, const Buffer& a, const RoundedRows* rounded,
                                const QuantWeights<Buffer>& weights, Buffer& out, size_t m, size_t n, size_t k,
                                const QuantKind& kind);
};

static_assert(Backend<CudaBackend>);

// The same backend with models running f32 activations and KV caches: the exactness mode (f32
// weights and activations reproduce f32 references to ~1e-5), selected per model at load.
struct CudaF32Backend : CudaBackend {
  static constexpr DType kActivationDType = DType::kF32;
};

static_assert(Backend<CudaF32Backend>);

}  // namespace ferrum
