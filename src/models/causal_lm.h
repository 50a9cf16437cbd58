// The one runtime-polymorphic seam between the model code (templates over a backend) and its
// callers (engine, CLI, server): a causal language model that turns tokens into next-token logits
// for one sequence at a time. One virtual call per forward step, never per op.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
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
  // Feeds `tokens` and returns the argmax of the last token's logits (lowest id on ties): greedy
  // decoding without copying the vocabulary's logits to the host where the backend can avoid it.
  virtual Expected<uint32_t> forward_greedy(SequenceState& state, std::span<const uint32_t> tokens) {
    FERRUM_ASSIGN_OR_RETURN(std::span<const float> logits, forward(state, tokens));
    return static_cast<uint32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
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

  CausalLmAdapter(Model model, CausalLmInfo info)
      : model_(std::move(model)), info_(std::move(info)), graph_(std::make_shared<GraphOwner>(&ctx_)) {
    const char* env = std::getenv("FERRUM_DECODE_GRAPHS");
    // Debug dumps (FERRUM_DUMP) read tensors back mid-step, which a capture cannot do.
    graphs_enabled_ = kGraphSafe && !(env != nullptr && std::strcmp(env, "0") == 0) && !std::getenv("FERRUM_DUMP");
  }

  const CausalLmInfo& info() const override { return info_; }

  Expected<std::unique_ptr<SequenceState>> new_sequence(size_t capacity) override {
    FERRUM_ASSIGN_OR_RETURN(State state, model_.new_state(capacity, B::kActivationDType));
    return std::unique_ptr<SequenceState>(new StateHolder(std::move(state), graph_));
  }

  Expected<std::span<const float>> forward(SequenceState& state, std::span<const uint32_t> tokens) override {
    FERRUM_TRY(ensure_buffers());
    FERRUM_TRY(step(static_cast<StateHolder&>(state), tokens));
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

  Expected<uint32_t> forward_greedy(SequenceState& state, std::span<const uint32_t> tokens) override {
    FERRUM_TRY(ensure_buffers());
    FERRUM_TRY(step(static_cast<StateHolder&>(state), tokens));
    FERRUM_TRY(B::argmax_rows(ctx_, *logits_, *argmax_, 1, info_.vocab_size));
    FERRUM_TRY(B::sync(ctx_));
    int32_t id = 0;
    FERRUM_TRY(B::to_host(*argmax_, std::span(reinterpret_cast<uint8_t*>(&id), sizeof id)));
    return static_cast<uint32_t>(id);
  }

  Model& model() { return model_; }

 private:
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
      if (tokens.size() == 1 && graphs_enabled_) return graph_step(holder, tokens[0]);
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
      graphs_enabled_ = false;
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
  typename B::Context ctx_ = B::new_context();
  std::shared_ptr<GraphOwner> graph_;
  bool graphs_enabled_ = false;
  std::unique_ptr<typename B::Buffer> logits_;
  std::unique_ptr<typename B::Buffer> argmax_;
  std::vector<float> host_logits_;
};

}  // namespace ferrum
