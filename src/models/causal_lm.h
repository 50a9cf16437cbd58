// The one runtime-polymorphic seam between the model code (templates over a backend) and its
// callers (engine, CLI, server): a causal language model that turns tokens into next-token logits
// for one sequence at a time. One virtual call per forward step, never per op.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"
#include "models/device_picks.h"
#include "models/forward_batch.h"
#include "models/host_logits.h"

namespace ferrum {

struct CausalLmInfo {
  std::string architecture;  // "llama", "qwen3", ...
  std::string device;        // "cpu", "cuda"
  size_t vocab_size = 0;
  size_t max_context = 0;       // the longest sequence a state can hold
  size_t max_batch_tokens = 0;  // tokens per forward step; longer inputs run in chunks
  size_t num_layers = 0;
  size_t hidden_size = 0;
  size_t weight_bytes = 0;          // bytes of weights read per token (for bandwidth figures), on this rank
  size_t kv_bytes_per_token = 0;    // KV cache bytes one token adds, on this rank
  size_t tensor_parallel_size = 1;  // ranks the model is split over (weights and KV figures are per rank)
};

// A sequence's cached state (its KV caches), owned by the caller.
class SequenceState {
 public:
  virtual ~SequenceState() = default;
  virtual size_t length() const = 0;
  virtual size_t capacity() const = 0;
  // Forgets tokens past `length` (for regenerating, or undoing a chunk).
  virtual void truncate(size_t length) = 0;
};

// The serving engine's paged KV pools on the model's device (forward_batch.h). The engine owns the
// store and its block manager decides what every block holds; the model only reads and writes the
// blocks a batch's tables name.
class PagedKvStore {
 public:
  virtual ~PagedKvStore() = default;
  virtual size_t num_blocks() const = 0;
  virtual size_t block_size() const = 0;
  virtual DType dtype() const = 0;
};

// Free and total bytes of a device, where its backend can tell.
struct DeviceMemory {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
};

class CausalLm {
 public:
  virtual ~CausalLm() = default;
  virtual const CausalLmInfo& info() const = 0;
  virtual Expected<std::unique_ptr<SequenceState>> new_sequence(size_t capacity) = 0;
  // Feeds `tokens` after the state's cached ones and returns the last token's logits (host memory
  // owned by the model, valid until its next call).
  virtual Expected<std::span<const float>> forward(SequenceState& state, std::span<const uint32_t> tokens) = 0;
  // Same, returning the logits of every token, [tokens, vocab].
  virtual Expected<std::vector<float>> forward_all(SequenceState& state, std::span<const uint32_t> tokens) = 0;
  // Feeds `tokens` and returns the argmax of the last token's logits (lowest id on ties): greedy
  // decoding without copying the vocabulary's logits to the host where the backend can avoid it.
  virtual Expected<uint32_t> forward_greedy(SequenceState& state, std::span<const uint32_t> tokens) {
    FERRUM_ASSIGN_OR_RETURN(std::span<const float> logits, forward(state, tokens));
    return static_cast<uint32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }

