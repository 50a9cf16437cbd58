// The end of a decoder: lm_head (or the tied embedding table) over the final-normed hidden states
// of the rows whose logits are wanted, with optional logit soft-capping. Rows go through one at a
// time so the scratch stays one vocabulary long however many logits are asked for.
//
// Tensor parallel: vocabulary-parallel. Each rank multiplies by its slice of lm_head's rows (or of
// the tied embedding table) and all_gather concatenates the slices in rank order, which is vocabulary
// order, so every rank ends with the whole row of logits. With one rank lm_head writes the row directly.
#pragma once

#include <memory>
#include <optional>
#include <span>

#include "models/linear.h"
#include "models/tensor_parallel.h"
#include "models/tracer.h"
#include "models/weight_loader.h"

namespace ferrum {

template <Backend B>
class OutputHead {
 public:
  using Buffer = typename B::Buffer;

  // `embed_tokens` [vocab, hidden] (this rank's vocabulary slice of it under tensor parallelism,
  // TokenEmbedding::table()) stands in for lm_head when the embeddings are tied and the checkpoint
  // has no lm_head of its own. softcap 0 = off.
  static Expected<OutputHead> load(const WeightLoader<B>& loader, bool tie_word_embeddings,
                                   const std::shared_ptr<const Buffer>& embed_tokens, size_t vocab_size,
                                   size_t hidden_size, float final_logit_softcap = 0.0f,
                                   const TensorParallel& tp = {}) {
    OutputHead head;
    head.vocab_size_ = vocab_size;
    head.hidden_size_ = hidden_size;
    head.softcap_ = final_logit_softcap;
    FERRUM_ASSIGN_OR_RETURN(ShareRange slice, even_share(vocab_size, tp.rank, tp.size, "lm_head (vocabulary)"));
    head.local_vocab_ = slice.size();
    if (tie_word_embeddings && !loader.contains("lm_head.weight")) {
      head.lm_head_.emplace("lm_head (tied to embed_tokens)", head.local_vocab_, hidden_size,
                            WeightLoader<B>::storage_for(embed_tokens));
    } else {
      FERRUM_ASSIGN_OR_RETURN(head.lm_head_,
                              loader.linear("lm_head", vocab_size, hidden_size, false, WeightSplit::rows(tp)));
    }
    FERRUM_ASSIGN_OR_RETURN(head.row_hidden_, B::alloc(hidden_size, B::kActivationDType));
    // Logits stay f32 whatever the activation dtype: sampling and log-probabilities need the precision.
    FERRUM_ASSIGN_OR_RETURN(head.row_logits_, B::alloc(vocab_size, DType::kF32));
    if (tp.sharded()) {
      FERRUM_ASSIGN_OR_RETURN(head.row_logits_slice_, B::alloc(head.local_vocab_, DType::kF32));
    }
    return head;
  }

  size_t weight_bytes() const { return lm_head_->weight_bytes(); }
  // This rank's share of the vocabulary (all of it without tensor parallelism).
  size_t local_vocab() const { return local_vocab_; }

  // normed [tokens, hidden]: the last row's logits, or every row's when all_logits, go to `logits`
  // from element logits_offset on, one vocabulary per row.
  Status write_logits(typename B::Context& ctx, const Buffer& normed, size_t tokens, bool all_logits, Buffer& logits,
                      size_t logits_offset, const Tracer& tracer) {
    if (tokens == 1 && logits_offset == 0) {
      // One row needs no staging: lm_head writes straight into the logits (tensor parallel: this
      // rank's slice, all-gathered into them).
      if (row_logits_slice_) {
        FERRUM_TRY(lm_head_->forward(ctx, normed, *row_logits_slice_, 1));
        FERRUM_TRY(B::all_gather(ctx, *row_logits_slice_, logits, local_vocab_));
      } else {
        FERRUM_TRY(lm_head_->forward(ctx, normed, logits, 1));
      }
      if (softcap_ > 0) FERRUM_TRY(B::softcap(ctx, logits, vocab_size_, softcap_));
      tracer.template trace<B>(ctx, "result_output", -1, logits, vocab_size_);
      return ok();
    }
    const size_t first_row = all_logits ? 0 : tokens - 1;
    for (size_t row = first_row; row < tokens; ++row) {
      FERRUM_TRY(B::copy_slice(ctx, normed, row * hidden_size_, row_hidden_, 0, hidden_size_));
      if (row_logits_slice_) {
        FERRUM_TRY(lm_head_->forward(ctx, row_hidden_, *row_logits_slice_, 1));
        FERRUM_TRY(B::all_gather(ctx, *row_logits_slice_, row_logits_, local_vocab_));
      } else {
        FERRUM_TRY(lm_head_->forward(ctx, row_hidden_, row_logits_, 1));
      }
      if (softcap_ > 0) FERRUM_TRY(B::softcap(ctx, row_logits_, vocab_size_, softcap_));
      tracer.template trace<B>(ctx, "result_output", -1, row_logits_, vocab_size_);
      FERRUM_TRY(
          B::copy_slice(ctx, row_logits_, 0, logits, logits_offset + (row - first_row) * vocab_size_, vocab_size_));
    }
    return ok();
  }

