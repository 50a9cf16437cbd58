// What a model receives for one step of the serving engine: the tokens of many sequences (prefill
// chunks and decode tokens side by side), where each one's K / V goes in the paged cache, and the
// block tables its attention reads. The engine owns the cache and the tables; the model only
// follows them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "backend/backend.h"

namespace ferrum {

// The bytes of a host vector, as Backend::copy_from_host takes them.
template <class T>
std::span<const uint8_t> host_bytes(const std::vector<T>& values) {
  return {reinterpret_cast<const uint8_t*>(values.data()), values.size() * sizeof(T)};
}

// The host side of a batch, built by the engine every step (vectors keep their capacity).
// Layouts follow backend_types.h's PagedAttnBatch: the tokens of sequence s are rows
// query_start[s] .. query_start[s + 1], at consecutive positions ending at context_lens[s] - 1.
struct ForwardBatch {
  std::vector<uint32_t> tokens;       // [num_tokens]
  std::vector<uint32_t> positions;    // [num_tokens] (unsigned: they index the RoPE tables)
  std::vector<int32_t> slot_mapping;  // [num_tokens] block * block_size + row of each token's K / V
  std::vector<int32_t> query_start;   // [num_seqs + 1]
  std::vector<int32_t> context_lens;  // [num_seqs]
  std::vector<int32_t> block_tables;  // [num_seqs, max_blocks_per_seq]; -1 past a sequence's blocks
  size_t max_blocks_per_seq = 0;
  // Rows (token indices) whose logits are wanted, in the order they are returned.
  std::vector<uint32_t> logits_rows;

  size_t num_tokens() const { return tokens.size(); }
  size_t num_seqs() const { return context_lens.size(); }
  void clear() {
    tokens.clear();
    positions.clear();
    slot_mapping.clear();
    query_start.clear();
    context_lens.clear();
    block_tables.clear();
    logits_rows.clear();
  }
};

// How one layer's paged pools are shaped: `heads` rows per token in each pool, k_width / v_width
// values each. GQA: K and V pools of num_kv_heads x head_dim. MLA: one "head", the latent pool
// (kv_lora_rank) as K and the rope-key pool (qk_rope_head_dim) as V.
struct PagedLayerShape {
  size_t heads = 0;
  size_t k_width = 0;
  size_t v_width = 0;
};

// Paged KV pools on the model's device: per layer, K [num_blocks, heads, block_size, k_width] and
// V [num_blocks, heads, block_size, v_width]. A block id names the same block in every layer.
template <Backend B>
struct PagedKvCache {
  struct Layer {
    typename B::Buffer k;
    typename B::Buffer v;
  };
  std::vector<Layer> layers;
  PagedLayerShape shape;
  size_t num_blocks = 0;
  size_t block_size = 0;
  DType dtype = DType::kF32;

  static Expected<PagedKvCache> create(size_t num_layers, PagedLayerShape shape, size_t num_blocks, size_t block_size,
                                       DType dtype) {
    FERRUM_CHECK(num_blocks > 0 && block_size > 0, ErrorCode::kInvalidArgument, "paged KV cache of ", num_blocks,
                 " blocks of ", block_size, " tokens");
    PagedKvCache cache;
    cache.shape = shape;
    cache.num_blocks = num_blocks;
    cache.block_size = block_size;
    cache.dtype = dtype;
    cache.layers.reserve(num_layers);
    for (size_t layer = 0; layer < num_layers; ++layer) {
      FERRUM_ASSIGN_OR_RETURN(
          auto k, B::alloc(paged_pool_numel(dtype, num_blocks, shape.heads, block_size, shape.k_width), dtype));
      FERRUM_ASSIGN_OR_RETURN(
          auto v, B::alloc(paged_pool_numel(dtype, num_blocks, shape.heads, block_size, shape.v_width), dtype));
      cache.layers.push_back(Layer{std::move(k), std::move(v)});
    }
    return cache;
  }

