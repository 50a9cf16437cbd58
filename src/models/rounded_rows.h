// Activations rounded ahead for a backend's quantized GEMV. A backend whose GGUF GEMV rounds x to
// int8 before multiplying (CUDA) can write that rounding beside a norm's or activation's output
// (B::RoundedRows, the *_rounded ops), so the GEMVs that read the output skip their own rounding
// launch. Models ask for it where the reader's weights are GGUF and the batch is small enough for
// the GEMV; the helpers here fall back to the plain ops on backends without it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>

#include "backend/backend.h"

namespace ferrum {

struct NoRoundedRows {};

template <class B>
struct RoundedRowsOf {
  using type = NoRoundedRows;
};

template <class B>
requires requires {
  typename B::RoundedRows;
}
struct RoundedRowsOf<B> {
  using type = typename B::RoundedRows;
};

template <class B>
using RoundedRows = typename RoundedRowsOf<B>::type;

template <class B>
inline constexpr bool kHasRoundedRows = requires {
  typename B::RoundedRows;
};

// The most activation rows a model rounds ahead: the fused GEMV's limit (decode, small batches).
inline constexpr size_t kRoundedRowsMax = 8;

// Storage for the rounding of up to kRoundedRowsMax rows of `cols` values (none on backends without
// it, or when cols is not a whole number of the rounding's groups of 32).
template <Backend B>
Expected<std::optional<RoundedRows<B>>> alloc_rounded_rows(size_t max_rows, size_t cols) {
  std::optional<RoundedRows<B>> rounded;
  if constexpr (kHasRoundedRows<B>) {
    if (cols % 32 == 0 && max_rows > 0) {
      FERRUM_ASSIGN_OR_RETURN(rounded, B::alloc_rounded_rows(std::min(max_rows, kRoundedRowsMax), cols));
    }
  }
  return rounded;
}

// `storage`, to round `rows` of `cols` values ahead for a reader that takes the rounding, when it
// exists and they fit it; else nullptr.
template <class Rounded>
Rounded* rounding_for(std::optional<Rounded>& storage, size_t rows, size_t cols, bool reader_takes_it) {
  return storage && reader_takes_it && rows <= kRoundedRowsMax && cols % 32 == 0 ? &*storage : nullptr;
}

// rms_norm, writing out's rounding to `rounded` too when it is not null.
template <Backend B>
Status rms_norm_rounding(typename B::Context& ctx, const typename B::Buffer& x, const typename B::Buffer& w, float eps,
                         typename B::Buffer& out, size_t tokens, size_t dim, RoundedRows<B>* rounded) {
  if constexpr (kHasRoundedRows<B>) {
    if (rounded != nullptr) return B::rms_norm_rounded(ctx, x, w, eps, out, tokens, dim, *rounded);
  }
  return B::rms_norm(ctx, x, w, eps, out, tokens, dim);
}

// fused_add_rms_norm, writing out's rounding to `rounded` too when it is not null.
template <Backend B>
Status fused_add_rms_norm_rounding(typename B::Context& ctx, typename B::Buffer& residual, const typename B::Buffer& x,
                                   const typename B::Buffer& w, float eps, typename B::Buffer& out, size_t tokens,
                                   size_t dim, RoundedRows<B>* rounded) {
  if constexpr (kHasRoundedRows<B>) {
    if (rounded != nullptr) {
      return B::fused_add_rms_norm_rounded(ctx, residual, x, w, eps, out, tokens, dim, *rounded);
    }
  }
  return B::fused_add_rms_norm(ctx, residual, x, w, eps, out, tokens, dim);
}

// all_reduce(x) (the ranks' partial outputs of a row-parallel layer), then
// fused_add_rms_norm_rounding: one op on backends that fuse them (B::all_reduce_add_rms_norm), the
// two elsewhere. x then holds this rank's part or the sum: callers must not read it.
template <Backend B>
Status all_reduce_add_rms_norm_rounding(typename B::Context& ctx, typename B::Buffer& x, typename B::Buffer& residual,
                                        const typename B::Buffer& w, float eps, typename B::Buffer& out, size_t tokens,
                                        size_t dim, RoundedRows<B>* rounded) {
  if constexpr (requires { B::all_reduce_add_rms_norm(ctx, x, residual, w, eps, out, tokens, dim, rounded); }) {
    return B::all_reduce_add_rms_norm(ctx, x, residual, w, eps, out, tokens, dim, rounded);
  } else {
    FERRUM_TRY(B::all_reduce(ctx, x, tokens * dim, ReduceOp::kSum));
    return fused_add_rms_norm_rounding<B>(ctx, residual, x, w, eps, out, tokens, dim, rounded);
  }
}

}  // namespace ferrum
