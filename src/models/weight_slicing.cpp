#include "models/weight_slicing.h"

#include <algorithm>
#include <cstring>

#include "core/thread_pool.h"

namespace ferrum {
namespace {

struct Owned {
  std::shared_ptr<uint8_t[]> bytes;  // not zeroed first: every byte is copied over
  TensorView view;
};

// Rows [r0, r1) x columns [c0, c1) of a contiguous [rows, columns] matrix, copied. Columns are in
// values; for block types they must fall on block boundaries.
Expected<Owned> copy_region(const TensorView& view, size_t r0, size_t r1, size_t c0, size_t c1,
                            const std::string& name) {
  FERRUM_CHECK(view.shape().rank() == 2 && view.is_contiguous(), ErrorCode::kUnsupported, name, ": a ",
               view.shape().to_string(), " tensor cannot be split (a contiguous matrix is needed)");
  const DTypeInfo& info = dtype_info(view.dtype());
  const auto columns = static_cast<size_t>(view.shape()[1]);
  FERRUM_CHECK(c0 % info.block_elems == 0 && c1 % info.block_elems == 0, ErrorCode::kUnsupported, name,
               ": this rank's columns [", c0, ", ", c1, ") of ", columns, " cut through ", info.name, " blocks of ",
               info.block_elems, " values; splitting it needs the per-rank input size to be a multiple of ",
               info.block_elems);
  const size_t row_bytes = columns / info.block_elems * info.block_bytes;
  const size_t first_byte = c0 / info.block_elems * info.block_bytes;
  const size_t copied_bytes = (c1 - c0) / info.block_elems * info.block_bytes;
  Owned owned;
  owned.bytes = std::make_shared_for_overwrite<uint8_t[]>((r1 - r0) * copied_bytes);
  const auto* source = static_cast<const uint8_t*>(view.data());
  for (size_t row = r0; row < r1; ++row) {
    std::memcpy(owned.bytes.get() + (row - r0) * copied_bytes, source + row * row_bytes + first_byte, copied_bytes);
  }
  owned.view =
      TensorView(owned.bytes.get(), view.dtype(), Shape{static_cast<int64_t>(r1 - r0), static_cast<int64_t>(c1 - c0)});
  return owned;
}

Expected<Owned> copy_rows(const TensorView& view, ShareRange rows, const std::string& name) {
  return copy_region(view, rows.begin, rows.end, 0, static_cast<size_t>(view.shape()[1]), name);
}

Expected<Owned> copy_columns(const TensorView& view, ShareRange columns, const std::string& name) {
  return copy_region(view, 0, static_cast<size_t>(view.shape()[0]), columns.begin, columns.end, name);
}

Status check_multiple(size_t value, size_t unit, const std::string& name, std::string_view what) {
  FERRUM_CHECK(unit == 0 || value % unit == 0, ErrorCode::kUnsupported, name, ": ", what, " (", value,
               ") is not a multiple of ", unit, ", so the split would cut through packed values or a group");
  return ok();
}

// Act-order GPTQ: the part's channels keep their own groups. Those groups are gathered (in
// increasing order) into the part's scales / zeros, padded to the row count the part's shape
// implies, and g_idx is renumbered to match.
Status slice_act_order_groups(SlicedGroupQuant& part, const GroupQuantTensors& tensors, ShareRange channels,
                              size_t local_groups, const std::string& name) {
  std::vector<int32_t> g_idx(channels.size());
  std::memcpy(g_idx.data(), tensors.g_idx.data_as<uint8_t>() + channels.begin * sizeof(int32_t),
              g_idx.size() * sizeof(int32_t));
  std::vector<int32_t> used(g_idx);
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  FERRUM_CHECK(used.size() <= local_groups, ErrorCode::kUnsupported, name, ": with act-order (desc_act) the ",
               channels.size(), " input channels of this rank's part belong to ", used.size(),
               " groups, more than the ", local_groups,
               " rows its scales can hold; this checkpoint cannot be split along its input dimension");
  for (int32_t& group : g_idx) {
    group = static_cast<int32_t>(std::lower_bound(used.begin(), used.end(), group) - used.begin());
  }
  for (const TensorView* source : {&tensors.scales, &tensors.qzeros}) {
    const size_t row_bytes = static_cast<size_t>(source->shape()[1]) * dtype_info(source->dtype()).block_bytes;
    auto bytes = std::make_shared<std::vector<uint8_t>>(local_groups * row_bytes);
    // Rows past the used groups are never read; they repeat the first so they hold valid values
    // (a GPTQ v2 zero point of 0 would be refused by the v1 conversion).
    for (size_t i = 0; i < local_groups; ++i) {
      const size_t group = static_cast<size_t>(used[i < used.size() ? i : 0]);
      std::memcpy(bytes->data() + i * row_bytes, source->data_as<uint8_t>() + group * row_bytes, row_bytes);
    }
    TensorView view(bytes->data(), source->dtype(),
                    Shape{static_cast<int64_t>(local_groups), static_cast<int64_t>(source->shape()[1])});
    (source == &tensors.scales ? part.tensors.scales : part.tensors.qzeros) = view;
    part.storage.push_back(bytes);
  }
  auto bytes = std::make_shared<std::vector<uint8_t>>(g_idx.size() * sizeof(int32_t));
  std::memcpy(bytes->data(), g_idx.data(), bytes->size());
  part.tensors.g_idx = TensorView(bytes->data(), DType::kI32, Shape{static_cast<int64_t>(g_idx.size())});
  part.storage.push_back(bytes);
  return ok();
}

}  // namespace

Expected<WeightTensor> slice_matrix(const WeightTensor& tensor, const WeightSplit& split, const std::string& name) {
  if (!split.splits()) return tensor;
  const TensorView& view = tensor.view;
  FERRUM_CHECK(view.shape().rank() == 2 && view.is_contiguous(), ErrorCode::kUnsupported, name, ": a ",
               view.shape().to_string(), " tensor cannot be split (a contiguous matrix is needed)");
  const auto rows = static_cast<size_t>(view.shape()[0]);
  const auto columns = static_cast<size_t>(view.shape()[1]);
  if (split.axis == WeightSplit::Axis::kRows) {
    FERRUM_ASSIGN_OR_RETURN(ShareRange part, even_share(rows, split.index, split.parts, name + " rows"));
    // Whole rows are contiguous: a view into the same mapping.
    const size_t row_bytes = row_bytes_unchecked(view.dtype(), columns);
    const TensorView slice(view.data_as<uint8_t>() + part.begin * row_bytes, view.dtype(),
                           Shape{static_cast<int64_t>(part.size()), static_cast<int64_t>(columns)});
    return WeightTensor{slice, tensor.keep_alive};
  }
  FERRUM_ASSIGN_OR_RETURN(ShareRange part, even_share(columns, split.index, split.parts, name + " columns"));
  FERRUM_ASSIGN_OR_RETURN(Owned owned, copy_columns(view, part, name));
  return WeightTensor{owned.view, owned.bytes};
}

Expected<SlicedGroupQuant> slice_group_quantized(PackedQuantLayout layout, uint32_t bits, size_t group_size,
                                                 const GroupQuantTensors& tensors, size_t out_features,
                                                 size_t in_features, const WeightSplit& split,
                                                 const std::string& name) {
  SlicedGroupQuant part;
  part.tensors = tensors;
  if (!split.splits()) return part;
  FERRUM_CHECK(bits == 2 || bits == 4 || bits == 8, ErrorCode::kUnsupported, name, ": ", bits,
               "-bit packing cannot be split");
  const size_t per_word = 32 / bits;
  const bool gptq = layout == PackedQuantLayout::kGptq;
  const auto keep = [&](Owned owned, TensorView& slot) {
    slot = owned.view;
    part.storage.push_back(owned.bytes);
  };

  if (split.axis == WeightSplit::Axis::kRows) {
    // Output features: columns of every tensor but g_idx, along the zero points' packing.
    FERRUM_ASSIGN_OR_RETURN(ShareRange outputs, even_share(out_features, split.index, split.parts, name + " outputs"));
    FERRUM_TRY(check_multiple(outputs.begin, per_word, name, "the first output feature of this rank's part"));
    FERRUM_TRY(check_multiple(outputs.size(), per_word, name, "the output features per rank"));
    const ShareRange packed{outputs.begin / per_word, outputs.end / per_word};
    FERRUM_ASSIGN_OR_RETURN(Owned qweight, copy_columns(tensors.qweight, gptq ? outputs : packed, name + ".qweight"));
    FERRUM_ASSIGN_OR_RETURN(Owned qzeros, copy_columns(tensors.qzeros, packed, name + ".qzeros"));
    FERRUM_ASSIGN_OR_RETURN(Owned scales, copy_columns(tensors.scales, outputs, name + ".scales"));
    keep(std::move(qweight), part.tensors.qweight);
    keep(std::move(qzeros), part.tensors.qzeros);
    keep(std::move(scales), part.tensors.scales);
    return part;
  }

  // Input features: rows of qweight (packed along them for GPTQ) and of the groups.
  FERRUM_ASSIGN_OR_RETURN(ShareRange channels, even_share(in_features, split.index, split.parts, name + " inputs"));
  if (gptq) FERRUM_TRY(check_multiple(channels.size(), per_word, name, "the input features per rank"));
  const ShareRange qweight_rows = gptq ? ShareRange{channels.begin / per_word, channels.end / per_word} : channels;
  FERRUM_ASSIGN_OR_RETURN(Owned qweight, copy_rows(tensors.qweight, qweight_rows, name + ".qweight"));
  keep(std::move(qweight), part.tensors.qweight);
  if (group_size != 0) FERRUM_TRY(check_multiple(channels.size(), group_size, name, "the input features per rank"));
  const size_t local_groups = group_size == 0 ? 1 : channels.size() / group_size;
  if (tensors.g_idx.data() != nullptr) {
    FERRUM_TRY(slice_act_order_groups(part, tensors, channels, local_groups, name));
    return part;
  }
  if (group_size == 0) return part;  // one group over every channel: scales and zeros stay whole
  const ShareRange groups{channels.begin / group_size, channels.end / group_size};
  FERRUM_ASSIGN_OR_RETURN(Owned qzeros, copy_rows(tensors.qzeros, groups, name + ".qzeros"));
  FERRUM_ASSIGN_OR_RETURN(Owned scales, copy_rows(tensors.scales, groups, name + ".scales"));
  keep(std::move(qzeros), part.tensors.qzeros);
  keep(std::move(scales), part.tensors.scales);
  return part;
}

namespace {

// Whether `views` can stand side by side: contiguous matrices of one dtype and one row count.
bool side_by_side(std::span<const TensorView* const> views) {
  const TensorView& first = *views.front();
  return std::all_of(views.begin(), views.end(), [&](const TensorView* view) {
    return view->shape().rank() == 2 && view->is_contiguous() && view->dtype() == first.dtype() &&
           view->shape()[0] == first.shape()[0];
  });
}

// The matrices `views` (side_by_side) joined along their columns.
Owned concat_columns(std::span<const TensorView* const> views) {
  const auto rows = static_cast<size_t>(views.front()->shape()[0]);
  const size_t element = dtype_info(views.front()->dtype()).block_bytes;
  size_t columns = 0;
  for (const TensorView* view : views) columns += static_cast<size_t>(view->shape()[1]);
  Owned owned;
  owned.bytes = std::make_shared_for_overwrite<uint8_t[]>(rows * columns * element);
  // Rows over the default pool: an 8B checkpoint joins ~2 GB of q / k / v and gate / up words at
  // load, which one thread used to copy alone.
  const size_t out_row_bytes = columns * element;
  default_thread_pool().parallel_for(rows, 64, [&](size_t begin, size_t end) {
    size_t offset = 0;  // bytes into an output row
    for (const TensorView* view : views) {
      const size_t row_bytes = static_cast<size_t>(view->shape()[1]) * element;
      for (size_t row = begin; row < end; ++row) {
        std::memcpy(owned.bytes.get() + row * out_row_bytes + offset, view->data_as<uint8_t>() + row * row_bytes,
                    row_bytes);
      }
      offset += row_bytes;
    }
  });
  owned.view = TensorView(owned.bytes.get(), views.front()->dtype(),
                          Shape{static_cast<int64_t>(rows), static_cast<int64_t>(columns)});
  return owned;
}

bool same_g_idx(const TensorView& a, const TensorView& b) {
  if (a.data() == nullptr || b.data() == nullptr) return a.data() == b.data();
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous() &&
         std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

}  // namespace

Expected<std::optional<SlicedGroupQuant>> concat_group_quantized_outputs(std::span<const SlicedGroupQuant> parts,
                                                                         uint32_t bits) {
  if (parts.empty() || (bits != 2 && bits != 4 && bits != 8)) return std::nullopt;
  const size_t per_word = 32 / bits;
  SlicedGroupQuant joined;
  std::vector<const TensorView*> qweight, qzeros, scales;
  for (const SlicedGroupQuant& part : parts) {
    const GroupQuantTensors& t = part.tensors;
    // A part's zero points fill whole words only when its outputs are a multiple of per_word
    // (scales hold one value per output).
    if (t.scales.shape().rank() != 2 || static_cast<size_t>(t.scales.shape()[1]) % per_word != 0) return std::nullopt;
    if (!same_g_idx(t.g_idx, parts.front().tensors.g_idx)) return std::nullopt;
    qweight.push_back(&t.qweight);
    qzeros.push_back(&t.qzeros);
    scales.push_back(&t.scales);
    joined.storage.insert(joined.storage.end(), part.storage.begin(), part.storage.end());
  }
  for (const auto* views : {&qweight, &qzeros, &scales}) {
    if (!side_by_side(*views)) return std::nullopt;
  }
  const auto keep = [&](Owned owned, TensorView& slot) {
    slot = owned.view;
    joined.storage.push_back(owned.bytes);
  };
  keep(concat_columns(qweight), joined.tensors.qweight);
  keep(concat_columns(qzeros), joined.tensors.qzeros);
  keep(concat_columns(scales), joined.tensors.scales);
  joined.tensors.g_idx = parts.front().tensors.g_idx;
  return joined;
}

}  // namespace ferrum
