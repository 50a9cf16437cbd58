// What rank 0 tells the other ranks of a tensor-parallel group before each thing it does to the
// model, so that every rank issues the same backend ops (and so the same collectives) in the
// same order. Scheduling and sampling stay on rank 0: the others only see the token ids,
// positions (implied by each sequence's length) and sequence bookkeeping, and their logits are
// dropped.
//
// Steps travel as kStep messages of the rank group (dist/rank_group.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/error.h"

namespace ferrum {

struct ModelStep {
  enum class Kind : uint8_t {
    kNewSequence = 1,  // sequence `sequence` with capacity `value`
    kForward,          // run `tokens` after the cached ones, last token's logits
    kForwardAll,       // the same, every token's logits
    kTruncate,         // keep the first `value` tokens of `sequence`
    kRelease,          // free `sequence`
    kShutdown,         // leave the follow loop; rank 0 is shutting down
  };
  Kind kind = Kind::kShutdown;
  uint64_t sequence = 0;
  uint64_t value = 0;
  std::vector<uint32_t> tokens;
};

std::vector<uint8_t> encode_model_step(const ModelStep& step);
Expected<ModelStep> decode_model_step(std::span<const uint8_t> bytes);

}  // namespace ferrum
