// Host-side argument checks shared by every backend's ops. Each names the op, the argument and
// the sizes involved, so a mis-sized buffer reads as "gemm: b has 12 elements, needs 16 (n=4 x k=4)".
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string_view>

#include "backend/backend_types.h"
#include "core/dtype.h"
#include "core/error.h"

namespace ferrum {

// Product of sizes, failing instead of wrapping around.
Expected<size_t> checked_product(std::string_view op, std::initializer_list<size_t> factors);

template <class Buffer>
Status check_numel(std::string_view op, std::string_view arg, const Buffer& buffer, size_t needed) {
  FERRUM_CHECK(buffer.numel() >= needed, ErrorCode::kShapeMismatch, op, ": ", arg, " has ", buffer.numel(),
               " elements, needs ", needed);
  return ok();
}

// check_numel with the needed count given as a product of dims (overflow-checked).
template <class Buffer>
Status check_numel(std::string_view op, std::string_view arg, const Buffer& buffer,
                   std::initializer_list<size_t> dims) {
  FERRUM_ASSIGN_OR_RETURN(size_t needed, checked_product(op, dims));
  return check_numel(op, arg, buffer, needed);
}

template <class Buffer>
Status check_dtype(std::string_view op, std::string_view arg, const Buffer& buffer,
                   std::initializer_list<DType> allowed) {
  for (DType dtype : allowed) {
    if (buffer.dtype() == dtype) return ok();
  }
  return make_error(ErrorCode::kUnsupported, op, ": ", arg, " has dtype ", buffer.dtype(),
                    ", which this backend does not accept here");
}

Status check_positive(std::string_view op, std::string_view arg, size_t value);

// An optional int32 buffer of at least `needed` elements (paged-attention metadata).
template <class Buffer>
Status check_i32(std::string_view op, std::string_view arg, const Buffer* buffer, size_t needed) {
  FERRUM_CHECK(buffer != nullptr, ErrorCode::kInvalidArgument, op, ": ", arg, " is missing");
  FERRUM_TRY(check_dtype(op, arg, *buffer, {DType::kI32}));
  return check_numel(op, arg, *buffer, needed);
}

// argmax_gathered's operands: values f32 and ids i32 [ranks, rows], out i32 [rows], and a slice
// that exists.
template <class Buffer>
Status check_argmax_gathered(const Buffer& values, const Buffer& ids, const Buffer& out, size_t ranks, size_t rows,
                             size_t cols) {
  constexpr std::string_view op = "argmax_gathered";
  FERRUM_TRY(check_dtype(op, "values", values, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "ids", ids, {DType::kI32}));
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kI32}));
  FERRUM_TRY(check_numel(op, "values", values, {ranks, rows}));
  FERRUM_TRY(check_numel(op, "ids", ids, {ranks, rows}));
  FERRUM_TRY(check_numel(op, "out", out, rows));
  FERRUM_CHECK(rows == 0 || (ranks > 0 && cols > 0), ErrorCode::kInvalidArgument, op, ": ", ranks, " slices of ", cols,
               " columns have no argmax");
  return ok();
}

// Blocks in a KV pool of [num_blocks, heads, block_size, width] (plus its row scales when it has
// them: backend_types.h's paged_pool_numel).
template <class Buffer>
Expected<size_t> pool_blocks(std::string_view op, std::string_view arg, const Buffer& pool, size_t heads,
                             size_t block_size, size_t width) {
  const bool scaled = paged_pool_has_scales(pool.dtype());
  FERRUM_CHECK(!scaled || width % 4 == 0, ErrorCode::kUnsupported, op, ": an ", pool.dtype(), " ", arg,
               " needs rows of a multiple of 4 values, not ", width);
  FERRUM_ASSIGN_OR_RETURN(size_t block_numel,
                          checked_product(op, {heads, block_size, width + (scaled ? sizeof(float) : 0)}));
  FERRUM_CHECK(block_numel > 0 && pool.numel() % block_numel == 0, ErrorCode::kShapeMismatch, op, ": ", arg, " has ",
               pool.numel(), " elements, not a whole number of blocks of ", heads, " x ", block_size, " x ", width,
               scaled ? " (with a scale per row)" : "");
  return pool.numel() / block_numel;
}

