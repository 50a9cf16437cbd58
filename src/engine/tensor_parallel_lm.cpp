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
    if (link_->open) (void)link_->send({.kind = ModelStep::Kind::kRelease, .id = id_});
  }

  size_t length() const override { return local_->length(); }
  size_t capacity() const override { return local_->capacity(); }
  // A failure to reach the group is kept in the link and returned by the next forward.
  void truncate(size_t length) override {
    (void)link_->send({.kind = ModelStep::Kind::kTruncate, .id = id_, .value = length});
    local_->truncate(length);
  }

  uint64_t id() const { return id_; }
  SequenceState& local() { return *local_; }

 private:
  uint64_t id_;
  std::unique_ptr<SequenceState> local_;
  std::shared_ptr<Link> link_;
};

// A paged cache of the group: rank 0's own pools plus the id the other ranks know theirs by.
class TensorParallelPagedStore final : public PagedKvStore {
 public:
  TensorParallelPagedStore(uint64_t id, std::unique_ptr<PagedKvStore> local, std::shared_ptr<Link> link)
      : id_(id), local_(std::move(local)), link_(std::move(link)) {}
  ~TensorParallelPagedStore() override {
    if (link_->open) (void)link_->send({.kind = ModelStep::Kind::kReleasePagedCache, .id = id_});
  }
  size_t num_blocks() const override { return local_->num_blocks(); }
  size_t block_size() const override { return local_->block_size(); }
  DType dtype() const override { return local_->dtype(); }

  uint64_t id() const { return id_; }
  PagedKvStore& local() { return *local_; }

 private:
  uint64_t id_;
  std::unique_ptr<PagedKvStore> local_;
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
  const bool told = !link_->broken && link_->send({.kind = ModelStep::Kind::kShutdown});
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
  const uint64_t id = next_id_++;
  FERRUM_TRY(link_->send({.kind = ModelStep::Kind::kNewSequence, .id = id, .value = capacity}));
  return std::unique_ptr<SequenceState>(new TensorParallelSequence(id, std::move(local), link_));
}

Expected<std::span<const float>> TensorParallelCausalLm::forward(SequenceState& state,
                                                                 std::span<const uint32_t> tokens) {
  auto& sequence = static_cast<TensorParallelSequence&>(state);
  FERRUM_TRY(check_call(state, tokens));
  FERRUM_TRY(
      link_->send({.kind = ModelStep::Kind::kForward, .id = sequence.id(), .tokens = {tokens.begin(), tokens.end()}}));
  return local_->forward(sequence.local(), tokens);
}

Expected<std::vector<float>> TensorParallelCausalLm::forward_all(SequenceState& state,
                                                                 std::span<const uint32_t> tokens) {
  auto& sequence = static_cast<TensorParallelSequence&>(state);
  FERRUM_TRY(check_call(state, tokens));
  FERRUM_TRY(link_->send(
      {.kind = ModelStep::Kind::kForwardAll, .id = sequence.id(), .tokens = {tokens.begin(), tokens.end()}}));
  return local_->forward_all(sequence.local(), tokens);
}

Expected<uint32_t> TensorParallelCausalLm::forward_greedy(SequenceState& state, std::span<const uint32_t> tokens) {
  auto& sequence = static_cast<TensorParallelSequence&>(state);
  FERRUM_TRY(check_call(state, tokens));
  FERRUM_TRY(link_->send(
      {.kind = ModelStep::Kind::kForwardGreedy, .id = sequence.id(), .tokens = {tokens.begin(), tokens.end()}}));
  return local_->forward_greedy(sequence.local(), tokens);
}

Expected<std::vector<float>> TensorParallelCausalLm::hidden_states(SequenceState& /*state*/,
                                                                   std::span<const uint32_t> /*tokens*/) {
  return make_error(ErrorCode::kUnsupported, info().architecture,
                    ": hidden states (embeddings) are not available with --tensor-parallel-size above 1");
}

