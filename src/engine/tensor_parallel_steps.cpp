#include "engine/tensor_parallel_steps.h"

#include "dist/wire.h"

namespace ferrum {

std::vector<uint8_t> encode_model_step(const ModelStep& step) {
  dist::WireWriter writer;
  writer.put(static_cast<uint8_t>(step.kind));
  writer.put(step.sequence);
  writer.put(step.value);
  writer.put_array(std::span<const uint32_t>(step.tokens));
  return std::move(writer.bytes());
}

Expected<ModelStep> decode_model_step(std::span<const uint8_t> bytes) {
  dist::WireReader reader(bytes, "tensor-parallel step");
  ModelStep step;
  FERRUM_ASSIGN_OR_RETURN(uint8_t kind, reader.get<uint8_t>());
  FERRUM_CHECK(kind >= static_cast<uint8_t>(ModelStep::Kind::kNewSequence) &&
                   kind <= static_cast<uint8_t>(ModelStep::Kind::kShutdown),
               ErrorCode::kParse, "tensor-parallel step of unknown kind ", int(kind));
  step.kind = static_cast<ModelStep::Kind>(kind);
  FERRUM_ASSIGN_OR_RETURN(step.sequence, reader.get<uint64_t>());
  FERRUM_ASSIGN_OR_RETURN(step.value, reader.get<uint64_t>());
  FERRUM_ASSIGN_OR_RETURN(step.tokens, reader.get_array<uint32_t>());
  FERRUM_CHECK(reader.at_end(), ErrorCode::kParse, "tensor-parallel step has trailing bytes");
  return step;
}

}  // namespace ferrum