  // Copies whole blocks (copy-on-write of a shared block): every layer's K and V rows of `from`
  // into `to`, with their row scales where the pools keep them.
  Status copy_block(typename B::Context& ctx, size_t from, size_t to) {
    FERRUM_CHECK(from < num_blocks && to < num_blocks, ErrorCode::kOutOfRange, "copy_block: blocks ", from, " -> ", to,
                 " of ", num_blocks);
    for (Layer& layer : layers) {
      FERRUM_TRY(copy_pool_block(ctx, layer.k, shape.k_width, from, to));
      FERRUM_TRY(copy_pool_block(ctx, layer.v, shape.v_width, from, to));
    }
    return ok();
  }

 private:
  Status copy_pool_block(typename B::Context& ctx, typename B::Buffer& pool, size_t width, size_t from,
                         size_t to) const {
    const size_t block_rows = shape.heads * block_size;
    const size_t values = block_rows * width;
    FERRUM_TRY(B::copy_slice(ctx, pool, from * values, pool, to * values, values));
    if (!paged_pool_has_scales(dtype)) return ok();
    // The scales follow all blocks' values, 4 one-byte elements per row.
    const size_t scales = num_blocks * values;
    const size_t scale_numel = block_rows * sizeof(float);
    return B::copy_slice(ctx, pool, scales + from * scale_numel, pool, scales + to * scale_numel, scale_numel);
  }
};

// The batch in device memory, in buffers allocated once at their largest size so every step
// writes to the same addresses (what a captured graph replays over): the token ids, positions and
// logits rows the model gathers by (gather_rows), the slots, and the attention metadata.
template <Backend B>
class PagedBatchBuffers {
 public:
  using Buffer = typename B::Buffer;