  // ── Batches of many sequences over a paged cache (the serving engine) ──
  // Families without a batched forward answer false / kUnsupported; they still run one at a time.
  virtual bool supports_paged_batches() const { return false; }
  // What KV pools hold by default: the backend's activation dtype.
  virtual DType default_kv_dtype() const { return DType::kF32; }
  // Bytes one block of `block_size` tokens takes across every layer's pools in `dtype`.
  virtual size_t paged_block_bytes(size_t /*block_size*/, DType /*dtype*/) const { return 0; }
  // The device's memory, when the backend can tell (sizing the cache by a utilization fraction).
  virtual std::optional<DeviceMemory> device_memory() const { return std::nullopt; }
  virtual Expected<std::unique_ptr<PagedKvStore>> new_paged_cache(size_t /*num_blocks*/, size_t /*block_size*/,
                                                                  DType /*dtype*/) {
    return make_error(ErrorCode::kUnsupported, info().architecture, " has no batched forward over a paged cache");
  }
  // Runs one step of `batch` and returns the logits of batch.logits_rows, [rows, vocab] (host
  // memory owned by the model, valid until its next call).
  virtual Expected<std::span<const float>> forward_batch(PagedKvStore& /*cache*/, const ForwardBatch& /*batch*/) {
    return make_error(ErrorCode::kUnsupported, info().architecture, " has no batched forward over a paged cache");
  }
  // forward_batch for a batch whose sampled rows are all greedy: the argmax of each logits row
  // (lowest id on ties), picked on the device so only one id per row comes back.
  virtual Expected<std::span<const int32_t>> forward_batch_argmax(PagedKvStore& /*cache*/,
                                                                  const ForwardBatch& /*batch*/) {
    return make_error(ErrorCode::kUnsupported, info().architecture, " has no batched forward over a paged cache");
  }
  // forward_batch whose rows are picked on the device (device_picks.h): each row's penalties and
  // bias applied, its token drawn with Backend::sample_rows' parameters (or picked greedily), and
  // the log-probabilities asked for, so only those come back instead of a vocabulary of logits.
  virtual bool supports_device_sampling() const { return false; }
  virtual Expected<BatchPicks> forward_batch_sample(PagedKvStore& /*cache*/, const ForwardBatch& /*batch*/,
                                                    const BatchSampling& /*sampling*/) {
    return make_error(ErrorCode::kUnsupported, info().architecture, " draws no tokens on the device");
  }
  // Whether batched decode steps may run as captured graphs where the backend and the model allow
  // (forward_batch_argmax and forward_batch_sample; on by default).
  virtual void enable_batch_graphs(bool /*enabled*/) {}
  // Copy-on-write of a shared block: every layer's K / V of block `from` into block `to`.
  virtual Status copy_block(PagedKvStore& /*cache*/, size_t /*from*/, size_t /*to*/) {
    return make_error(ErrorCode::kUnsupported, info().architecture, " has no paged cache");
  }
  // Runs the batched forward once per bucket of step sizes up to max_tokens (backend_types.h's
  // row_count_bucket) on throwaway tokens whose K / V are written nowhere (slot -1) and whose keys
  // are read from block 0, so first-use costs (on CUDA, milliseconds per GEMM kernel variant) are
  // paid when the engine starts rather than in a request's step. The pools and every sequence are
  // left as they were. Returns the step sizes run (none without a batched path, or across ranks).
  virtual Expected<size_t> warm_up_batches(PagedKvStore& /*cache*/, size_t /*max_tokens*/) { return size_t{0}; }

  // Same, returning the final-normed hidden states of every token, [tokens, hidden_size], for
  // sentence embeddings. Families without it answer kUnsupported.
  virtual Expected<std::vector<float>> hidden_states(SequenceState& state, std::span<const uint32_t> tokens) {
    (void)state;
    (void)tokens;
    return make_error(ErrorCode::kUnsupported, info().architecture, " models do not return hidden states yet");
  }
};

// Adapts a model template (LlamaModel<B>, ...) to CausalLm. Model provides `State`,
// new_state(capacity, dtype), forward(ctx, tokens, state, logits, all_logits), hparams().vocab_size.
//
// Decode graphs: when Model::kDecodeGraphSafe, a one-token forward follows the backend contract's
// graph flow. The first such step of a sequence runs inside set_dev_state_mode(true) +
// begin/end_graph_capture; later steps write (token, position) with set_decode_state and replay
// the graph, a single launch in place of the step's hundreds. The graph points into the state's KV
// caches, so it is dropped (reset_graph) when that state dies or another sequence decodes. Backends
// without graphs answer kUnsupported once and the adapter runs eagerly from then on;
// FERRUM_DECODE_GRAPHS=0 (or a FERRUM_DUMP debug dump) turns graphs off.
template <Backend B, class Model>
class CausalLmAdapter final : public CausalLm {
 public:
  using State = typename Model::State;

