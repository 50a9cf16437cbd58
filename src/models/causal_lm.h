// The one runtime-polymorphic seam between the model code (templates over a backend) and its
// callers (engine, CLI, server): a causal language model that turns tokens into next-token logits
// for one sequence at a time. One virtual call per forward step, never per op.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"
#include "models/forward_batch.h"

namespace ferrum {

struct CausalLmInfo {
  std::string architecture;  // "llama", "qwen3", ...
  std::string device;        // "cpu", "cuda"
  size_t vocab_size = 0;
  size_t max_context = 0;       // the longest sequence a state can hold
  size_t max_batch_tokens = 0;  // tokens per forward step; longer inputs run in chunks
  size_t num_layers = 0;
  size_t hidden_size = 0;
  size_t weight_bytes = 0;        // bytes of weights read per token (for bandwidth figures)
  size_t kv_bytes_per_token = 0;  // KV cache bytes one token adds
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
  // Copy-on-write of a shared block: every layer's K / V of block `from` into block `to`.
  virtual Status copy_block(PagedKvStore& /*cache*/, size_t /*from*/, size_t /*to*/) {
    return make_error(ErrorCode::kUnsupported, info().architecture, " has no paged cache");
  }
};

// Adapts a model template (LlamaModel<B>, ...) to CausalLm. Model provides `State`,
// new_state(capacity, dtype), forward(ctx, tokens, state, logits, all_logits), hparams().vocab_size.
template <Backend B, class Model>
class CausalLmAdapter final : public CausalLm {
 public:
  using State = typename Model::State;

  CausalLmAdapter(Model model, CausalLmInfo info) : model_(std::move(model)), info_(std::move(info)) {}

  const CausalLmInfo& info() const override { return info_; }

  Expected<std::unique_ptr<SequenceState>> new_sequence(size_t capacity) override {
    FERRUM_ASSIGN_OR_RETURN(State state, model_.new_state(capacity, B::kActivationDType));
    return std::unique_ptr<SequenceState>(new StateHolder(std::move(state)));
  }

  Expected<std::span<const float>> forward(SequenceState& state, std::span<const uint32_t> tokens) override {
    FERRUM_TRY(ensure_logits(info_.vocab_size));
    FERRUM_TRY(model_.forward(ctx_, tokens, static_cast<StateHolder&>(state).state, *logits_, false));
    FERRUM_TRY(B::sync(ctx_));
    FERRUM_ASSIGN_OR_RETURN(host_logits_, B::to_vec(*logits_, info_.vocab_size));
    return std::span<const float>(host_logits_);
  }

  Expected<std::vector<float>> forward_all(SequenceState& state, std::span<const uint32_t> tokens) override {
    FERRUM_ASSIGN_OR_RETURN(auto logits, B::alloc(tokens.size() * info_.vocab_size, DType::kF32));
    FERRUM_TRY(model_.forward(ctx_, tokens, static_cast<StateHolder&>(state).state, logits, true));
    FERRUM_TRY(B::sync(ctx_));
    return B::to_vec(logits, tokens.size() * info_.vocab_size);
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
      return info_.num_layers * shape.heads * block_size * (shape.k_width + shape.v_width) * element;
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
      FERRUM_TRY(run_batch(store, batch));
      const size_t rows = batch.logits_rows.size();
      host_logits_.resize(rows * info_.vocab_size);
      if (rows > 0) {
        FERRUM_TRY(B::to_host(*batch_logits_, std::span<uint8_t>(reinterpret_cast<uint8_t*>(host_logits_.data()),
                                                                 host_logits_.size() * sizeof(float))));
      }
      return std::span<const float>(host_logits_);
    } else {
      return CausalLm::forward_batch(store, batch);
    }
  }

