#include "engine/tensor_parallel_lm.h"

#include <optional>
#include <unordered_map>

namespace ferrum {

struct TensorParallelCausalLm::Link {
  std::shared_ptr<dist::RankGroup> group;
  bool open = true;
  std::optional<Error> broken;

  Status send(const ModelStep& step) {
    if (broken) return *broken;
    FERRUM_CHECK(open, ErrorCode::kInvalidArgument, "the tensor-parallel model this sequence belongs to is gone");
    const std::vector<uint8_t> bytes = encode_model_step(step);
    Status sent = group->send_to_all(dist::MessageTag::kStep, bytes);
    if (!sent) broken = std::move(sent).error().with_context("tensor parallel: broadcasting a step");
    if (broken) return *broken;
    return ok();
  }
};

namespace {

using Link = TensorParallelCausalLm::Link;

// A sequence of the group: rank 0's own state plus the id the other ranks know it by.
class TensorParallelSequence final : public SequenceState {
 public:
  TensorParallelSequence(uint64_t id, std::unique_ptr<SequenceState> local, std::shared_ptr<Link> link)
      : id_(id), local_(std::move(local)), link_(std::move(link)) {}
  ~TensorParallelSequence() override {
    if (link_->open) (void)link_->send({ModelStep::Kind::kRelease, id_, 0, {}});
  }

  size_t length() const override { return local_->length(); }
  size_t capacity() const override { return local_->capacity(); }
  // A failure to reach the group is kept in the link and returned by the next forward.
  void truncate(size_t length) override {
    (void)link_->send({ModelStep::Kind::kTruncate, id_, length, {}});
    local_->truncate(length);
  }

  uint64_t id() const { return id_; }
  SequenceState& local() { return *local_; }

 private:
  uint64_t id_;
  std::unique_ptr<SequenceState> local_;
  std::shared_ptr<Link> link_;
};

}  // namespace

TensorParallelCausalLm::TensorParallelCausalLm(std::unique_ptr<CausalLm> local, std::shared_ptr<dist::RankGroup> group,
                                               std::unique_ptr<WorkerProcesses> workers)
    : link_(std::make_shared<Link>()), local_(std::move(local)), workers_(std::move(workers)) {
  link_->group = std::move(group);
}

TensorParallelCausalLm::~TensorParallelCausalLm() {
  // Peers leaving is expected from here on: stop treating it as a failure.
  link_->group->stop_watching();
  const bool told = !link_->broken && link_->send({ModelStep::Kind::kShutdown, 0, 0, {}});
  link_->open = false;
  local_.reset();
  // The other ranks stop watching rank 0 when they read the shutdown: wait until they have left.
  if (told) link_->group->await_departures(dist::Clock::now() + std::chrono::seconds(10));
  if (workers_) workers_->wait_or_stop(std::chrono::seconds(10));
}

Status TensorParallelCausalLm::check_call(const SequenceState& state, std::span<const uint32_t> tokens) const {
  FERRUM_CHECK(!tokens.empty(), ErrorCode::kInvalidArgument, "forward: no tokens");
  FERRUM_CHECK(state.length() + tokens.size() <= state.capacity(), ErrorCode::kLimitExceeded,
               "forward: ", state.length(), " cached + ", tokens.size(), " new tokens exceed the context of ",
               state.capacity());
  const size_t vocab = local_->info().vocab_size;
  for (uint32_t token : tokens) {
    FERRUM_CHECK(token < vocab, ErrorCode::kInvalidArgument, "token id ", token, " is outside the vocabulary of ",
                 vocab);
  }
  return ok();
}

Expected<std::unique_ptr<SequenceState>> TensorParallelCausalLm::new_sequence(size_t capacity) {
  // Created here first: a capacity the model refuses fails on rank 0 alone.
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<SequenceState> local, local_->new_sequence(capacity));
  const uint64_t id = next_sequence_++;
  FERRUM_TRY(link_->send({ModelStep::Kind::kNewSequence, id, capacity, {}}));
  return std::unique_ptr<SequenceState>(new TensorParallelSequence(id, std::move(local), link_));
}

Expected<std::span<const float>> TensorParallelCausalLm::forward(SequenceState& state,
                                                                 std::span<const uint32_t> tokens) {
  auto& sequence = static_cast<TensorParallelSequence&>(state);
  FERRUM_TRY(check_call(state, tokens));
  FERRUM_TRY(link_->send({ModelStep::Kind::kForward, sequence.id(), 0, {tokens.begin(), tokens.end()}}));
  return local_->forward(sequence.local(), tokens);
}

Expected<std::vector<float>> TensorParallelCausalLm::forward_all(SequenceState& state,
                                                                 std::span<const uint32_t> tokens) {
  auto& sequence = static_cast<TensorParallelSequence&>(state);
  FERRUM_TRY(check_call(state, tokens));
  FERRUM_TRY(link_->send({ModelStep::Kind::kForwardAll, sequence.id(), 0, {tokens.begin(), tokens.end()}}));
  return local_->forward_all(sequence.local(), tokens);
}

Status follow_rank_zero(dist::RankGroup& group, CausalLm& local) {
  std::unordered_map<uint64_t, std::unique_ptr<SequenceState>> sequences;
  const auto find = [&](uint64_t id) -> Expected<SequenceState*> {
    const auto found = sequences.find(id);
    FERRUM_CHECK(found != sequences.end(), ErrorCode::kInternal, "rank 0 named sequence ", id,
                 ", which this rank does not have");
    return found->second.get();
  };
  for (;;) {
    // No deadline: a server's rank 0 may stay idle for hours; its death shows as end-of-file.
    FERRUM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                            group.recv_message(0, dist::MessageTag::kStep, dist::kNoDeadline));
    FERRUM_ASSIGN_OR_RETURN(ModelStep step, decode_model_step(bytes));
    switch (step.kind) {
      case ModelStep::Kind::kShutdown: group.stop_watching(); return ok();
      case ModelStep::Kind::kNewSequence: {
        FERRUM_ASSIGN_OR_RETURN(sequences[step.sequence], local.new_sequence(step.value));
        break;
      }
      case ModelStep::Kind::kForward: {
        FERRUM_ASSIGN_OR_RETURN(SequenceState * state, find(step.sequence));
        FERRUM_TRY(local.forward(*state, step.tokens));
        break;
      }
      case ModelStep::Kind::kForwardAll: {
        FERRUM_ASSIGN_OR_RETURN(SequenceState * state, find(step.sequence));
        FERRUM_TRY(local.forward_all(*state, step.tokens));
        break;
      }
      case ModelStep::Kind::kTruncate: {
        FERRUM_ASSIGN_OR_RETURN(SequenceState * state, find(step.sequence));
        state->truncate(step.value);
        break;
      }
      case ModelStep::Kind::kRelease: sequences.erase(step.sequence); break;
    }
  }
}

}  // namespace ferrum