  static Expected<PagedBatchBuffers> create(size_t max_tokens, size_t max_seqs, size_t max_blocks_per_seq) {
    PagedBatchBuffers buffers;
    buffers.max_tokens_ = max_tokens;
    buffers.max_seqs_ = max_seqs;
    buffers.max_table_numel_ = max_seqs * max_blocks_per_seq;
    for (Buffer* buffer : {&buffers.tokens_, &buffers.positions_, &buffers.logits_rows_, &buffers.slot_mapping_}) {
      FERRUM_ASSIGN_OR_RETURN(*buffer, B::alloc(max_tokens, DType::kI32));
    }
    FERRUM_ASSIGN_OR_RETURN(buffers.query_start_, B::alloc(max_seqs + 1, DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(buffers.context_lens_, B::alloc(max_seqs, DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(buffers.block_tables_, B::alloc(buffers.max_table_numel_, DType::kI32));
    return buffers;
  }

  // Upper bounds the attention launch is shaped by; a captured graph fixes them for every replay.
  struct LaunchBounds {
    size_t max_query_len = 0;
    size_t max_context_len = 0;
  };

  // Copies `batch` to the device (in order with the context's work). `bounds`: the launch bounds
  // to declare (default: the batch's own longest query and context).
  Status upload(typename B::Context& ctx, const ForwardBatch& batch, size_t block_size,
                std::optional<LaunchBounds> bounds = std::nullopt) {
    FERRUM_CHECK(batch.num_tokens() <= max_tokens_ && batch.num_seqs() <= max_seqs_ &&
                     batch.block_tables.size() <= max_table_numel_ && batch.logits_rows.size() <= max_tokens_,
                 ErrorCode::kLimitExceeded, "batch of ", batch.num_tokens(), " tokens in ", batch.num_seqs(),
                 " sequences (", batch.block_tables.size(), " table entries) exceeds the metadata buffers (",
                 max_tokens_, " tokens, ", max_seqs_, " sequences, ", max_table_numel_, " entries)");
    FERRUM_TRY(B::copy_from_host(ctx, bytes_of(batch.tokens), tokens_, 0));
    FERRUM_TRY(B::copy_from_host(ctx, bytes_of(batch.positions), positions_, 0));
    FERRUM_TRY(B::copy_from_host(ctx, bytes_of(batch.logits_rows), logits_rows_, 0));
    FERRUM_TRY(B::copy_from_host(ctx, bytes_of(batch.slot_mapping), slot_mapping_, 0));
    FERRUM_TRY(B::copy_from_host(ctx, bytes_of(batch.query_start), query_start_, 0));
    FERRUM_TRY(B::copy_from_host(ctx, bytes_of(batch.context_lens), context_lens_, 0));
    FERRUM_TRY(B::copy_from_host(ctx, bytes_of(batch.block_tables), block_tables_, 0));
    view_ = PagedAttnBatch<Buffer>{};
    view_.query_start = &query_start_;
    view_.context_lens = &context_lens_;
    view_.block_tables = &block_tables_;
    view_.num_seqs = batch.num_seqs();
    view_.num_tokens = batch.num_tokens();
    view_.max_blocks_per_seq = batch.max_blocks_per_seq;
    view_.block_size = block_size;
    view_.host_query_start = batch.query_start;
    for (size_t s = 0; s < batch.num_seqs(); ++s) {
      view_.max_query_len =
          std::max(view_.max_query_len, static_cast<size_t>(batch.query_start[s + 1] - batch.query_start[s]));
      view_.max_context_len = std::max(view_.max_context_len, static_cast<size_t>(batch.context_lens[s]));
    }
    if (bounds) {
      view_.max_query_len = std::max(view_.max_query_len, bounds->max_query_len);
      view_.max_context_len = std::max(view_.max_context_len, bounds->max_context_len);
    }
    return ok();
  }

  const PagedAttnBatch<Buffer>& attention() const { return view_; }
  const Buffer& tokens() const { return tokens_; }
  const Buffer& positions() const { return positions_; }
  const Buffer& logits_rows() const { return logits_rows_; }
  const Buffer& slot_mapping() const { return slot_mapping_; }

 private:
  // Token ids, positions and rows are below 2^31: as i32 they are the same bytes.
  template <class T>
  static std::span<const uint8_t> bytes_of(const std::vector<T>& values) {
    static_assert(sizeof(T) == sizeof(int32_t));
    return host_bytes(values);
  }

  size_t max_tokens_ = 0;
  size_t max_seqs_ = 0;
  size_t max_table_numel_ = 0;
  Buffer tokens_, positions_, logits_rows_, slot_mapping_, query_start_, context_lens_, block_tables_;
  PagedAttnBatch<Buffer> view_;
};

// One step as a model's forward_batch sees it: the host batch, its device metadata, the pools.
template <Backend B>
struct PagedStep {
  const ForwardBatch& batch;
  const PagedBatchBuffers<B>& metadata;
  PagedKvCache<B>& cache;
  // Tensor parallel: the logits rows hold this rank's vocabulary slice alone ([rows, vocab / ranks],
  // no all_gather), for an argmax finished by argmax_gathered. Without tensor parallelism: ignored.
  bool local_logits = false;
};

// What every family's forward_batch checks first: the batch fits the scratch the model was loaded
// for (max_batch_tokens), the cache has its layers, and no position is past its RoPE tables.
template <Backend B>
Status check_paged_step(const PagedStep<B>& step, size_t num_layers, size_t max_batch_tokens, size_t max_context) {
  const size_t t = step.batch.num_tokens();
  FERRUM_CHECK(t > 0 && t <= max_batch_tokens, ErrorCode::kLimitExceeded, "forward_batch: ", t, " tokens, outside 1..",
               max_batch_tokens, " this model was loaded for");
  FERRUM_CHECK(step.cache.layers.size() == num_layers, ErrorCode::kShapeMismatch, "forward_batch: the cache has ",
               step.cache.layers.size(), " layers, the model ", num_layers);
  for (uint32_t position : step.batch.positions) {
    FERRUM_CHECK(position < max_context, ErrorCode::kOutOfRange, "forward_batch: position ", position,
                 " is past the context of ", max_context);
  }
  return ok();
}

}  // namespace ferrum
