// A mixture-of-experts feed-forward layer: a router (one linear layer scoring every expert), the
// routed experts (each a gated MLP; a token runs through experts_per_token of them and sums their
// outputs with its routing weights) and optional shared experts that every token runs through.
//
// Dispatch on the CPU: the router logits are read back, route_tokens picks the experts on the
// host, then each expert with tokens gathers their rows (embedding_lookup on the activations),
// runs its MLP over just those rows, and scatter_add_rows adds the weighted outputs back into
// their tokens' rows. Experts are visited in index order, so every token's sum forms in the order
// transformers forms it. A device backend would keep the same shape with the routing done on the
// device (topk_rows) and the per-expert loop replaced by a grouped GEMM.
//
// Tensor parallel: expert parallel. Each rank holds a contiguous range of whole routed experts (so
// quantized experts are never cut) and the shared experts' share of their intermediate features.
// Every rank computes the (small) router; rank 0's logits are broadcast so all ranks route every
// token identically whatever rounding differences their GEMMs have. A rank runs only its experts'
// tokens, adds its part of the shared experts, and all_reduce sums the ranks' partial outputs.
//
// Weights, under `prefix` ("model.layers.3.mlp."):
//   gate.weight [experts, hidden], gate.e_score_correction_bias [experts] (when the config has one)
//   experts.gate_up_proj [experts, 2 x expert_intermediate, hidden] (gate rows first) and
//   experts.down_proj [experts, hidden, expert_intermediate]: transformers 5's stacked layout; or
//   per expert experts.{e}.gate_proj / up_proj / down_proj.weight (older checkpoints; GGUF files
//   serve their stacked ffn_*_exps tensors under these names)
//   shared_experts.gate_proj / up_proj / down_proj.weight (DeepSeek)
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "models/gated_mlp.h"
#include "models/moe_routing.h"
#include "models/tracer.h"
#include "models/weight_loader.h"

namespace ferrum {

struct MoeParams {
  size_t hidden_size = 0;
  size_t expert_intermediate_size = 0;
  size_t shared_intermediate_size = 0;  // all shared experts as one MLP; 0 = none
  Activation activation = Activation::kSilu;
  bool has_selection_bias = false;  // gate.e_score_correction_bias
  MoeRouting routing;
  TensorParallel tp;

  // [first, end) of the routed experts this rank holds (any expert count splits, unevenly if need be).
  ShareRange local_experts() const {
    const size_t experts = routing.num_experts;
    return {experts * tp.rank / tp.size, experts * (tp.rank + 1) / tp.size};
  }
};

template <Backend B>
class MoeBlock {
 public:
  using Buffer = typename B::Buffer;
  using Context = typename B::Context;

  // Activations and host routing state of one forward, shared by every MoE layer of a model. The
  // experts' own MLP scratch is a GatedMlp::Scratch passed alongside.
  struct Scratch {
    Buffer router_logits, gathered, expert_out, shared_out, zeros;
    ExpertAssignment assignment;
    std::vector<std::vector<uint32_t>> tokens_of_expert;
    std::vector<std::vector<float>> weights_of_expert;

    static Expected<Scratch> create(const MoeParams& params, size_t max_tokens) {
      Scratch s;
      const size_t rows = max_tokens * params.hidden_size;
      FERRUM_ASSIGN_OR_RETURN(s.router_logits, B::alloc(max_tokens * params.routing.num_experts, B::kActivationDType));
      for (Buffer* buffer : {&s.gathered, &s.expert_out, &s.shared_out, &s.zeros}) {
        FERRUM_ASSIGN_OR_RETURN(*buffer, B::alloc(rows, B::kActivationDType));
      }
      s.tokens_of_expert.resize(params.routing.num_experts);
      s.weights_of_expert.resize(params.routing.num_experts);
      return s;
    }
  };

