// Cutting one rank's part out of a stored weight (tensor_parallel.h says which part).
//
// Dense and GGUF matrices: a range of rows is a view into the mapped file (nothing copied; the CPU
// backend still borrows it in place); a range of columns is copied row by row, and for GGUF block
// types must start and end on block boundaries. GPTQ / AWQ: the packed integers, zero points and
// scales are cut along the packing and group boundaries. Every cut that would split a packed word,
// a block or a quantization group is refused with an error naming the tensor and the numbers.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "models/tensor_parallel.h"
#include "models/weight_source.h"

namespace ferrum {

// Part `split` of a [rows, columns] matrix (dense float or GGUF blocks).
Expected<WeightTensor> slice_matrix(const WeightTensor& tensor, const WeightSplit& split, const std::string& name);

// The tensors of one GPTQ / AWQ layer (g_idx: null data when absent).
struct GroupQuantTensors {
  TensorView qweight, qzeros, scales, g_idx;
};

enum class PackedQuantLayout { kGptq, kAwq };

// One rank's part of a GPTQ / AWQ layer, owning whatever had to be copied.
struct SlicedGroupQuant {
  GroupQuantTensors tensors;
  std::vector<std::shared_ptr<const void>> storage;
};

// Part `split` of a layer of [out_features, in_features] with `bits` and `group_size` (0: one group).
//   GPTQ  qweight i32 [in / pf, out], qzeros i32 [groups, out / pf], scales [groups, out], g_idx [in]
//   AWQ   qweight i32 [in, out / 8],  qzeros i32 [groups, out / 8],  scales [groups, out]
// (pf = 32 / bits). Act-order g_idx: the part's channels keep their groups, renumbered; a part
// whose channels touch more groups than its share of the rows can hold is refused.
Expected<SlicedGroupQuant> slice_group_quantized(PackedQuantLayout layout, uint32_t bits, size_t group_size,
                                                 const GroupQuantTensors& tensors, size_t out_features,
                                                 size_t in_features, const WeightSplit& split, const std::string& name);

// Layers applied to one input (q / k / v, gate / up) as one GPTQ / AWQ layer whose outputs are the
// parts' side by side: every tensor but g_idx has its columns concatenated, and g_idx is shared.
// nullopt where the parts cannot be one layer: tensors of different dtypes or row counts, act-order
// g_idx that differ, or a part whose outputs do not fill whole packed words (`bits` 2, 4 or 8).
Expected<std::optional<SlicedGroupQuant>> concat_group_quantized_outputs(std::span<const SlicedGroupQuant> parts,
                                                                         uint32_t bits);

}  // namespace ferrum
