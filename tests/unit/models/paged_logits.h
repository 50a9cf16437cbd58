// Every position's logits of a prompt through a model's batched path (forward_batch over a fresh
// paged cache): half of the prompt prefilled in one step, the rest decoded a token per step, so
// most logits read their keys and values back from the pools.
#pragma once

#include <numeric>
#include <vector>

#include "models/causal_lm.h"
#include "models/forward_batch.h"

namespace ferrum::testing {

inline Expected<std::vector<float>> paged_logits(CausalLm& model, const std::vector<uint32_t>& ids, DType kv_dtype) {
  constexpr size_t kBlockSize = 16;
  const size_t blocks = (ids.size() + kBlockSize - 1) / kBlockSize;
  FERRUM_ASSIGN_OR_RETURN(auto store, model.new_paged_cache(blocks, kBlockSize, kv_dtype));
  ForwardBatch batch;
  std::vector<float> logits;
  const size_t prefill = ids.size() / 2;
  for (size_t first = 0; first < ids.size(); first = static_cast<size_t>(batch.context_lens[0])) {
    const size_t count = first == 0 ? prefill : 1;
    batch.clear();
    batch.max_blocks_per_seq = blocks;
    batch.block_tables.resize(blocks);
    std::iota(batch.block_tables.begin(), batch.block_tables.end(), 0);
    for (size_t i = 0; i < count; ++i) {
      batch.tokens.push_back(ids[first + i]);
      batch.positions.push_back(static_cast<uint32_t>(first + i));
      batch.slot_mapping.push_back(static_cast<int32_t>(first + i));
      batch.logits_rows.push_back(static_cast<uint32_t>(i));
    }
    batch.query_start = {0, static_cast<int32_t>(count)};
    batch.context_lens = {static_cast<int32_t>(first + count)};
    FERRUM_ASSIGN_OR_RETURN(std::span<const float> rows, model.forward_batch(*store, batch));
    logits.insert(logits.end(), rows.begin(), rows.end());
  }
  return logits;
}

}  // namespace ferrum::testing