  // `ctx` is where the model was loaded (its device, its rank group for collectives).
  CausalLmAdapter(Model model, CausalLmInfo info, typename B::Context ctx)
      : model_(std::move(model)),
        info_(std::move(info)),
        ctx_(std::move(ctx)),
        graph_(std::make_shared<GraphOwner>(&ctx_)) {
    const char* env = std::getenv("FERRUM_DECODE_GRAPHS");
    // Debug dumps (FERRUM_DUMP) read tensors back mid-step, which a capture cannot do.
    decode_graphs_enabled_ =
        kGraphSafe && !(env != nullptr && std::strcmp(env, "0") == 0) && !std::getenv("FERRUM_DUMP");
  }

  const CausalLmInfo& info() const override { return info_; }

  Expected<std::unique_ptr<SequenceState>> new_sequence(size_t capacity) override {
    FERRUM_ASSIGN_OR_RETURN(State state, model_.new_state(capacity, B::kActivationDType));
    return std::unique_ptr<SequenceState>(new StateHolder(std::move(state), graph_));
  }

  Expected<std::span<const float>> forward(SequenceState& state, std::span<const uint32_t> tokens) override {
    FERRUM_TRY(ensure_buffers());
    FERRUM_TRY(step(static_cast<StateHolder&>(state), tokens));
    return read_logits(*logits_, info_.vocab_size);
  }

  Expected<std::vector<float>> forward_all(SequenceState& state, std::span<const uint32_t> tokens) override {
    FERRUM_ASSIGN_OR_RETURN(auto logits, B::alloc(tokens.size() * info_.vocab_size, DType::kF32));
    FERRUM_TRY(model_.forward(ctx_, tokens, static_cast<StateHolder&>(state).state, logits, true));
    FERRUM_TRY(B::sync(ctx_));
    return B::to_vec(logits, tokens.size() * info_.vocab_size);
  }

  Expected<uint32_t> forward_greedy(SequenceState& state, std::span<const uint32_t> tokens) override {
    FERRUM_TRY(ensure_buffers());
    FERRUM_TRY(step(static_cast<StateHolder&>(state), tokens));
    FERRUM_TRY(B::argmax_rows(ctx_, *logits_, *argmax_, 1, info_.vocab_size));
    FERRUM_TRY(B::sync(ctx_));
    int32_t id = 0;
    FERRUM_TRY(B::to_host(*argmax_, std::span(reinterpret_cast<uint8_t*>(&id), sizeof id)));
    return static_cast<uint32_t>(id);
  }

  Expected<std::vector<float>> hidden_states(SequenceState& state, std::span<const uint32_t> tokens) override {
    if constexpr (requires(typename B::Buffer & hidden) {
                    model_.forward_hidden(ctx_, tokens, static_cast<StateHolder&>(state).state, hidden);
                  }) {
      const size_t count = tokens.size() * info_.hidden_size;
      FERRUM_ASSIGN_OR_RETURN(auto hidden, B::alloc(count, B::kActivationDType));
      FERRUM_TRY(model_.forward_hidden(ctx_, tokens, static_cast<StateHolder&>(state).state, hidden));
      FERRUM_TRY(B::sync(ctx_));
      return B::to_vec(hidden, count);
    } else {
      return CausalLm::hidden_states(state, tokens);
    }
  }

  Model& model() { return model_; }

  static constexpr bool kBatches =
      requires(Model & m, typename B::Context& c, const PagedStep<B>& step, typename B::Buffer& out) {
    { m.forward_batch(c, step, out) } -> std::same_as<Status>;
    { m.paged_layer_shape() } -> std::same_as<PagedLayerShape>;
  };

  bool supports_paged_batches() const override { return kBatches; }
  DType default_kv_dtype() const override { return B::kActivationDType; }

  size_t paged_block_bytes(size_t block_size, DType dtype) const override {
    if constexpr (kBatches) {
      const PagedLayerShape shape = model_.paged_layer_shape();
      const size_t element = dtype_info(dtype).block_bytes;
      return info_.num_layers * element *
             (paged_pool_numel(dtype, 1, shape.heads, block_size, shape.k_width) +
              paged_pool_numel(dtype, 1, shape.heads, block_size, shape.v_width));
    } else {
      return 0;
    }
  }

