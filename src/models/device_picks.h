// Picking each logits row's token on the device after a batched forward, so that one id per row
// (and the log-probabilities asked for) comes back instead of a vocabulary of logits: the
// requests' penalties and logit bias as sparse adjustments, the greedy pick or the draw, and the
// log-probabilities of the chosen and the most likely tokens under the raw logits.
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "models/forward_batch.h"

namespace ferrum {

// What forward_batch_sample picks with, for batch.logits_rows in order.
struct BatchSampling {
  std::span<const RowSampling> rows;             // one per logits row (temperature 0: greedy)
  std::span<const LogitAdjustment> adjustments;  // penalties and bias; entry rows index `rows`
  size_t top_logprobs = 0;                       // per row: the n most likely tokens, with log-probabilities
  bool logprobs = false;                         // per row: the chosen token's log-probability
};

// forward_batch_sample's answer, in host memory the model owns until its next call. The
// log-probabilities describe the raw logits: before adjustments, temperature and truncation.
struct BatchPicks {
  std::span<const int32_t> ids;            // [rows]
  std::span<const float> chosen_logprobs;  // [rows] when asked, else empty
  std::span<const int32_t> top_ids;        // [rows, top_logprobs], most likely first (lowest id among equals)
  std::span<const float> top_logprobs;     // [rows, top_logprobs]
};

// The ops that follow a forward to pick its tokens. A captured graph holds one plan.
struct PickPlan {
  bool draw = false;    // sample_rows with each row's parameters; else argmax_rows
  bool adjust = false;  // adjust_logits before the pick
  bool logprobs = false;
  size_t top_logprobs = 0;
  // The argmax of logits split over this many tensor-parallel ranks (PagedStep::local_logits):
  // each rank's top pick of its vocabulary slice, all-gathered, then argmax_gathered. 0: the rows
  // are whole.
  size_t gathered_ranks = 0;

  auto operator<=>(const PickPlan&) const = default;

  // No sampling: the greedy pick alone (forward_batch_argmax).
  static PickPlan of(const BatchSampling* sampling) {
    if (sampling == nullptr) return {};
    const bool draw = std::any_of(sampling->rows.begin(), sampling->rows.end(),
                                  [](const RowSampling& row) { return row.temperature > 0.0f; });
    return {draw, !sampling->adjustments.empty(), sampling->logprobs, sampling->top_logprobs};
  }
  bool wants_logprobs() const { return logprobs || top_logprobs > 0; }
};

// The device buffers of the picks and the ops that fill them. Buffers grow to the largest step
// seen; generation() counts the times one moved, so a graph captured over older addresses can
// tell that it must be captured again.
template <Backend B>
class DevicePicker {
 public:
  using Buffer = typename B::Buffer;
  using Context = typename B::Context;

  // Room for `rows` rows of `plan` over `vocab` columns, and for `entries` adjustments.
  Status reserve(const PickPlan& plan, size_t rows, size_t entries, size_t vocab) {
    FERRUM_TRY(grow(ids_, rows, DType::kI32));
    if (plan.gathered_ranks > 0) {
      FERRUM_TRY(grow(slice_values_, rows, DType::kF32));
      FERRUM_TRY(grow(slice_ids_, rows, DType::kI32));
      FERRUM_TRY(grow(gathered_values_, plan.gathered_ranks * rows, DType::kF32));
      FERRUM_TRY(grow(gathered_ids_, plan.gathered_ranks * rows, DType::kI32));
    }
    if (plan.draw) FERRUM_TRY(grow(params_, rows * kRowSamplingFields, DType::kF32));
    if (plan.adjust) {
      FERRUM_TRY(grow(adjustments_, (1 + std::max<size_t>(entries, 1024)) * kLogitAdjustmentWords, DType::kI32,
                      kLogitAdjustmentWords));
    }
    if (plan.adjust && plan.wants_logprobs()) FERRUM_TRY(grow(raw_logits_, rows * vocab, DType::kF32));
    if (plan.logprobs) FERRUM_TRY(grow(chosen_logprobs_, rows, DType::kF32));
    if (plan.top_logprobs > 0) {
      FERRUM_TRY(grow(top_ids_, rows * plan.top_logprobs, DType::kI32));
      FERRUM_TRY(grow(top_values_, rows * plan.top_logprobs, DType::kF32));
      FERRUM_TRY(grow(top_logprobs_, rows * plan.top_logprobs, DType::kF32));
    }
    return ok();
  }
  size_t generation() const { return generation_; }

  // This step's parameters (padded with greedy rows to `rows`) and adjustments onto the device, in
  // order with ctx's work. reserve() made room for them.
  Status upload(Context& ctx, const BatchSampling& sampling, size_t rows) {
    const PickPlan plan = PickPlan::of(&sampling);
    if (plan.draw) {
      host_params_.assign(sampling.rows.begin(), sampling.rows.end());
      host_params_.resize(rows);
      FERRUM_TRY(B::copy_from_host(ctx, host_bytes(host_params_), *params_, 0));
    }
    if (plan.adjust) {
      host_adjustments_.assign(1, LogitAdjustment{static_cast<int32_t>(sampling.adjustments.size()), 0, 0.0f, 0.0f});
      host_adjustments_.insert(host_adjustments_.end(), sampling.adjustments.begin(), sampling.adjustments.end());
      FERRUM_TRY(B::copy_from_host(ctx, host_bytes(host_adjustments_), *adjustments_, 0));
    }
    return ok();
  }