  Expected<std::span<const int32_t>> forward_batch_argmax(PagedKvStore& store, const ForwardBatch& batch) override {
    if constexpr (kBatches) {
      FERRUM_TRY(run_batch(store, batch));
      const size_t rows = batch.logits_rows.size();
      host_ids_.resize(rows);
      if (rows == 0) return std::span<const int32_t>(host_ids_);
      if (!batch_ids_ || batch_ids_->numel() < rows) {
        FERRUM_ASSIGN_OR_RETURN(auto buffer, B::alloc(std::max<size_t>(rows, 64), DType::kI32));
        batch_ids_ = std::make_unique<typename B::Buffer>(std::move(buffer));
      }
      FERRUM_TRY(B::argmax_rows(ctx_, *batch_logits_, *batch_ids_, rows, info_.vocab_size));
      FERRUM_TRY(B::sync(ctx_));
      FERRUM_TRY(B::to_host(*batch_ids_,
                            std::span<uint8_t>(reinterpret_cast<uint8_t*>(host_ids_.data()), rows * sizeof(int32_t))));
      return std::span<const int32_t>(host_ids_);
    } else {
      return CausalLm::forward_batch_argmax(store, batch);
    }
  }

  Status copy_block(PagedKvStore& store, size_t from, size_t to) override {
    if constexpr (kBatches) {
      return static_cast<PagedStore&>(store).cache.copy_block(ctx_, from, to);
    } else {
      return CausalLm::copy_block(store, from, to);
    }
  }

 private:
  // Uploads the batch's metadata and runs the model's forward_batch into batch_logits_.
  Status run_batch(PagedKvStore& store, const ForwardBatch& batch) {
    PagedKvCache<B>& cache = static_cast<PagedStore&>(store).cache;
    if (!metadata_) {
      const size_t max_blocks = (info_.max_context + cache.block_size - 1) / cache.block_size;
      FERRUM_ASSIGN_OR_RETURN(auto buffers,
                              PagedBatchBuffers<B>::create(info_.max_batch_tokens, info_.max_batch_tokens, max_blocks));
      metadata_ = std::make_unique<PagedBatchBuffers<B>>(std::move(buffers));
    }
    const size_t rows = batch.logits_rows.size();
    if (!batch_logits_ || batch_logits_->numel() < rows * info_.vocab_size) {
      FERRUM_ASSIGN_OR_RETURN(auto buffer, B::alloc(std::max<size_t>(rows, 1) * info_.vocab_size, DType::kF32));
      batch_logits_ = std::make_unique<typename B::Buffer>(std::move(buffer));
    }
    FERRUM_TRY(metadata_->upload(ctx_, batch, cache.block_size));
    return model_.forward_batch(ctx_, PagedStep<B>{batch, *metadata_, cache}, *batch_logits_);
  }

  struct PagedStore final : PagedKvStore {
    explicit PagedStore(PagedKvCache<B> c) : cache(std::move(c)) {}
    size_t num_blocks() const override { return cache.num_blocks; }
    size_t block_size() const override { return cache.block_size; }
    DType dtype() const override { return cache.dtype; }
    PagedKvCache<B> cache;
  };

  struct StateHolder final : SequenceState {
    explicit StateHolder(State s) : state(std::move(s)) {}
    size_t length() const override { return state.length; }
    size_t capacity() const override { return state.capacity; }
    void truncate(size_t length) override { state.truncate(length); }
    State state;
  };

  Status ensure_logits(size_t size) {
    if (logits_) return ok();
    FERRUM_ASSIGN_OR_RETURN(auto buffer, B::alloc(size, DType::kF32));
    logits_ = std::make_unique<typename B::Buffer>(std::move(buffer));
    return ok();
  }

  Model model_;
  CausalLmInfo info_;
  typename B::Context ctx_ = B::new_context();
  std::unique_ptr<typename B::Buffer> logits_;
  std::vector<float> host_logits_;
  std::unique_ptr<PagedBatchBuffers<B>> metadata_;    // the batch metadata on the device
  std::unique_ptr<typename B::Buffer> batch_logits_;  // [rows, vocab] of the last batch
  std::unique_ptr<typename B::Buffer> batch_ids_;     // their argmax (forward_batch_argmax)
  std::vector<int32_t> host_ids_;
};

}  // namespace ferrum