  static Expected<MoeBlock> load(const WeightLoader<B>& loader, const std::string& prefix, const MoeParams& params) {
    FERRUM_TRY(params.routing.validate());
    MoeBlock block;
    block.params_ = params;
    const size_t experts = params.routing.num_experts;
    const size_t hidden = params.hidden_size;
    const size_t intermediate = params.expert_intermediate_size;
    FERRUM_ASSIGN_OR_RETURN(block.router_, loader.linear(prefix + "gate", experts, hidden));
    const ShareRange mine = params.local_experts();
    if (params.has_selection_bias) {
      FERRUM_ASSIGN_OR_RETURN(block.selection_bias_, loader.host_f32(prefix + "gate.e_score_correction_bias",
                                                                     {static_cast<int64_t>(experts)}));
    }
    const std::string stacked_gate_up = prefix + "experts.gate_up_proj";
    const std::string stacked_down = prefix + "experts.down_proj";
    for (size_t e = mine.begin; e < mine.end; ++e) {
      const std::string expert = prefix + "experts." + std::to_string(e) + ".";
      std::optional<FusedProjection<B>> gate_up;
      if (loader.contains(stacked_gate_up)) {
        FERRUM_ASSIGN_OR_RETURN(auto linear,
                                loader.stacked_linear(stacked_gate_up, e, experts, 2 * intermediate, hidden));
        gate_up.emplace(FusedProjection<B>::of(std::move(linear)));
      } else {
        const std::array<std::string, 2> names = {expert + "gate_proj", expert + "up_proj"};
        const std::array<size_t, 2> rows = {intermediate, intermediate};
        FERRUM_ASSIGN_OR_RETURN(gate_up,
                                FusedProjection<B>::load(loader, names, rows, hidden, false, expert + "gate_up_proj"));
      }
      std::optional<Linear<B>> down;
      if (loader.contains(stacked_down)) {
        FERRUM_ASSIGN_OR_RETURN(down, loader.stacked_linear(stacked_down, e, experts, hidden, intermediate));
      } else {
        FERRUM_ASSIGN_OR_RETURN(down, loader.linear(expert + "down_proj", hidden, intermediate));
      }
      block.experts_.emplace_back(std::move(*gate_up), std::move(*down), params.activation);
    }
    if (params.shared_intermediate_size > 0) {
      FERRUM_ASSIGN_OR_RETURN(
          block.shared_, GatedMlp<B>::load(loader, prefix + "shared_experts.", hidden, params.shared_intermediate_size,
                                           params.activation, params.tp, GatedMlp<B>::RankSum::kByCaller));
    }
    return block;
  }

  const MoeParams& params() const { return params_; }

  // out [tokens, hidden] = the layer's output for x [tokens, hidden].
  Status forward(Context& ctx, const Buffer& x, Buffer& out, size_t tokens, Scratch& s,
                 typename GatedMlp<B>::Scratch& mlp_scratch, const Tracer& tracer, int layer) const {
    const size_t hidden = params_.hidden_size;
    const size_t experts = params_.routing.num_experts;
    FERRUM_TRY(router_->forward(ctx, x, s.router_logits, tokens));
    FERRUM_TRY(B::broadcast(ctx, s.router_logits, tokens * experts, 0));
    tracer.template trace<B>(ctx, "ffn_moe_logits", layer, s.router_logits, tokens * experts);
    FERRUM_TRY(B::sync(ctx));
    FERRUM_ASSIGN_OR_RETURN(std::vector<float> logits, B::to_vec(s.router_logits, tokens * experts));
    FERRUM_TRY(route_tokens(params_.routing, logits, tokens, selection_bias_, s.assignment));

    const size_t k = params_.routing.experts_per_token;
    for (size_t e = 0; e < experts; ++e) {
      s.tokens_of_expert[e].clear();
      s.weights_of_expert[e].clear();
    }
    for (size_t token = 0; token < tokens; ++token) {
      for (size_t i = 0; i < k; ++i) {
        const uint32_t expert = s.assignment.experts[token * k + i];
        s.tokens_of_expert[expert].push_back(static_cast<uint32_t>(token));
        s.weights_of_expert[expert].push_back(s.assignment.weights[token * k + i]);
      }
    }

    FERRUM_TRY(B::copy_slice(ctx, s.zeros, 0, out, 0, tokens * hidden));
    const ShareRange mine = params_.local_experts();
    for (size_t e = mine.begin; e < mine.end; ++e) {
      const std::vector<uint32_t>& rows = s.tokens_of_expert[e];
      if (rows.empty()) continue;
      FERRUM_TRY(B::embedding_lookup(ctx, x, rows, s.gathered, hidden));
      FERRUM_TRY(experts_[e - mine.begin].forward(ctx, s.gathered, s.expert_out, rows.size(), mlp_scratch));
      FERRUM_TRY(B::scatter_add_rows(ctx, s.expert_out, rows, s.weights_of_expert[e], out, hidden));
    }
    tracer.template trace<B>(ctx, "ffn_moe_out", layer, out, tokens * hidden);
    if (shared_) {
      FERRUM_TRY(shared_->forward(ctx, x, s.shared_out, tokens, mlp_scratch));
      tracer.template trace<B>(ctx, "ffn_shexp", layer, s.shared_out, tokens * hidden);
      FERRUM_TRY(B::add_inplace(ctx, out, s.shared_out, tokens * hidden));
    }
    // Each rank added only its experts and its part of the shared experts.
    return B::all_reduce(ctx, out, tokens * hidden, ReduceOp::kSum);
  }

  // Bytes of weights one decode token reads on this rank: the router, the shared experts, and top-k
  // of the routed experts (on average every expert is equally likely).
  size_t weight_bytes() const {
    size_t experts = 0;
    for (const GatedMlp<B>& expert : experts_) experts += expert.weight_bytes();
    const size_t active = params_.routing.num_experts == 0
                              ? 0
                              : experts * params_.routing.experts_per_token / params_.routing.num_experts;
    return router_->weight_bytes() + active + (shared_ ? shared_->weight_bytes() : 0);
  }

 private:
  MoeParams params_;
  std::optional<Linear<B>> router_;
  std::vector<float> selection_bias_;  // empty when the layer has none
  std::vector<GatedMlp<B>> experts_;
  std::optional<GatedMlp<B>> shared_;
};

}  // namespace ferrum