Status TensorParallelCausalLm::check_batch(const ForwardBatch& batch) const {
  const CausalLmInfo& info = local_->info();
  FERRUM_CHECK(batch.num_tokens() > 0 && batch.num_tokens() <= info.max_batch_tokens, ErrorCode::kLimitExceeded,
               "forward_batch: ", batch.num_tokens(), " tokens, outside 1..", info.max_batch_tokens);
  FERRUM_CHECK(batch.positions.size() == batch.num_tokens(), ErrorCode::kInvalidArgument,
               "forward_batch: ", batch.positions.size(), " positions for ", batch.num_tokens(), " tokens");
  for (uint32_t token : batch.tokens) {
    FERRUM_CHECK(token < info.vocab_size, ErrorCode::kInvalidArgument, "token id ", token,
                 " is outside the vocabulary of ", info.vocab_size);
  }
  for (uint32_t position : batch.positions) {
    FERRUM_CHECK(position < info.max_context, ErrorCode::kOutOfRange, "forward_batch: position ", position,
                 " is past the context of ", info.max_context);
  }
  return ok();
}

Expected<std::unique_ptr<PagedKvStore>> TensorParallelCausalLm::new_paged_cache(size_t num_blocks, size_t block_size,
                                                                                DType dtype) {
  // Created here first: a size the device refuses fails on rank 0 alone.
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<PagedKvStore> local, local_->new_paged_cache(num_blocks, block_size, dtype));
  const uint64_t id = next_id_++;
  FERRUM_TRY(link_->send({.kind = ModelStep::Kind::kNewPagedCache,
                          .id = id,
                          .value = num_blocks,
                          .value2 = block_size,
                          .dtype = static_cast<uint32_t>(dtype)}));
  return std::unique_ptr<PagedKvStore>(new TensorParallelPagedStore(id, std::move(local), link_));
}

Expected<std::span<const float>> TensorParallelCausalLm::forward_batch(PagedKvStore& cache, const ForwardBatch& batch) {
  auto& store = static_cast<TensorParallelPagedStore&>(cache);
  FERRUM_TRY(check_batch(batch));
  FERRUM_TRY(link_->send({.kind = ModelStep::Kind::kForwardBatch, .id = store.id(), .batch = batch}));
  return local_->forward_batch(store.local(), batch);
}

Expected<std::span<const int32_t>> TensorParallelCausalLm::forward_batch_argmax(PagedKvStore& cache,
                                                                                const ForwardBatch& batch) {
  auto& store = static_cast<TensorParallelPagedStore&>(cache);
  FERRUM_TRY(check_batch(batch));
  FERRUM_TRY(link_->send({.kind = ModelStep::Kind::kForwardBatchArgmax, .id = store.id(), .batch = batch}));
  return local_->forward_batch_argmax(store.local(), batch);
}

bool TensorParallelCausalLm::supports_device_sampling() const {
  return local_->supports_device_sampling();
}

// The workers run the same forward, over whole logits rows; what the leader picks from them is its
// own business.
Expected<BatchPicks> TensorParallelCausalLm::forward_batch_sample(PagedKvStore& cache, const ForwardBatch& batch,
                                                                  const BatchSampling& sampling) {
  auto& store = static_cast<TensorParallelPagedStore&>(cache);
  FERRUM_TRY(check_batch(batch));
  FERRUM_TRY(link_->send({.kind = ModelStep::Kind::kForwardBatchSample, .id = store.id(), .batch = batch}));
  return local_->forward_batch_sample(store.local(), batch, sampling);
}

void TensorParallelCausalLm::enable_batch_graphs(bool enabled) {
  // A failure to reach the group is kept in the link and returned by the next step.
  (void)link_->send({.kind = ModelStep::Kind::kEnableBatchGraphs, .value = enabled ? 1u : 0u});
  local_->enable_batch_graphs(enabled);
}

Status TensorParallelCausalLm::copy_block(PagedKvStore& cache, size_t from, size_t to) {
  auto& store = static_cast<TensorParallelPagedStore&>(cache);
  FERRUM_CHECK(from < store.num_blocks() && to < store.num_blocks(), ErrorCode::kOutOfRange, "copy_block: blocks ",
               from, " -> ", to, " of ", store.num_blocks());
  FERRUM_TRY(link_->send({.kind = ModelStep::Kind::kCopyBlock, .id = store.id(), .value = from, .value2 = to}));
  return local_->copy_block(store.local(), from, to);
}

