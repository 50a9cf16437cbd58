// Plain types shared by every backend: attention configuration, quantization kinds, reductions,
// and the per-layer KV cache. They carry no model semantics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "core/dtype.h"

namespace ferrum {

// One row's parameters for sample_rows: the kRowSamplingFields f32 of its row of the params
// buffer, in this order. top_k is a whole number (0 = off); top_p 1 and min_p 0 are off.
struct RowSampling {
  float temperature = 0.0f;  // 0 = greedy: the row's argmax_rows pick
  float top_k = 0.0f;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float uniform = 0.0f;  // the draw, in [0, 1)
};
inline constexpr size_t kRowSamplingFields = 5;
static_assert(sizeof(RowSampling) == kRowSamplingFields * sizeof(float), "a params row is five packed f32");

// One entry of adjust_logits (the engine's penalties and logit bias): the logit x at (row, token)
// becomes adjusted_logit(x, repetition, add). Four 32-bit words, as the adjustments buffer holds it.
struct LogitAdjustment {
  int32_t row = 0;
  int32_t token = 0;
  float repetition = 1.0f;  // HF's repetition penalty: x > 0 is divided by it, else multiplied; 1 = off
  float add = 0.0f;         // added after: logit bias minus the presence and frequency penalties
};
inline constexpr size_t kLogitAdjustmentWords = 4;
static_assert(sizeof(LogitAdjustment) == kLogitAdjustmentWords * sizeof(int32_t), "an entry is four packed words");

// The adjusted logit, one IEEE operation at a time (no fused multiply-add): what every backend and
// the engine's host sampler compute, so a seeded request draws the same tokens on each.
inline float adjusted_logit(float x, float repetition, float add) {
  const float scaled = x > 0.0f ? x / repetition : x * repetition;
  return scaled + add;
}

// Reduction applied by tensor-parallel all_reduce.
enum class ReduceOp { kSum, kMax, kMin };

// Configuration of one attention call.
//
// Layouts (all head-major, as produced by qk_norm_rope):
//   q   [batch, num_heads,    q_len,  head_dim]
//   k,v [batch, num_kv_heads, stride, head_dim]  stride = kv_seq_stride, or kv_len when it is 0
//   out [batch, num_heads,    q_len,  head_dim]
// Query row i sits at absolute position p = pos_offset + i; key row j at position j.
// Query head h reads KV head h / (num_heads / num_kv_heads) (grouped-query attention).
// A query row that no key may attend to (masked out entirely, or kv_len = 0) is written as zeros.
struct AttnConfig {
  size_t num_heads = 0;
  size_t num_kv_heads = 0;
  size_t head_dim = 0;
  // Masks keys with j > p.
  bool causal = false;
  // Multiplies q.k before the softmax (usually 1/sqrt(head_dim)).
  float scale = 1.0f;
  // Rows between consecutive KV heads in k and v. 0 means contiguous (kv_len).
  // Set to the cache capacity when attending over a pre-allocated cache holding kv_len valid rows.
  size_t kv_seq_stride = 0;
  // 0 disables. w > 0: query at position p attends to the w positions p-w+1 ..= p
  // (itself and the w-1 before it), still bounded above by causality. Precisely, the window only
  // sets the lower bound j >= p - w + 1; the upper bound is j <= p when causal, none otherwise.
  size_t sliding_window = 0;
};

// GGUF quantization sub-types handled by gemm_quant.
enum class GgufQuantType { kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ8_0, kQ2_K, kQ3_K, kQ4_K, kQ5_K, kQ6_K };

DType gguf_quant_dtype(GgufQuantType type);
// The inverse, for the GGUF block dtypes (callers pass one of them; anything else gives kQ8_0).
GgufQuantType gguf_quant_type(DType dtype);

struct GptqQuant {
  uint32_t bits = 4;
  size_t group_size = 128;  // 0 = one group per output channel ("per-channel", group_size -1 in HF configs)
  bool desc_act = false;    // act-order: g_idx maps each input row to its group
};
struct AwqQuant {
  uint32_t bits = 4;
  size_t group_size = 128;
};
struct GgufQuant {
  GgufQuantType quant_type = GgufQuantType::kQ8_0;
};

// Which quantization scheme a packed weight uses; selects the kernel in gemm_quant.
using QuantKind = std::variant<GptqQuant, AwqQuant, GgufQuant>;

std::string quant_kind_name(const QuantKind& kind);  // "gptq(bits=4, group=128, desc_act)"

// Packed quantized weight buffers for gemm_quant. GGUF packs scales inside qweight, so scales /
// zeros / g_idx are null there. The backend validates the shapes for the kind it handles.
template <class Buffer>
struct QuantWeights {
  const Buffer* qweight = nullptr;
  const Buffer* scales = nullptr;
  const Buffer* zeros = nullptr;
  const Buffer* g_idx = nullptr;
};

// One matrix of a projection whose parts are GGUF matrices of different types, applied to one
// input with their outputs side by side (a backend's optional gemm_quant_parts): q / k / v where v
// is stored in another type, as llama.cpp's Q4_K_M files keep it in some layers.
template <class Buffer>
struct GgufPart {
  const Buffer* blocks = nullptr;  // [n, k] in blocks of `type`
  GgufQuantType type = GgufQuantType::kQ8_0;
  size_t n = 0;
};

// Per-layer, per-sequence KV cache in head-major layout: k and v are [num_kv_heads, capacity, head_dim].
// The caller owns `len` (rows valid in every head).
template <class Buffer>
struct KvCache {
  Buffer k;
  Buffer v;
  size_t len = 0;
  size_t capacity = 0;
  size_t num_kv_heads = 0;
  size_t head_dim = 0;
};

// The attention metadata of a mixed batch over a paged KV cache: prefill chunks and decode tokens of
// many sequences in one call. The three tables are i32 buffers on the device (so a captured graph
// can read new values from the same addresses every step); the sizes are host values.
//
// Paged pools hold `block_size` token rows per block, for every block id:
//   K / V pools   [num_blocks, num_kv_heads, block_size, head_dim]   (head-major inside a block)
//   MLA pools     [num_blocks, block_size, width]                     (one shared latent "head")
// Sequence s owns query rows query_start[s] .. query_start[s + 1] of the batch (q_len_s of them) and
// attends over its first context_lens[s] cached tokens, which include this step's own rows: query
// row i of s sits at position context_lens[s] - q_len_s + i. Key position j of s lives in block
// block_tables[s * max_blocks_per_seq + j / block_size], row j % block_size.
template <class Buffer>
struct PagedAttnBatch {
  const Buffer* query_start = nullptr;   // i32 [num_seqs + 1], non-decreasing, query_start[0] = 0
  const Buffer* context_lens = nullptr;  // i32 [num_seqs], context_lens[s] >= q_len_s
  const Buffer* block_tables = nullptr;  // i32 [num_seqs, max_blocks_per_seq]
  size_t num_seqs = 0;
  size_t num_tokens = 0;  // query rows in all: query_start[num_seqs]
  size_t max_blocks_per_seq = 0;
  size_t block_size = 0;
  // Upper bounds a backend may size its launch by (a graph captured with them serves every batch
  // within them): the longest q_len_s and the longest context_lens[s].
  size_t max_query_len = 0;
  size_t max_context_len = 0;
  // Optional: query_start's values on the host, valid for the call, when the caller has them (a
  // device backend may then launch a kernel only over the sequences it serves); empty otherwise.
  std::span<const int32_t> host_query_start;
};

// Row counts (tokens of a step) are grouped into buckets where a backend caches per-size plans:
// multiples of 16 up to 128, of 64 up to 512, of 256 beyond. The upper end of m's bucket. The CUDA
// backend picks one GEMM algorithm per bucket; the serving engine warms each bucket up at start.
inline size_t row_count_bucket(size_t m) {
  const size_t step = m <= 128 ? 16 : m <= 512 ? 64 : 256;
  return (m + step - 1) / step * step;
}

// A paged KV pool holds [num_blocks, heads, block_size, width] values of its dtype. An f8_e4m3
// pool also scales every row (one token's values of one head): it stores e4m3(value / s), with
// s = max|row| / 448 (1 for a row of zeros), and keeps the f32 s of all its rows,
// [num_blocks, heads, block_size], after the values. Its width must be a multiple of 4 (so the
// scales sit aligned); f8_e4m3 elements are bytes, so the scales take 4 elements per row.
inline bool paged_pool_has_scales(DType dtype) {
  return dtype == DType::kF8E4M3;
}
// Elements of a pool of `blocks` blocks (values, plus scales for f8_e4m3).
inline size_t paged_pool_numel(DType dtype, size_t blocks, size_t heads, size_t block_size, size_t width) {
  const size_t rows = blocks * heads * block_size;
  return rows * width + (paged_pool_has_scales(dtype) ? rows * sizeof(float) : 0);
}

// Element-wise activations beyond the spec's erf-GELU, needed by real models.
enum class Activation {
  kGeluErf,    // x * Phi(x): BERT, Whisper, PyTorch nn.GELU()
  kGeluTanh,   // tanh approximation: Gemma ("gelu_pytorch_tanh")
  kGeluQuick,  // x * sigmoid(1.702 x): CLIP ("quick_gelu")
  kSilu,       // x * sigmoid(x)
  kSigmoid,    // 1 / (1 + e^-x): DeepSeek V3's router scores ("scoring_func": "sigmoid")
};

// qk_norm_rope modes, as the spec numbers them.
enum QkNormRopeMode : int {
  kQkTransposeOnly = 0,  // V: no norm, no RoPE
  kQkNormRope = 1,       // per-head RMS norm, then RoPE (Qwen3, Gemma 3)
  kQkRope = 2,           // RoPE only (Llama, Mistral, Qwen2)
};

}  // namespace ferrum