  std::optional<DeviceMemory> device_memory() const override {
    if constexpr (requires { B::memory_info(); }) {
      auto memory = B::memory_info();
      if (memory) return DeviceMemory{memory->free_bytes, memory->total_bytes};
    }
    return std::nullopt;
  }

  Expected<std::unique_ptr<PagedKvStore>> new_paged_cache(size_t num_blocks, size_t block_size, DType dtype) override {
    if constexpr (kBatches) {
      FERRUM_ASSIGN_OR_RETURN(auto cache, PagedKvCache<B>::create(info_.num_layers, model_.paged_layer_shape(),
                                                                  num_blocks, block_size, dtype));
      return std::unique_ptr<PagedKvStore>(new PagedStore(std::move(cache)));
    } else {
      return CausalLm::new_paged_cache(num_blocks, block_size, dtype);
    }
  }

  Expected<std::span<const float>> forward_batch(PagedKvStore& store, const ForwardBatch& batch) override {
    if constexpr (kBatches) {
      FERRUM_TRY(run_batch(ctx_, store, batch, std::nullopt));
      return read_logits(*batch_logits_, batch.logits_rows.size() * info_.vocab_size);
    } else {
      return CausalLm::forward_batch(store, batch);
    }
  }

  Expected<std::span<const int32_t>> forward_batch_argmax(PagedKvStore& store, const ForwardBatch& batch) override {
    if constexpr (kBatches) {
      FERRUM_ASSIGN_OR_RETURN(BatchPicks picks, pick_tokens(store, batch, nullptr));
      return picks.ids;
    } else {
      return CausalLm::forward_batch_argmax(store, batch);
    }
  }

  bool supports_device_sampling() const override { return kBatches; }

  Expected<BatchPicks> forward_batch_sample(PagedKvStore& store, const ForwardBatch& batch,
                                            const BatchSampling& sampling) override {
    if constexpr (kBatches) {
      FERRUM_CHECK(sampling.rows.size() == batch.logits_rows.size(), ErrorCode::kInvalidArgument,
                   "forward_batch_sample: ", sampling.rows.size(), " sampling rows for ", batch.logits_rows.size(),
                   " logits rows");
      FERRUM_CHECK(sampling.top_logprobs <= info_.vocab_size, ErrorCode::kInvalidArgument,
                   "forward_batch_sample: ", sampling.top_logprobs, " top log-probabilities of a vocabulary of ",
                   info_.vocab_size);
      return pick_tokens(store, batch, &sampling);
    } else {
      return CausalLm::forward_batch_sample(store, batch, sampling);
    }
  }

  void enable_batch_graphs(bool enabled) override { graphs_enabled_ = enabled; }

  Status copy_block(PagedKvStore& store, size_t from, size_t to) override {
    if constexpr (kBatches) {
      return static_cast<PagedStore&>(store).cache.copy_block(ctx_, from, to);
    } else {
      return CausalLm::copy_block(store, from, to);
    }
  }

  Expected<size_t> warm_up_batches(PagedKvStore& store, size_t max_tokens) override {
    if constexpr (kBatches) {
      // Tensor-parallel steps must be broadcast to every rank: none here.
      if (B::world_size(ctx_) > 1) return size_t{0};
      const size_t block_size = static_cast<PagedStore&>(store).cache.block_size;
      max_tokens = std::min({max_tokens, info_.max_batch_tokens, info_.max_context});
      ForwardBatch batch;
      size_t runs = 0;
      for (size_t first = 1; first <= max_tokens; first = row_count_bucket(first) + 1, ++runs) {
        // One sequence of `tokens` tokens over block 0 again and again: reads only.
        const size_t tokens = std::min(row_count_bucket(first), max_tokens);
        batch.clear();
        batch.tokens.assign(tokens, 0);
        batch.positions.resize(tokens);
        std::iota(batch.positions.begin(), batch.positions.end(), 0u);
        batch.slot_mapping.assign(tokens, -1);
        batch.max_blocks_per_seq = (tokens + block_size - 1) / block_size;
        batch.block_tables.assign(batch.max_blocks_per_seq, 0);
        batch.query_start = {0, static_cast<int32_t>(tokens)};
        batch.context_lens = {static_cast<int32_t>(tokens)};
        batch.logits_rows = {static_cast<uint32_t>(tokens - 1)};
        FERRUM_TRY(run_batch(ctx_, store, batch, std::nullopt));
      }
      FERRUM_TRY(B::sync(ctx_));
      return runs;
    } else {
      return CausalLm::warm_up_batches(store, max_tokens);
    }
  }

