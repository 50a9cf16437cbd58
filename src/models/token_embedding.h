// The token embedding of a decoder, vocabulary-parallel under tensor parallelism: each rank holds
// the rows of its slice of the vocabulary and looks up zeros for a token outside it, so after
// all_reduce (a sum over ranks) every token's row comes from exactly the one rank that holds it.
// With one rank the table is the stored one (borrowed in place on the CPU) and forward is a single
// embedding_lookup.
//
// The rank's slice doubles as its part of a tied lm_head (OutputHead reads `table()`).
#pragma once

#include <memory>
#include <span>
#include <string>

#include "models/tensor_parallel.h"
#include "models/weight_loader.h"

namespace ferrum {

template <Backend B>
class TokenEmbedding {
 public:
  using Buffer = typename B::Buffer;

  // `name`: the stored [vocab, hidden] table ("model.embed_tokens.weight").
  static Expected<TokenEmbedding> load(const WeightLoader<B>& loader, const std::string& name, size_t vocab,
                                       size_t hidden, const TensorParallel& tp) {
    TokenEmbedding embedding;
    embedding.hidden_ = hidden;
    embedding.tp_ = tp;
    if (!tp.sharded()) {
      embedding.local_vocab_ = vocab;
      FERRUM_ASSIGN_OR_RETURN(embedding.table_, loader.matrix(name, vocab, hidden));
      return embedding;
    }
    FERRUM_ASSIGN_OR_RETURN(ShareRange slice, even_share(vocab, tp.rank, tp.size, name + " (vocabulary)"));
    embedding.first_id_ = slice.begin;
    embedding.local_vocab_ = slice.size();
    FERRUM_ASSIGN_OR_RETURN(embedding.table_, loader.matrix(name, vocab, hidden, WeightSplit::rows(tp)));
    return embedding;
  }

  // out [tokens, hidden] = the embedding of every token (ids already checked against the vocabulary).
  Status forward(typename B::Context& ctx, std::span<const uint32_t> tokens, Buffer& out) {
    if (!tp_.sharded()) return B::embedding_lookup(ctx, *table_, tokens, out, hidden_);
    FERRUM_TRY(B::embedding_lookup_slice(ctx, *table_, tokens, first_id_, out, hidden_));
    return B::all_reduce(ctx, out, tokens.size() * hidden_, ReduceOp::kSum);
  }

  // The serving engine's form: the ids are also in device memory (`device_ids`, i32), so the lookup
  // reads no host data and a decode step can be captured as a graph.
  Status forward_rows(typename B::Context& ctx, std::span<const uint32_t> tokens, const Buffer& device_ids,
                      Buffer& out) {
    if (!tp_.sharded()) return B::gather_rows(ctx, *table_, device_ids, tokens.size(), out, hidden_);
    FERRUM_TRY(B::gather_rows_slice(ctx, *table_, device_ids, tokens.size(), first_id_, out, hidden_));
    return B::all_reduce(ctx, out, tokens.size() * hidden_, ReduceOp::kSum);
  }

  // This rank's rows of the table, [local_vocab(), hidden].
  const std::shared_ptr<const Buffer>& table() const { return table_; }
  size_t local_vocab() const { return local_vocab_; }

 private:
  std::shared_ptr<const Buffer> table_;
  size_t hidden_ = 0;
  size_t first_id_ = 0;
  size_t local_vocab_ = 0;
  TensorParallel tp_;
};

}  // namespace ferrum
