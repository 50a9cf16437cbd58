// The gated feed-forward block down(act(gate(x)) * up(x)): the MLP of Llama-style decoders, and
// every routed or shared expert of a mixture-of-experts layer.
//
// Tensor parallel: gate and up are column-parallel (each rank a slice of the intermediate
// features), down is row-parallel, and the ranks' partial outputs are summed by all_reduce, inside
// forward, or by the owner when it has more partial sums to add first (a MoE layer's shared experts).
#pragma once

#include <array>
#include <optional>
#include <string>

#include "models/fused_projection.h"
#include "models/linear.h"
#include "models/weight_loader.h"

namespace ferrum {

template <Backend B>
class GatedMlp {
 public:
  using Buffer = typename B::Buffer;
  using Context = typename B::Context;

  // Activations of one forward, allocated once and shared by every MLP of a model (buffers may be
  // larger than a call needs, so size them for the widest intermediate).
  struct Scratch {
    Buffer gate_up, act, part;
    std::optional<RoundedRows<B>> act_rounded;  // act's rounding for a quantized down (rounded_rows.h)

    static Expected<Scratch> create(size_t max_tokens, size_t max_intermediate) {
      Scratch scratch;
      const DType dtype = B::kActivationDType;
      FERRUM_ASSIGN_OR_RETURN(scratch.gate_up, B::alloc(max_tokens * 2 * max_intermediate, dtype));
      FERRUM_ASSIGN_OR_RETURN(scratch.act, B::alloc(max_tokens * max_intermediate, dtype));
      FERRUM_ASSIGN_OR_RETURN(scratch.part, B::alloc(max_tokens * max_intermediate, dtype));
      FERRUM_ASSIGN_OR_RETURN(scratch.act_rounded, alloc_rounded_rows<B>(max_tokens, max_intermediate));
      return scratch;
    }
  };

  // Whether forward sums the tensor-parallel ranks' partial outputs itself.
  enum class RankSum { kInForward, kByCaller };

  // `prefix` + gate_proj / up_proj / down_proj ("model.layers.0.mlp."); gate and up become one GEMM
  // when their storage allows. With `tp` sharded this rank loads its share of the intermediate features.
  static Expected<GatedMlp> load(const WeightLoader<B>& loader, const std::string& prefix, size_t hidden_size,
                                 size_t intermediate_size, Activation activation, const TensorParallel& tp = {},
                                 RankSum rank_sum = RankSum::kInForward) {
    const std::array<std::string, 2> names = {prefix + "gate_proj", prefix + "up_proj"};
    const std::array<size_t, 2> rows = {intermediate_size, intermediate_size};
    const std::array<WeightSplit, 2> splits = {WeightSplit::rows(tp), WeightSplit::rows(tp)};
    FERRUM_ASSIGN_OR_RETURN(auto gate_up, FusedProjection<B>::load(loader, names, rows, hidden_size, false,
                                                                   prefix + "gate_up_proj", splits));
    FERRUM_ASSIGN_OR_RETURN(auto down, loader.linear(prefix + "down_proj", hidden_size, intermediate_size, false,
                                                     WeightSplit::columns(tp)));
    GatedMlp mlp(std::move(gate_up), std::move(down), activation);
    mlp.sum_ranks_in_forward_ = rank_sum == RankSum::kInForward;
    return mlp;
  }

  size_t weight_bytes() const { return gate_up_.weight_bytes() + down_.weight_bytes(); }

  // gate_up: [2 * intermediate, hidden] with the gate rows first; down: [hidden, intermediate].
  GatedMlp(FusedProjection<B> gate_up, Linear<B> down, Activation activation)
      : gate_up_(std::move(gate_up)), down_(std::move(down)), activation_(activation) {}

  size_t intermediate_size() const { return down_.in_features(); }
  // Whether forward's gate / up projection of `rows` rows reads x's rounding made ahead (rounded_rows.h).
  bool takes_rounded_rows(size_t rows) const { return gate_up_.takes_rounded_rows(rows); }

  // out [tokens, hidden] = down(act(gate(x)) * up(x)) for x [tokens, hidden]; `x_rounded`, when
  // given, holds x's rounding for a quantized gate / up.
  Status forward(Context& ctx, const Buffer& x, Buffer& out, size_t tokens, Scratch& scratch,
                 const RoundedRows<B>* x_rounded = nullptr) const {
    FERRUM_TRY(forward_partial(ctx, x, out, tokens, scratch, x_rounded));
    if (!sum_ranks_in_forward_) return ok();
    return B::all_reduce(ctx, out, tokens * down_.out_features(), ReduceOp::kSum);
  }

 private:
  // This rank's part of the output (the whole output with one rank).
  Status forward_partial(Context& ctx, const Buffer& x, Buffer& out, size_t tokens, Scratch& scratch,
                         const RoundedRows<B>* x_rounded) const {
    const size_t im = intermediate_size();
    [[maybe_unused]] const size_t hidden = down_.out_features();  // read by the fused path only
    const Activation act = activation_;
    if constexpr (requires(const Buffer& w) { B::gemm_gated(ctx, x, w, scratch.act, tokens, im, hidden, act); }) {
      // Backends with a fused gate / up kernel apply the activation on the way out (for decode
      // the [tokens, 2 im] intermediate never reaches memory).
      if (const Buffer* w = gate_up_.fused_dense_weight()) {
        FERRUM_TRY(B::gemm_gated(ctx, x, *w, scratch.act, tokens, im, hidden, act));
        return down_.forward(ctx, scratch.act, out, tokens);
      }
    }
    FERRUM_TRY(gate_up_.forward(ctx, x, scratch.gate_up, tokens, scratch.part, x_rounded));
    if constexpr (kHasRoundedRows<B>) {
      // A quantized down reads the activation's rounding, written by the activation kernel.
      if (RoundedRows<B>* act_rounded =
              rounding_for(scratch.act_rounded, tokens, im, down_.takes_rounded_rows(tokens))) {
        FERRUM_TRY(B::fused_act_mul_split_rounded(ctx, scratch.gate_up, scratch.act, tokens, im, act, *act_rounded));
        return down_.forward(ctx, scratch.act, out, tokens, act_rounded);
      }
    }
    FERRUM_TRY(B::fused_act_mul_split(ctx, scratch.gate_up, scratch.act, tokens, im, act));
    return down_.forward(ctx, scratch.act, out, tokens);
  }

 private:
  FusedProjection<B> gate_up_;
  Linear<B> down_;
  Activation activation_;
  bool sum_ranks_in_forward_ = false;  // routed experts are whole on their rank: their owner sums
};

}  // namespace ferrum