 private:
  // One token per logits row, picked on the device: argmax_rows without `sampling`, else its plan.
  Expected<BatchPicks> pick_tokens(PagedKvStore& store, const ForwardBatch& batch, const BatchSampling* sampling) {
    const size_t rows = batch.logits_rows.size();
    const PickPlan plan = plan_of(sampling);
    if (rows == 0) {
      FERRUM_TRY(run_batch(ctx_, store, batch, std::nullopt));
      return BatchPicks{};
    }
    if constexpr (kCapturable) {
      FERRUM_ASSIGN_OR_RETURN(bool replayed, run_graph(store, batch, sampling));
      if (replayed) return picker_.download(plan, rows);
    }
    FERRUM_TRY(run_batch(ctx_, store, batch, std::nullopt, plan.gathered_ranks > 0));
    FERRUM_TRY(picker_.reserve(plan, rows, sampling ? sampling->adjustments.size() : 0, info_.vocab_size));
    if (sampling) FERRUM_TRY(picker_.upload(ctx_, *sampling, rows));
    FERRUM_TRY(picker_.pick(ctx_, *batch_logits_, plan, rows, info_.vocab_size));
    FERRUM_TRY(B::sync(ctx_));
    return picker_.download(plan, rows);
  }

  // Waits for the queued work and returns the first `count` floats of `logits` in host_logits_.
  // Where the backend can, the copy is queued behind the work first, so one wait covers both.
  Expected<std::span<const float>> read_logits(const typename B::Buffer& logits, size_t count) {
    FERRUM_TRY(host_logits_.resize(count));
    if constexpr (requires(std::span<uint8_t> bytes) { B::to_host_async(ctx_, logits, bytes); }) {
      FERRUM_TRY(B::to_host_async(ctx_, logits, host_logits_.bytes()));
      FERRUM_TRY(B::sync(ctx_));
    } else {
      FERRUM_TRY(B::sync(ctx_));
      FERRUM_TRY(B::to_host(logits, host_logits_.bytes()));
    }
    return host_logits_.view();
  }

  // What pick_tokens runs. forward_batch_argmax under tensor parallelism finishes the argmax across
  // the ranks (each picks from its vocabulary slice, argmax_gathered joins the picks) instead of
  // all-gathering every row's logits first: a few bytes a row instead of the vocabulary.
  // FERRUM_TP_GATHERED_ARGMAX=0 (on every host of the group) gathers the logits, for comparisons.
  PickPlan plan_of(const BatchSampling* sampling) const {
    PickPlan plan = PickPlan::of(sampling);
    if constexpr (B::kGatheredArgmax) {
      static const bool enabled = [] {
        const char* env = std::getenv("FERRUM_TP_GATHERED_ARGMAX");
        return env == nullptr || std::strcmp(env, "0") != 0;
      }();
      const size_t ranks = B::world_size(ctx_);
      if (sampling == nullptr && enabled && ranks > 1 && info_.vocab_size % ranks == 0) plan.gathered_ranks = ranks;
    }
    return plan;
  }