  // Logits of `rows` rows of normed [tokens, hidden], picked by row_ids (i32 on the device, as a
  // batch's metadata holds them), to logits [rows, vocab] (f32): the rows are gathered into
  // `gathered` ([rows, hidden] of scratch) so lm_head runs as one GEMM over all of them (a batch of
  // decodes reads the vocabulary matrix once, not once per row).
  // Tensor parallel: each rank's [rows, vocab / N] slice is gathered rank-major and then placed in
  // its columns of the [rows, vocab] result; with `local_slice` the slice alone goes to logits
  // ([rows, local_vocab()], no collective).
  Status write_logits_rows(typename B::Context& ctx, const Buffer& normed, const Buffer& row_ids, size_t rows,
                           Buffer& gathered, Buffer& logits, const Tracer& tracer, bool local_slice = false) {
    if (rows == 0) return ok();
    FERRUM_TRY(B::gather_rows(ctx, normed, row_ids, rows, gathered, hidden_size_));
    if (row_logits_slice_ && local_slice) {
      FERRUM_TRY(lm_head_->forward(ctx, gathered, logits, rows));
      if (softcap_ > 0) FERRUM_TRY(B::softcap(ctx, logits, rows * local_vocab_, softcap_));
      tracer.template trace<B>(ctx, "result_output_slice", -1, logits, rows * local_vocab_);
      return ok();
    }
    if (row_logits_slice_) {
      FERRUM_TRY(write_sharded_logits(ctx, gathered, logits, rows));
    } else {
      FERRUM_TRY(lm_head_->forward(ctx, gathered, logits, rows));
    }
    if (softcap_ > 0) FERRUM_TRY(B::softcap(ctx, logits, rows * vocab_size_, softcap_));
    tracer.template trace<B>(ctx, "result_output", -1, logits, rows * vocab_size_);
    return ok();
  }

 private:
  Status write_sharded_logits(typename B::Context& ctx, const Buffer& hidden, Buffer& logits, size_t rows) {
    const size_t ranks = vocab_size_ / local_vocab_;
    if (!batch_slices_ || batch_slices_->numel() < rows * local_vocab_) {
      FERRUM_ASSIGN_OR_RETURN(batch_slices_, B::alloc(rows * local_vocab_, DType::kF32));
      FERRUM_ASSIGN_OR_RETURN(batch_gathered_, B::alloc(ranks * rows * local_vocab_, DType::kF32));
    }
    FERRUM_TRY(lm_head_->forward(ctx, hidden, *batch_slices_, rows));
    FERRUM_TRY(B::all_gather(ctx, *batch_slices_, *batch_gathered_, rows * local_vocab_));
    for (size_t rank = 0; rank < ranks; ++rank) {
      FERRUM_TRY(B::copy_2d(ctx, *batch_gathered_, rank * rows * local_vocab_, local_vocab_, logits,
                            rank * local_vocab_, vocab_size_, rows, local_vocab_));
    }
    return ok();
  }

  size_t vocab_size_ = 0;
  size_t local_vocab_ = 0;
  size_t hidden_size_ = 0;
  float softcap_ = 0.0f;
  std::optional<Linear<B>> lm_head_;
  Buffer row_hidden_, row_logits_;
  std::optional<Buffer> row_logits_slice_;               // this rank's logits before all_gather (tensor parallel only)
  std::optional<Buffer> batch_slices_, batch_gathered_;  // the same for write_logits_rows, grown as needed
};

}  // namespace ferrum