Status follow_rank_zero(dist::RankGroup& group, CausalLm& local) {
  std::unordered_map<uint64_t, std::unique_ptr<SequenceState>> sequences;
  std::unordered_map<uint64_t, std::unique_ptr<PagedKvStore>> caches;
  std::vector<RowSampling> greedy;  // kForwardBatchSample's stand-in for the leader's parameters
  const auto find = [&](uint64_t id) -> Expected<SequenceState*> {
    const auto found = sequences.find(id);
    FERRUM_CHECK(found != sequences.end(), ErrorCode::kInternal, "rank 0 named sequence ", id,
                 ", which this rank does not have");
    return found->second.get();
  };
  const auto find_cache = [&](uint64_t id) -> Expected<PagedKvStore*> {
    const auto found = caches.find(id);
    FERRUM_CHECK(found != caches.end(), ErrorCode::kInternal, "rank 0 named paged cache ", id,
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
        FERRUM_ASSIGN_OR_RETURN(sequences[step.id], local.new_sequence(step.value));
        break;
      }
      case ModelStep::Kind::kForward: {
        FERRUM_ASSIGN_OR_RETURN(SequenceState * state, find(step.id));
        FERRUM_TRY(local.forward(*state, step.tokens));
        break;
      }
      case ModelStep::Kind::kForwardGreedy: {
        // Rank 0's argmax needs nothing from this rank's (no collective in it): this rank's own
        // pick only spares it copying the logits to the host, so that it is ready for the next step
        // as soon as rank 0 is.
        FERRUM_ASSIGN_OR_RETURN(SequenceState * state, find(step.id));
        FERRUM_TRY(local.forward_greedy(*state, step.tokens));
        break;
      }
      case ModelStep::Kind::kForwardAll: {
        FERRUM_ASSIGN_OR_RETURN(SequenceState * state, find(step.id));
        FERRUM_TRY(local.forward_all(*state, step.tokens));
        break;
      }
      case ModelStep::Kind::kTruncate: {
        FERRUM_ASSIGN_OR_RETURN(SequenceState * state, find(step.id));
        state->truncate(step.value);
        break;
      }
      case ModelStep::Kind::kRelease: sequences.erase(step.id); break;
      case ModelStep::Kind::kNewPagedCache: {
        FERRUM_ASSIGN_OR_RETURN(caches[step.id],
                                local.new_paged_cache(step.value, step.value2, static_cast<DType>(step.dtype)));
        break;
      }
      case ModelStep::Kind::kReleasePagedCache: caches.erase(step.id); break;
      case ModelStep::Kind::kForwardBatch: {
        FERRUM_ASSIGN_OR_RETURN(PagedKvStore * cache, find_cache(step.id));
        FERRUM_TRY(local.forward_batch(*cache, step.batch));
        break;
      }
      case ModelStep::Kind::kForwardBatchArgmax: {
        FERRUM_ASSIGN_OR_RETURN(PagedKvStore * cache, find_cache(step.id));
        FERRUM_TRY(local.forward_batch_argmax(*cache, step.batch));
        break;
      }
      case ModelStep::Kind::kForwardBatchSample: {
        // The leader's sampling ops have no collectives: a greedy pick over the same whole rows
        // keeps this rank's ops in step with its.
        FERRUM_ASSIGN_OR_RETURN(PagedKvStore * cache, find_cache(step.id));
        greedy.assign(step.batch.logits_rows.size(), RowSampling{});
        FERRUM_TRY(local.forward_batch_sample(*cache, step.batch, BatchSampling{.rows = greedy}));
        break;
      }
      case ModelStep::Kind::kCopyBlock: {
        FERRUM_ASSIGN_OR_RETURN(PagedKvStore * cache, find_cache(step.id));
        FERRUM_TRY(local.copy_block(*cache, step.value, step.value2));
        break;
      }
      case ModelStep::Kind::kEnableBatchGraphs: local.enable_batch_graphs(step.value != 0); break;
    }
  }
}

}  // namespace ferrum
