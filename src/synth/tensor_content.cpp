#include "synth/tensor_content.h"

#include <algorithm>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>

#include "core/half.h"
#include "quant/quantize.h"

namespace ferrum::synth {
namespace {

// Values per slice: 4M f32 values (16 MB) keeps memory small and slices long enough that the
// per-slice thread hand-off costs nothing.
constexpr size_t kSliceValues = size_t{4} << 20;

uint64_t row_seed(uint64_t seed, uint64_t stream, size_t row) {
  SplitMix64 mix(seed ^ (stream * 0xd1b54a32d192ed03ull));
  return mix.next() ^ (static_cast<uint64_t>(row) * 0x8cb92ba72f3d8dd7ull);
}

struct RowLayout {
  size_t rows = 1;
  size_t cols = 0;
  size_t row_bytes = 0;
};

Expected<RowLayout> row_layout(const TensorSpec& spec) {
  RowLayout layout;
  const size_t rank = spec.shape.rank();
  FERRUM_CHECK(rank >= 1, ErrorCode::kInvalidArgument, "tensor '", spec.name, "' has no dimensions");
  layout.cols = static_cast<size_t>(spec.shape[rank - 1]);
  for (size_t axis = 0; axis + 1 < rank; ++axis) layout.rows *= static_cast<size_t>(spec.shape[axis]);
  auto bytes = dtype_bytes(spec.dtype, layout.cols);
  if (!bytes) return std::move(bytes).error().with_context(cat("tensor '", spec.name, "'"));
  layout.row_bytes = *bytes;
  return layout;
}

// Fills one row's bytes; `scratch` holds at least `cols` floats.
Status encode_row(const TensorSpec& spec, uint64_t seed, size_t row, size_t cols, float* scratch, uint8_t* out) {
  switch (spec.content) {
    case TensorContent::kNormal: {
      SplitMix64 random(row_seed(seed, spec.stream, row));
      for (size_t i = 0; i < cols; ++i) scratch[i] = spec.scale * unit_normal_from_bits(random.next());
      return quantize_row(spec.dtype, scratch, out, cols);
    }
    case TensorContent::kConstant:
      std::fill(scratch, scratch + cols, spec.scale);
      return quantize_row(spec.dtype, scratch, out, cols);
    case TensorContent::kValues:
      FERRUM_CHECK(spec.values.size() == cols, ErrorCode::kShapeMismatch, "tensor '", spec.name, "' has ",
                   spec.values.size(), " values for rows of ", cols);
      return quantize_row(spec.dtype, spec.values.data(), out, cols);
    case TensorContent::kGroupScales: {
      SplitMix64 random(row_seed(seed, spec.stream, row));
      auto* halves = reinterpret_cast<f16*>(out);
      for (size_t i = 0; i < cols; ++i) {
        const float uniform = static_cast<float>(random.next() >> 40) * (1.0f / 16777216.0f);
        halves[i] = to_f16(spec.scale * (0.75f + 0.5f * uniform));
      }
      return ok();
    }
    case TensorContent::kRandomWords: {
      SplitMix64 random(row_seed(seed, spec.stream, row));
      for (size_t i = 0; i < cols; ++i) {
        const auto word = static_cast<uint32_t>(random.next() >> 32);
        std::memcpy(out + i * sizeof word, &word, sizeof word);
      }
      return ok();
    }
    case TensorContent::kConstantWord:
      for (size_t i = 0; i < cols; ++i) std::memcpy(out + i * sizeof spec.word, &spec.word, sizeof spec.word);
      return ok();
    case TensorContent::kGroupIndex:
      FERRUM_CHECK(spec.group_size > 0, ErrorCode::kInvalidArgument, "tensor '", spec.name, "' needs a group size");
      for (size_t i = 0; i < cols; ++i) {
        const auto group = static_cast<int32_t>(i / spec.group_size);
        std::memcpy(out + i * sizeof group, &group, sizeof group);
      }
      return ok();
  }
  return make_error(ErrorCode::kInternal, "tensor '", spec.name, "': unknown content");
}

}  // namespace

Expected<size_t> tensor_spec_bytes(const TensorSpec& spec) {
  FERRUM_ASSIGN_OR_RETURN(RowLayout layout, row_layout(spec));
  return layout.rows * layout.row_bytes;
}

Status write_tensor_content(const TensorSpec& spec, uint64_t seed, ThreadPool& pool, ByteSink& sink) {
  FERRUM_ASSIGN_OR_RETURN(RowLayout layout, row_layout(spec));
  const bool word_content = spec.content == TensorContent::kRandomWords ||
                            spec.content == TensorContent::kConstantWord || spec.content == TensorContent::kGroupIndex;
  FERRUM_CHECK(!word_content || spec.dtype == DType::kI32, ErrorCode::kInvalidArgument, "tensor '", spec.name,
               "': packed words are stored as i32, not ", dtype_name(spec.dtype));
  FERRUM_CHECK(spec.content != TensorContent::kGroupScales || spec.dtype == DType::kF16, ErrorCode::kInvalidArgument,
               "tensor '", spec.name, "': group scales are stored as f16, not ", dtype_name(spec.dtype));
  const size_t rows_per_slice = std::max<size_t>(1, kSliceValues / std::max<size_t>(layout.cols, 1));
  std::vector<uint8_t> buffers[2];
  std::future<Status> pending_write;
  size_t slice_index = 0;
  for (size_t first = 0; first < layout.rows; first += rows_per_slice, ++slice_index) {
    const size_t count = std::min(rows_per_slice, layout.rows - first);
    std::vector<uint8_t>& buffer = buffers[slice_index % 2];
    buffer.resize(count * layout.row_bytes);
    std::mutex failure_mutex;
    std::optional<Error> failure;
    pool.parallel_for(count, 1, [&](size_t begin, size_t end) {
      std::vector<float> scratch(layout.cols);
      for (size_t i = begin; i < end; ++i) {
        Status status =
            encode_row(spec, seed, first + i, layout.cols, scratch.data(), buffer.data() + i * layout.row_bytes);
        if (status) continue;
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::move(status).error();
        return;
      }
    });
    if (failure) {
      if (pending_write.valid()) (void)pending_write.get();
      return *failure;
    }
    if (pending_write.valid()) FERRUM_TRY(pending_write.get());
    pending_write = std::async(std::launch::async, [&sink, &buffer] { return sink.append(buffer); });
  }
  if (pending_write.valid()) FERRUM_TRY(pending_write.get());
  return ok();
}

}  // namespace ferrum::synth