  // Uploads the batch's metadata and runs the model's forward_batch into batch_logits_ on `ctx`
  // (local_logits: this rank's vocabulary slice of each row, PagedStep::local_logits).
  Status run_batch(typename B::Context& ctx, PagedKvStore& store, const ForwardBatch& batch,
                   std::optional<typename PagedBatchBuffers<B>::LaunchBounds> bounds, bool local_logits = false) {
    PagedKvCache<B>& cache = static_cast<PagedStore&>(store).cache;
    FERRUM_TRY(ensure_metadata(cache));
    FERRUM_TRY(ensure_batch_logits(batch.logits_rows.size()));
    FERRUM_TRY(metadata_->upload(ctx, batch, cache.block_size, bounds));
    return model_.forward_batch(ctx, PagedStep<B>{batch, *metadata_, cache, local_logits}, *batch_logits_);
  }

  Status ensure_metadata(const PagedKvCache<B>& cache) {
    if (metadata_) return ok();
    const size_t max_blocks = (info_.max_context + cache.block_size - 1) / cache.block_size;
    FERRUM_ASSIGN_OR_RETURN(auto buffers,
                            PagedBatchBuffers<B>::create(info_.max_batch_tokens, info_.max_batch_tokens, max_blocks));
    metadata_ = std::make_unique<PagedBatchBuffers<B>>(std::move(buffers));
    return ok();
  }

  // The logits buffer grows to the rows asked for. A move is counted in buffer_generation(): a
  // graph captured over the old buffer is captured again.
  Status ensure_batch_logits(size_t rows) {
    if (batch_logits_ && batch_logits_->numel() >= rows * info_.vocab_size) return ok();
    // Half again the rows held so far, so steps that grow a row at a time reallocate rarely.
    const size_t held = batch_logits_ ? batch_logits_->numel() / info_.vocab_size : 0;
    rows = std::max({rows, held + held / 2, size_t{1}});
    FERRUM_ASSIGN_OR_RETURN(auto buffer, B::alloc(rows * info_.vocab_size, DType::kF32));
    batch_logits_ = std::make_unique<typename B::Buffer>(std::move(buffer));
    ++logits_generation_;
    return ok();
  }
  // Changes whenever a buffer a captured graph may point into moved.
  size_t buffer_generation() const { return logits_generation_ + picker_.generation(); }

  // ── Decode steps as captured graphs (CUDA graphs), one per batch-size bucket ──
  // A decode-only batch of n sequences is padded to the smallest bucket >= n with dummy rows (slot
  // -1: nothing written; a one-token context in block 0: read, never used), so the graph of that
  // bucket, captured the first time, replays with this step's metadata written into the same
  // buffers. The attention launch is shaped by max_model_len, so it holds for any context.
  static constexpr bool kCapturable = requires { Model::kCapturableBatches; };

  struct BatchGraph {
    // A peer of the model's context: under tensor parallelism its collectives reach the same ranks.
    explicit BatchGraph(const typename B::Context& parent) : ctx(B::new_peer_context(parent)) {}
    typename B::Context ctx;
    bool captured = false;
    bool failed = false;    // the backend or the model cannot capture it: eager from now on
    size_t generation = 0;  // buffer_generation() at the capture
  };

  static size_t graph_bucket(size_t seqs) {
    static constexpr size_t kBuckets[] = {1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256};
    for (size_t bucket : kBuckets) {
      if (bucket >= seqs) return bucket;
    }
    return 0;
  }