  // The plan's ops over logits [rows, vocab] on ctx; the log-probabilities read the raw logits (a
  // copy taken before the adjustments, when there are some). A gathered plan reads [rows, vocab /
  // gathered_ranks], this rank's slice, and runs collectives: every rank of the group picks.
  Status pick(Context& ctx, Buffer& logits, const PickPlan& plan, size_t rows, size_t vocab) {
    if (plan.gathered_ranks > 0) return pick_gathered(ctx, logits, plan.gathered_ranks, rows, vocab);
    Buffer* raw = &logits;
    if (plan.adjust && plan.wants_logprobs()) {
      FERRUM_TRY(B::copy_slice(ctx, logits, 0, *raw_logits_, 0, rows * vocab));
      raw = raw_logits_.get();
    }
    if (plan.top_logprobs > 0)
      FERRUM_TRY(B::topk_rows(ctx, *raw, *top_values_, *top_ids_, rows, vocab, plan.top_logprobs));
    if (plan.adjust) FERRUM_TRY(B::adjust_logits(ctx, logits, *adjustments_, rows, vocab));
    FERRUM_TRY(plan.draw ? B::sample_rows(ctx, logits, *params_, *ids_, rows, vocab)
                         : B::argmax_rows(ctx, logits, *ids_, rows, vocab));
    if (plan.logprobs) FERRUM_TRY(B::log_softmax_at(ctx, *raw, *ids_, *chosen_logprobs_, rows, vocab, 1));
    if (plan.top_logprobs > 0) {
      FERRUM_TRY(B::log_softmax_at(ctx, *raw, *top_ids_, *top_logprobs_, rows, vocab, plan.top_logprobs));
    }
    return ok();
  }

  // The first `rows` rows' picks, once ctx's work is done (synced).
  Expected<BatchPicks> download(const PickPlan& plan, size_t rows) {
    host_ids_.resize(rows);
    FERRUM_TRY(to_host(*ids_, host_ids_));
    // argmax_gathered on a device answers -1 for a rank's pick outside its slice (a bug, not input).
    if (plan.gathered_ranks > 0) {
      for (int32_t id : host_ids_) {
        FERRUM_CHECK(id >= 0, ErrorCode::kInternal, "a device pick came back as ", id,
                     ": the ranks' picks do not match their vocabulary slices");
      }
    }
    BatchPicks picks{.ids = host_ids_};
    if (plan.logprobs) {
      host_chosen_.resize(rows);
      FERRUM_TRY(to_host(*chosen_logprobs_, host_chosen_));
      picks.chosen_logprobs = host_chosen_;
    }
    if (plan.top_logprobs > 0) {
      host_top_ids_.resize(rows * plan.top_logprobs);
      host_top_logprobs_.resize(rows * plan.top_logprobs);
      FERRUM_TRY(to_host(*top_ids_, host_top_ids_));
      FERRUM_TRY(to_host(*top_logprobs_, host_top_logprobs_));
      picks.top_ids = host_top_ids_;
      picks.top_logprobs = host_top_logprobs_;
    }
    return picks;
  }

 private:
  // A gathered plan's pick: this rank's top pick of each row's slice [rows, vocab / ranks], every
  // rank's all-gathered, argmax_gathered over them.
  Status pick_gathered(Context& ctx, Buffer& slices, size_t ranks, size_t rows, size_t vocab) {
    if constexpr (B::kGatheredArgmax) {
      const size_t cols = vocab / ranks;
      FERRUM_TRY(B::topk_rows(ctx, slices, *slice_values_, *slice_ids_, rows, cols, 1));
      FERRUM_TRY(B::all_gather(ctx, *slice_values_, *gathered_values_, rows));
      FERRUM_TRY(B::all_gather(ctx, *slice_ids_, *gathered_ids_, rows));
      return B::argmax_gathered(ctx, *gathered_values_, *gathered_ids_, *ids_, ranks, rows, cols);
    } else {
      return make_error(ErrorCode::kUnsupported, "a tensor-parallel argmax needs argmax_gathered (", ranks, " ranks, ",
                        rows, " rows, ", vocab, " columns)");
    }
  }

  // Grows `buffer` to at least numel elements, a whole number of `unit`s; half again more, so
  // slowly growing steps settle.
  Status grow(std::unique_ptr<Buffer>& buffer, size_t numel, DType dtype, size_t unit = 1) {
    if (buffer && buffer->numel() >= numel) return ok();
    const size_t units = (std::max<size_t>(numel + numel / 2, 64) + unit - 1) / unit;
    FERRUM_ASSIGN_OR_RETURN(auto grown, B::alloc(units * unit, dtype));
    buffer = std::make_unique<Buffer>(std::move(grown));
    ++generation_;
    return ok();
  }

  template <class T>
  static Status to_host(const Buffer& buffer, std::vector<T>& out) {
    if (out.empty()) return ok();
    return B::to_host(buffer, std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size() * sizeof(T)));
  }

  std::unique_ptr<Buffer> ids_, params_, adjustments_, raw_logits_, chosen_logprobs_, top_ids_, top_values_,
      top_logprobs_;
  std::unique_ptr<Buffer> slice_values_, slice_ids_, gathered_values_, gathered_ids_;  // gathered plans
  size_t generation_ = 0;
  std::vector<RowSampling> host_params_;
  std::vector<LogitAdjustment> host_adjustments_;
  std::vector<int32_t> host_ids_, host_top_ids_;
  std::vector<float> host_chosen_, host_top_logprobs_;
};

}  // namespace ferrum
