// What rank 0 tells the other ranks of a tensor-parallel group before each thing it does to the
// model, so that every rank issues the same backend ops (and so the same collectives) in the
// same order. Scheduling and sampling stay on rank 0: the others only see the token ids,
// positions and batch metadata (a one-sequence call's positions follow from the sequence's
// length; a serving-engine step carries its whole ForwardBatch: slots, block tables, rows), and
// their logits are dropped.
//
// Steps travel as kStep messages of the rank group (dist/rank_group.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/error.h"
#include "models/forward_batch.h"

namespace ferrum {

struct ModelStep {
  enum class Kind : uint8_t {
    kNewSequence = 1,     // sequence `id` with capacity `value`
    kForward,             // run `tokens` after the cached ones, last token's logits
    kForwardAll,          // the same, every token's logits
    kTruncate,            // keep the first `value` tokens of sequence `id`
    kRelease,             // free sequence `id`
    kShutdown,            // leave the follow loop; rank 0 is shutting down
    kNewPagedCache,       // paged cache `id`: `value` blocks of `value2` tokens in `dtype`
    kReleasePagedCache,   // free paged cache `id`
    kForwardBatch,        // run `batch` over paged cache `id` (logits)
    kForwardBatchArgmax,  // the same, argmax on the device (under tensor parallelism: across the ranks)
    kCopyBlock,           // copy-on-write in paged cache `id`: block `value` into block `value2`
    kEnableBatchGraphs,   // enable_batch_graphs(value != 0)
    kForwardBatchSample,  // run `batch`, rank 0 picking from whole logits rows (its draw is its own)
    kForwardGreedy,       // kForward whose logits nobody reads: the argmax stays on the device
  };
  Kind kind = Kind::kShutdown;
  uint64_t id = 0;  // the sequence or paged cache the step is about
  uint64_t value = 0;
  uint64_t value2 = 0;
  uint32_t dtype = 0;  // DType of a new paged cache
  std::vector<uint32_t> tokens;
  ForwardBatch batch;
};

std::vector<uint8_t> encode_model_step(const ModelStep& step);
Expected<ModelStep> decode_model_step(std::span<const uint8_t> bytes);

}  // namespace ferrum
