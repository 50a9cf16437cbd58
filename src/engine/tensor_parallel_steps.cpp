#include "engine/tensor_parallel_steps.h"

#include "dist/wire.h"

namespace ferrum {
namespace {

bool carries_batch(ModelStep::Kind kind) {
  return kind == ModelStep::Kind::kForwardBatch || kind == ModelStep::Kind::kForwardBatchArgmax ||
         kind == ModelStep::Kind::kForwardBatchSample;
}

}  // namespace

std::vector<uint8_t> encode_model_step(const ModelStep& step) {
  dist::WireWriter writer;
  writer.put(static_cast<uint8_t>(step.kind));
  writer.put(step.id);
  writer.put(step.value);
  writer.put(step.value2);
  writer.put(step.dtype);
  writer.put_array(std::span<const uint32_t>(step.tokens));
  if (carries_batch(step.kind)) {
    const ForwardBatch& b = step.batch;
    writer.put_array(std::span<const uint32_t>(b.tokens));
    writer.put_array(std::span<const uint32_t>(b.positions));
    writer.put_array(std::span<const int32_t>(b.slot_mapping));
    writer.put_array(std::span<const int32_t>(b.query_start));
    writer.put_array(std::span<const int32_t>(b.context_lens));
    writer.put_array(std::span<const int32_t>(b.block_tables));
    writer.put<uint64_t>(b.max_blocks_per_seq);
    writer.put_array(std::span<const uint32_t>(b.logits_rows));
  }
  return std::move(writer.bytes());
}

Expected<ModelStep> decode_model_step(std::span<const uint8_t> bytes) {
  dist::WireReader reader(bytes, "tensor-parallel step");
  ModelStep step;
  FERRUM_ASSIGN_OR_RETURN(uint8_t kind, reader.get<uint8_t>());
  FERRUM_CHECK(kind >= static_cast<uint8_t>(ModelStep::Kind::kNewSequence) &&
                   kind <= static_cast<uint8_t>(ModelStep::Kind::kForwardGreedy),
               ErrorCode::kParse, "tensor-parallel step of unknown kind ", int(kind));
  step.kind = static_cast<ModelStep::Kind>(kind);
  FERRUM_ASSIGN_OR_RETURN(step.id, reader.get<uint64_t>());
  FERRUM_ASSIGN_OR_RETURN(step.value, reader.get<uint64_t>());
  FERRUM_ASSIGN_OR_RETURN(step.value2, reader.get<uint64_t>());
  FERRUM_ASSIGN_OR_RETURN(step.dtype, reader.get<uint32_t>());
  FERRUM_ASSIGN_OR_RETURN(step.tokens, reader.get_array<uint32_t>());
  if (carries_batch(step.kind)) {
    ForwardBatch& b = step.batch;
    FERRUM_ASSIGN_OR_RETURN(b.tokens, reader.get_array<uint32_t>());
    FERRUM_ASSIGN_OR_RETURN(b.positions, reader.get_array<uint32_t>());
    FERRUM_ASSIGN_OR_RETURN(b.slot_mapping, reader.get_array<int32_t>());
    FERRUM_ASSIGN_OR_RETURN(b.query_start, reader.get_array<int32_t>());
    FERRUM_ASSIGN_OR_RETURN(b.context_lens, reader.get_array<int32_t>());
    FERRUM_ASSIGN_OR_RETURN(b.block_tables, reader.get_array<int32_t>());
    FERRUM_ASSIGN_OR_RETURN(uint64_t max_blocks, reader.get<uint64_t>());
    b.max_blocks_per_seq = static_cast<size_t>(max_blocks);
    FERRUM_ASSIGN_OR_RETURN(b.logits_rows, reader.get_array<uint32_t>());
  }
  FERRUM_CHECK(reader.at_end(), ErrorCode::kParse, "tensor-parallel step has trailing bytes");
  return step;
}

}  // namespace ferrum
