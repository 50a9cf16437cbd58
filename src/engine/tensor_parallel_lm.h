// The CausalLm of a tensor-parallel group, seen from rank 0, and the loop the other ranks run.
//
// Rank 0 holds its own shard (a plain CausalLm built over a context joined to the group). Before
// each call that reaches the model it broadcasts the step (tensor_parallel_steps.h), then runs the
// call locally; the other ranks run the same call on their shards, and the backend's collectives
// inside the forward pass join the shards. So whatever drives rank 0 (Generator, the engine, the
// server) needs no knowledge of tensor parallelism: scheduling and sampling happen once, on rank 0.
//
// The serving engine's calls (paged caches, forward_batch steps, copy-on-write block copies) go the
// same way, each batch with its whole ForwardBatch; every rank keeps its own paged pools (its KV
// heads) under the same block ids, so the engine's one block manager on rank 0 drives them all.
//
// Rank 0 checks every call (token ids, positions, capacity) before broadcasting it, so a call that
// fails, fails on rank 0 alone and the group stays in step; an error on another rank therefore
// means that rank is broken, and it leaves, which takes the group down.
#pragma once

#include <sys/types.h>

#include <memory>
#include <vector>

#include "dist/rank_group.h"
#include "engine/tensor_parallel_steps.h"
#include "engine/worker_processes.h"
#include "models/causal_lm.h"

namespace ferrum {

class TensorParallelCausalLm final : public CausalLm {
 public:
  // `local`: rank 0's shard; `workers`: the local worker processes (may be empty).
  TensorParallelCausalLm(std::unique_ptr<CausalLm> local, std::shared_ptr<dist::RankGroup> group,
                         std::unique_ptr<WorkerProcesses> workers);
  // Tells the other ranks to shut down and waits (briefly) for the local workers to exit.
  ~TensorParallelCausalLm() override;

  const CausalLmInfo& info() const override { return local_->info(); }
  Expected<std::unique_ptr<SequenceState>> new_sequence(size_t capacity) override;
  Expected<std::span<const float>> forward(SequenceState& state, std::span<const uint32_t> tokens) override;
  Expected<std::vector<float>> forward_all(SequenceState& state, std::span<const uint32_t> tokens) override;
  // The other ranks run the same step and an argmax of their own (rank 0's has no collective in it).
  Expected<uint32_t> forward_greedy(SequenceState& state, std::span<const uint32_t> tokens) override;
  // Not over a group yet: refused on rank 0 before anything is broadcast.
  Expected<std::vector<float>> hidden_states(SequenceState& state, std::span<const uint32_t> tokens) override;

  bool supports_paged_batches() const override { return local_->supports_paged_batches(); }
  DType default_kv_dtype() const override { return local_->default_kv_dtype(); }
  // Per rank: every rank's pools hold its own KV heads, so a block costs this on each device.
  size_t paged_block_bytes(size_t block_size, DType dtype) const override {
    return local_->paged_block_bytes(block_size, dtype);
  }
  std::optional<DeviceMemory> device_memory() const override { return local_->device_memory(); }
  Expected<std::unique_ptr<PagedKvStore>> new_paged_cache(size_t num_blocks, size_t block_size, DType dtype) override;
  Expected<std::span<const float>> forward_batch(PagedKvStore& cache, const ForwardBatch& batch) override;
  // Every rank runs the argmax step (on backends with argmax_gathered it has collectives of its own).
  Expected<std::span<const int32_t>> forward_batch_argmax(PagedKvStore& cache, const ForwardBatch& batch) override;
  bool supports_device_sampling() const override;
  // The workers run kForwardBatchSample: the same forward over whole logits rows, a greedy pick of their own.
  Expected<BatchPicks> forward_batch_sample(PagedKvStore& cache, const ForwardBatch& batch,
                                            const BatchSampling& sampling) override;
  void enable_batch_graphs(bool enabled) override;
  Status copy_block(PagedKvStore& cache, size_t from, size_t to) override;

  // The local worker processes' ids (tests stop one to check the group goes down).
  std::vector<pid_t> worker_pids() const { return workers_ ? workers_->pids() : std::vector<pid_t>{}; }

  // What rank 0 and its sequences share: the group, and the first failure to reach it.
  struct Link;

 private:
  Status check_call(const SequenceState& state, std::span<const uint32_t> tokens) const;
  Status check_batch(const ForwardBatch& batch) const;

  std::shared_ptr<Link> link_;
  std::unique_ptr<CausalLm> local_;
  std::unique_ptr<WorkerProcesses> workers_;
  uint64_t next_id_ = 1;  // sequences and paged caches
};

// A rank other than 0: applies every step rank 0 broadcasts to `local`, its shard, until rank 0
// shuts the group down (ok) or something fails (the error, after which the rank must leave).
Status follow_rank_zero(dist::RankGroup& group, CausalLm& local);

}  // namespace ferrum