// paged_mla_attention's rope pool: [num_blocks, block_size, rope_dim] in the latent pool's layout.
template <class Buffer>
Status check_rope_pool(std::string_view op, const Buffer& rope_pool, size_t num_blocks, size_t block_size,
                       size_t rope_dim) {
  const DType dtype = rope_pool.dtype();
  FERRUM_CHECK(!paged_pool_has_scales(dtype) || rope_dim % 4 == 0, ErrorCode::kUnsupported, op, ": an ", dtype,
               " rope_pool needs rows of a multiple of 4 values, not ", rope_dim);
  return check_numel(op, "rope_pool", rope_pool, paged_pool_numel(dtype, num_blocks, 1, block_size, rope_dim));
}

// sample_rows' arguments: f32 logits [rows, cols], f32 params [rows, kRowSamplingFields], i32 ids
// [rows], and columns an i32 id can index.
template <class Buffer>
Status check_sample_rows(const Buffer& x, const Buffer& params, const Buffer& ids, size_t rows, size_t cols) {
  constexpr std::string_view op = "sample_rows";
  FERRUM_TRY(check_dtype(op, "x", x, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "params", params, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "ids", ids, {DType::kI32}));
  FERRUM_CHECK(cols > 0 || rows == 0, ErrorCode::kInvalidArgument, op, ": rows of 0 columns have nothing to draw");
  FERRUM_CHECK(cols <= static_cast<size_t>(INT32_MAX), ErrorCode::kOutOfRange, op, ": cols=", cols,
               " cannot be indexed by i32 ids");
  FERRUM_TRY(check_numel(op, "x", x, {rows, cols}));
  FERRUM_TRY(check_numel(op, "params", params, {rows, kRowSamplingFields}));
  return check_numel(op, "ids", ids, rows);
}

// adjust_logits' arguments: f32 x [rows, cols]; i32 adjustments of whole entries, header included.
template <class Buffer>
Status check_adjust_logits(const Buffer& x, const Buffer& adjustments, size_t rows, size_t cols) {
  constexpr std::string_view op = "adjust_logits";
  FERRUM_TRY(check_dtype(op, "x", x, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "adjustments", adjustments, {DType::kI32}));
  FERRUM_CHECK(adjustments.numel() >= kLogitAdjustmentWords && adjustments.numel() % kLogitAdjustmentWords == 0,
               ErrorCode::kShapeMismatch, op, ": adjustments holds ", adjustments.numel(),
               " words, not a header and whole entries of ", kLogitAdjustmentWords);
  FERRUM_CHECK(cols <= static_cast<size_t>(INT32_MAX) && rows <= static_cast<size_t>(INT32_MAX), ErrorCode::kOutOfRange,
               op, ": rows=", rows, " cols=", cols, " cannot be named by i32 entries");
  return check_numel(op, "x", x, {rows, cols});
}

// log_softmax_at's arguments: f32 x [rows, cols], i32 ids [rows, k], f32 out [rows, k].
template <class Buffer>
Status check_log_softmax_at(const Buffer& x, const Buffer& ids, const Buffer& out, size_t rows, size_t cols, size_t k) {
  constexpr std::string_view op = "log_softmax_at";
  FERRUM_TRY(check_dtype(op, "x", x, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "ids", ids, {DType::kI32}));
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_CHECK(cols <= static_cast<size_t>(INT32_MAX), ErrorCode::kOutOfRange, op, ": cols=", cols,
               " cannot be indexed by i32 ids");
  FERRUM_TRY(check_numel(op, "x", x, {rows, cols}));
  FERRUM_TRY(check_numel(op, "ids", ids, {rows, k}));
  return check_numel(op, "out", out, {rows, k});
}

}  // namespace ferrum
