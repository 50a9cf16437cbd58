// The one runtime-polymorphic seam between the model code (templates over a backend) and its
// callers (engine, CLI, server): a causal language model that turns tokens into next-token logits
// for one sequence at a time. One virtual call per forward step, never per op.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"

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

 private:
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
};

}  // namespace ferrum
