// Tensor parallelism in the model layer: which rank of how many this copy of the model is, and how
// that decides the part of each weight it loads. The backend's collectives (all_reduce,
// all_gather) join the parts at run time; with one rank every split below is the whole tensor and
// the collectives are identities, so single-rank models pay nothing.
//
// Sharding rules (docs/tensor-parallel.md has the full table):
//   column-parallel (split rows = output features): q / k / v, gate / up, lm_head (vocabulary)
//   row-parallel (split columns = input features) + all_reduce: o_proj, down_proj
//   vocabulary-parallel embedding: a slice of the table's rows; other ids give zeros; all_reduce
//   MoE: whole experts per rank (expert parallel); MLA: heads.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ferrum {

struct TensorParallel {
  size_t rank = 0;
  size_t size = 1;

  bool sharded() const { return size > 1; }
};

// [begin, end) of one part when `count` things are split into equal parts.
struct ShareRange {
  size_t begin = 0;
  size_t end = 0;
  size_t size() const { return end - begin; }
};

// Part `index` of `count` split into `parts` equal parts; an error naming `what` when `count` is
// not a multiple of `parts`.
inline Expected<ShareRange> even_share(size_t count, size_t index, size_t parts, std::string_view what) {
  FERRUM_CHECK(parts > 0 && index < parts, ErrorCode::kInvalidArgument, what, ": part ", index, " of ", parts);
  FERRUM_CHECK(count % parts == 0, ErrorCode::kInvalidArgument, what, ": ", count, " cannot be split evenly over ",
               parts, " tensor-parallel ranks");
  const size_t share = count / parts;
  return ShareRange{index * share, (index + 1) * share};
}

// Which part of a stored [out_features, in_features] weight a rank loads: part `index` of `parts`
// equal parts of its rows (output features: a column-parallel layer) or of its columns (input
// features: a row-parallel layer, whose partial outputs are summed by all_reduce).
struct WeightSplit {
  enum class Axis { kNone, kRows, kColumns };
  Axis axis = Axis::kNone;
  size_t index = 0;
  size_t parts = 1;

  static WeightSplit rows(size_t index, size_t parts) { return {Axis::kRows, index, parts}; }
  static WeightSplit columns(size_t index, size_t parts) { return {Axis::kColumns, index, parts}; }
  static WeightSplit rows(TensorParallel tp) { return rows(tp.rank, tp.size); }
  static WeightSplit columns(TensorParallel tp) { return columns(tp.rank, tp.size); }

  bool splits() const { return axis != Axis::kNone && parts > 1; }
  // This part's [rows, columns] of a stored [rows, columns] matrix.
  size_t local_rows(size_t rows) const { return axis == Axis::kRows ? rows / parts : rows; }
  size_t local_columns(size_t columns) const { return axis == Axis::kColumns ? columns / parts : columns; }
};

// How attention heads spread over ranks. Query heads split evenly. KV heads split evenly too when
// there are at least as many as ranks; with fewer (Mistral's or Gemma's single KV head over two
// ranks), each rank keeps a copy of the one KV head its query heads read.
struct HeadSplit {
  size_t local_heads = 0;
  size_t local_kv_heads = 0;
  WeightSplit q;   // rows of q_proj (and of the output projection's columns)
  WeightSplit kv;  // rows of k_proj / v_proj

  static Expected<HeadSplit> of(size_t heads, size_t kv_heads, TensorParallel tp, std::string_view what) {
    FERRUM_CHECK(heads % tp.size == 0, ErrorCode::kInvalidArgument, what, ": ", heads,
                 " attention heads cannot be split evenly over ", tp.size, " tensor-parallel ranks");
    HeadSplit split;
    split.local_heads = heads / tp.size;
    split.q = WeightSplit::rows(tp);
    if (kv_heads >= tp.size) {
      FERRUM_CHECK(kv_heads % tp.size == 0, ErrorCode::kInvalidArgument, what, ": ", kv_heads,
                   " KV heads cannot be split evenly over ", tp.size, " tensor-parallel ranks");
      split.local_kv_heads = kv_heads / tp.size;
      split.kv = WeightSplit::rows(tp);
    } else {
      FERRUM_CHECK(tp.size % kv_heads == 0, ErrorCode::kInvalidArgument, what, ": ", kv_heads, " KV heads over ",
                   tp.size, " tensor-parallel ranks: the ranks must be a multiple of the KV heads to share them");
      const size_t ranks_per_kv_head = tp.size / kv_heads;
      split.local_kv_heads = 1;
      split.kv = WeightSplit::rows(tp.rank / ranks_per_kv_head, kv_heads);
    }
    if (!tp.sharded()) split.q = split.kv = WeightSplit{};
    return split;
  }
};

}  // namespace ferrum