  // True when the step ran as a graph (picker_ then holds its picks), false to run it eagerly.
  // Each pick plan has graphs of its own (the ops after the forward differ).
  Expected<bool> run_graph(PagedKvStore& store, const ForwardBatch& batch, const BatchSampling* sampling) {
    if (!graphs_enabled_ || info_.device == "cpu") return false;  // the CPU backend runs ops as they come
    const size_t seqs = batch.num_seqs();
    const bool decode_only = batch.num_tokens() == seqs && batch.logits_rows.size() == seqs;
    const size_t bucket = graph_bucket(seqs);
    if (!decode_only || bucket == 0 || bucket > info_.max_batch_tokens) return false;
    const PickPlan plan = plan_of(sampling);
    std::unique_ptr<BatchGraph>& slot = graphs_[{bucket, plan}];
    if (!slot) slot = std::make_unique<BatchGraph>(ctx_);
    BatchGraph& graph = *slot;
    if (graph.failed) return false;

    pad_batch(batch, bucket);
    // Work queued on the eager context (a copy-on-write block copy) must land before the graph's
    // stream reads the pools.
    FERRUM_TRY(B::sync(ctx_));
    PagedKvCache<B>& cache = static_cast<PagedStore&>(store).cache;
    FERRUM_TRY(ensure_metadata(cache));
    FERRUM_TRY(ensure_batch_logits(bucket));
    FERRUM_TRY(picker_.reserve(plan, bucket, sampling ? sampling->adjustments.size() : 0, info_.vocab_size));
    if (graph.captured && graph.generation != buffer_generation()) {
      B::reset_graph(graph.ctx);  // it points into buffers that have moved since
      graph.captured = false;
    }
    // Host copies cannot be captured: the metadata goes in first, on the graph's own stream.
    const typename PagedBatchBuffers<B>::LaunchBounds bounds{1, info_.max_context};
    FERRUM_TRY(metadata_->upload(graph.ctx, padded_, cache.block_size, bounds));
    if (sampling) FERRUM_TRY(picker_.upload(graph.ctx, *sampling, bucket));
    if (!graph.captured) {
      if (!B::begin_graph_capture(graph.ctx)) {
        graph.failed = true;
        return false;
      }
      Status body = model_.forward_batch(graph.ctx, PagedStep<B>{padded_, *metadata_, cache, plan.gathered_ranks > 0},
                                         *batch_logits_);
      if (body) body = picker_.pick(graph.ctx, *batch_logits_, plan, bucket, info_.vocab_size);
      const Status end = B::end_graph_capture(graph.ctx);
      if (!body || !end) {
        B::reset_graph(graph.ctx);
        graph.failed = true;
        return false;
      }
      graph.captured = true;  // end_graph_capture ran it once: this step is done
      graph.generation = buffer_generation();
    } else {
      FERRUM_ASSIGN_OR_RETURN(bool replayed, B::replay_last_graph(graph.ctx));
      if (!replayed) {
        graph.failed = true;
        return false;
      }
    }
    FERRUM_TRY(B::sync(graph.ctx));
    return true;
  }

  // padded_ = batch plus dummy decode rows up to `bucket` sequences.
  void pad_batch(const ForwardBatch& batch, size_t bucket) {
    padded_ = batch;
    for (size_t s = batch.num_seqs(); s < bucket; ++s) {
      const auto row = static_cast<uint32_t>(padded_.tokens.size());
      padded_.tokens.push_back(0);
      padded_.positions.push_back(0);
      padded_.slot_mapping.push_back(-1);
      padded_.query_start.push_back(padded_.query_start.back() + 1);
      padded_.context_lens.push_back(1);
      padded_.block_tables.resize(padded_.block_tables.size() + batch.max_blocks_per_seq, 0);
      padded_.logits_rows.push_back(row);
    }
  }

  struct PagedStore final : PagedKvStore {
    explicit PagedStore(PagedKvCache<B> c) : cache(std::move(c)) {}
    size_t num_blocks() const override { return cache.num_blocks; }
    size_t block_size() const override { return cache.block_size; }
    DType dtype() const override { return cache.dtype; }
    PagedKvCache<B> cache;
  };

  static constexpr bool kGraphSafe = [] {
    if constexpr (requires { Model::kDecodeGraphSafe; }) return Model::kDecodeGraphSafe;
    return false;
  }();

  // Which state the context's captured graph belongs to; shared with the states so one that dies
  // first can drop the graph that points into its caches.
  struct GraphOwner {
    explicit GraphOwner(typename B::Context* context) : ctx(context) {}
    typename B::Context* ctx;
    const void* state = nullptr;
  };

  struct StateHolder final : SequenceState {
    StateHolder(State s, std::weak_ptr<GraphOwner> owner) : state(std::move(s)), graph(std::move(owner)) {}
    ~StateHolder() override {
      if (auto owner = graph.lock(); owner && owner->state == this) {
        B::reset_graph(*owner->ctx);
        owner->state = nullptr;
      }
    }
    size_t length() const override { return state.length; }
    size_t capacity() const override { return state.capacity; }
    void truncate(size_t length) override { state.truncate(length); }
    State state;
    std::weak_ptr<GraphOwner> graph;
  };

  Status ensure_buffers() {
    if (logits_) return ok();
    FERRUM_ASSIGN_OR_RETURN(auto logits, B::alloc(info_.vocab_size, DType::kF32));
    logits_ = std::make_unique<typename B::Buffer>(std::move(logits));
    FERRUM_ASSIGN_OR_RETURN(auto argmax, B::alloc(1, DType::kI32));
    argmax_ = std::make_unique<typename B::Buffer>(std::move(argmax));
    return ok();
  }

  // The last token's logits into logits_, through the decode graph where it applies.
  Status step(StateHolder& holder, std::span<const uint32_t> tokens) {
    if constexpr (kGraphSafe) {
      if (tokens.size() == 1 && decode_graphs_enabled_) return graph_step(holder, tokens[0]);
    }
    return model_.forward(ctx_, tokens, holder.state, *logits_, false);
  }

  Status graph_step(StateHolder& holder, uint32_t token) {
    State& state = holder.state;
    FERRUM_CHECK(state.length < state.capacity, ErrorCode::kLimitExceeded, "forward: ", state.length,
                 " cached + 1 new token exceed the context of ", state.capacity);
    FERRUM_CHECK(token < info_.vocab_size, ErrorCode::kInvalidArgument, "token id ", token,
                 " is outside the vocabulary of ", info_.vocab_size);
    B::set_decode_state(ctx_, token, static_cast<uint32_t>(state.length));
    if (graph_->state == &holder) {
      FERRUM_ASSIGN_OR_RETURN(bool replayed, B::replay_last_graph(ctx_));
      if (replayed) {
        state.advance(1);
        return ok();
      }
    }
    // First decode step of this sequence (or another sequence owned the graph): capture it.
    B::reset_graph(ctx_);
    graph_->state = nullptr;
    B::set_dev_state_mode(ctx_, true);
    Status begun = B::begin_graph_capture(ctx_);
    if (!begun) {
      B::set_dev_state_mode(ctx_, false);
      if (begun.error().code() != ErrorCode::kUnsupported) return begun;
      decode_graphs_enabled_ = false;
      return model_.forward(ctx_, std::span(&token, 1), state, *logits_, false);
    }
    Status forwarded = model_.forward(ctx_, std::span(&token, 1), state, *logits_, false);
    Status ended = B::end_graph_capture(ctx_);
    B::set_dev_state_mode(ctx_, false);
    if (!forwarded || !ended) {
      B::reset_graph(ctx_);
      return !forwarded ? std::move(forwarded) : std::move(ended);
    }
    graph_->state = &holder;
    return ok();
  }

  Model model_;
  CausalLmInfo info_;
  typename B::Context ctx_;
  std::shared_ptr<GraphOwner> graph_;  // the single-sequence decode graph on ctx_
  bool decode_graphs_enabled_ = false;
  std::unique_ptr<typename B::Buffer> logits_;
  std::unique_ptr<typename B::Buffer> argmax_;
  HostLogits<B> host_logits_;                         // what forward and forward_batch return, kept between steps
  std::unique_ptr<PagedBatchBuffers<B>> metadata_;    // the batch metadata on the device
  std::unique_ptr<typename B::Buffer> batch_logits_;  // [rows, vocab] of the last batch
  size_t logits_generation_ = 0;                      // moves of batch_logits_
  DevicePicker<B> picker_;                            // the picks of those rows (pick_tokens)
  bool graphs_enabled_ = true;                        // batch graphs (pick_tokens)
  std::map<std::pair<size_t, PickPlan>, std::unique_ptr<BatchGraph>> graphs_;  // by bucket and pick plan
  ForwardBatch padded_;
};

}  // namespace ferrum
