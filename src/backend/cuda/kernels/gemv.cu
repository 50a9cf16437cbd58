#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/gemv.cuh"
#include "backend/cuda/kernels/gemv.h"
#include "backend/cuda/kernels/launch.cuh"

namespace ferrum::cuda {
namespace {

// Shapes measured in lab/gemv_lab.cu and lab/gemv_chain_lab.cu (lab/NOTES.md): m = 1 splits each
// row over gemv_split_warps() warps (gemv_split_row_kernel); for m = 2..4 one weight row per warp
// and one 16-byte chunk per lane per step (version 6: sharing x loads across two rows, or more
// chunks in flight, cost more in registers and occupancy than they saved); m > 4 takes
// gemv_many_rows_kernel.
template <class A, class W, int kM>
Status launch_vec(const GemvArgs& a, cudaStream_t stream) {
  constexpr int kRows = 1;
  constexpr int kUnroll = 1;
  const dim3 grid(ceil_div(a.n, kGemvWarps * kRows));
  const dim3 block(kGemvWarps * 32);
  return launch_kernel("gemv", gemv_kernel<A, W, kM, kRows, kUnroll>, grid, block, 0, stream,
                       static_cast<const A*>(a.x), static_cast<const W*>(a.w), a.out, a.out_dtype,
                       static_cast<int>(a.m), static_cast<int>(a.n), static_cast<int>(a.k), gemv_prefetch_bytes());
}

// Calls f(std::integral_constant<int, S>{}) for S = `split`, one of 2, 4 or 8 warps per row.
template <class F>
Status with_split(int split, F&& f) {
  switch (split) {
    case 2: return f(std::integral_constant<int, 2>{});
    case 4: return f(std::integral_constant<int, 4>{});
    default: return f(std::integral_constant<int, 8>{});
  }
}

template <class A, class W>
Status launch_split_row(const GemvArgs& a, cudaStream_t stream) {
  return with_split(gemv_split_warps(), [&](auto split) {
    constexpr int kSplit = decltype(split)::value;
    return launch_kernel("gemv(split row)", gemv_split_row_kernel<A, W, kSplit>,
                         dim3(ceil_div(a.n, kGemvWarps / kSplit)), dim3(kGemvWarps * 32), 0, stream,
                         static_cast<const A*>(a.x), static_cast<const W*>(a.w), a.out, a.out_dtype,
                         static_cast<int>(a.n), static_cast<int>(a.k), gemv_prefetch_bytes(), gemv_early_loads());
  });
}

template <class A, class W>
Status launch_gated_split(const GatedGemvArgs& a, cudaStream_t stream) {
  return with_split(gated_gemv_split_warps(), [&](auto split) -> Status {
    constexpr int kSplit = decltype(split)::value;
    const dim3 grid(ceil_div(a.im, kGemvWarps / kSplit));
    FERRUM_DISPATCH_ACTIVATION(a.act, kAct, {
      return launch_kernel("gated_gemv(split row)", gated_gemv_split_kernel<A, W, kAct, kSplit>, grid,
                           dim3(kGemvWarps * 32), 0, stream, static_cast<const A*>(a.x), static_cast<const W*>(a.w),
                           static_cast<A*>(a.out), static_cast<int>(a.im), static_cast<int>(a.k), gemv_early_loads());
    });
    return ok();
  });
}

template <class A, class W, int kM>
Status launch_gated_vec(const GatedGemvArgs& a, cudaStream_t stream) {
  const dim3 grid(ceil_div(a.im, kGemvWarps));
  const dim3 block(kGemvWarps * 32);
  FERRUM_DISPATCH_ACTIVATION(a.act, kAct, {
    return launch_kernel("gated_gemv", gated_gemv_kernel<A, W, kM, kAct>, grid, block, 0, stream,
                         static_cast<const A*>(a.x), static_cast<const W*>(a.w), static_cast<A*>(a.out),
                         static_cast<int>(a.m), static_cast<int>(a.im), static_cast<int>(a.k), gemv_prefetch_bytes());
  });
  return ok();
}

// The kernel for m rows: the scalar one without 16-byte rows (`vec` false), else by m.
template <class A, class W>
Status launch_typed(const GemvArgs& a, bool vec, cudaStream_t stream) {
  const auto* x = static_cast<const A*>(a.x);
  const auto* w = static_cast<const W*>(a.w);
  const int m = static_cast<int>(a.m), n = static_cast<int>(a.n), k = static_cast<int>(a.k);
  const dim3 grid(ceil_div(a.n, kGemvWarps)), block(kGemvWarps * 32);
  if (!vec) {
    return launch_kernel("gemv(scalar)", gemv_scalar_kernel<A, W>, grid, block, 0, stream, x, w, a.out, a.out_dtype, m,
                         n, k);
  }
  if (a.m == 1) return launch_split_row<A, W>(a, stream);
  if (a.m == 2) return launch_vec<A, W, 2>(a, stream);
  if (a.m <= 4) return launch_vec<A, W, 4>(a, stream);
  return launch_kernel("gemv(many rows)", gemv_many_rows_kernel<A, W>, grid, block, 0, stream, x, w, a.out, a.out_dtype,
                       m, n, k, gemv_prefetch_bytes());
}

}  // namespace

Status launch_gemv(const GemvArgs& a, cudaStream_t stream) {
  if (a.m == 0 || a.n == 0) return ok();
  FERRUM_CHECK(a.m <= kGemvMaxRows, ErrorCode::kInternal, "gemv: m = ", a.m, " exceeds ", kGemvMaxRows);
  FERRUM_CHECK(a.n < (size_t{1} << 31) && a.k < (size_t{1} << 31), ErrorCode::kUnsupported, "gemv: n = ", a.n,
               ", k = ", a.k, " exceed the kernel's 31-bit indices");
  const bool vec = a.k % 8 == 0 && is_aligned(a.x, 16) && is_aligned(a.w, 16);
  FERRUM_DISPATCH_FLOAT(a.x_dtype, A, "gemm(gemv)", FERRUM_DISPATCH_FLOAT(a.w_dtype, W, "gemm(gemv)", {
                          return launch_typed<A, W>(a, vec, stream);
                        }));
  return ok();
}

bool gated_gemv_supports(const GatedGemvArgs& a) {
  const bool half_or_f32 = a.x_dtype == DType::kF32 || a.x_dtype == DType::kBF16 || a.x_dtype == DType::kF16;
  const bool weight_ok = a.w_dtype == a.x_dtype || (a.x_dtype == DType::kF32 && a.w_dtype == DType::kBF16);
  return a.m <= kGemvMaxRows && half_or_f32 && weight_ok && a.k % 8 == 0 && a.k < (size_t{1} << 31) &&
         2 * a.im < (size_t{1} << 31) && is_aligned(a.x, 16) && is_aligned(a.w, 16);
}

Status launch_gated_gemv(const GatedGemvArgs& a, cudaStream_t stream) {
  if (a.m == 0 || a.im == 0) return ok();
  FERRUM_CHECK(gated_gemv_supports(a), ErrorCode::kInternal, "gated_gemv: unsupported shape or dtypes");
  // The instantiated pairs: equal dtypes, and f32 activations over bf16 weights.
  FERRUM_DISPATCH_FLOAT(a.x_dtype, A, "gated_gemv", {
    if (a.w_dtype == a.x_dtype) {
      if (a.m == 1) return launch_gated_split<A, A>(a, stream);
      if (a.m <= 4) return launch_gated_vec<A, A, 4>(a, stream);
      return launch_gated_vec<A, A, 8>(a, stream);
    }
    if constexpr (sizeof(A) == 4) {
      if (a.m == 1) return launch_gated_split<A, bf16_t>(a, stream);
      if (a.m <= 4) return launch_gated_vec<A, bf16_t, 4>(a, stream);
      return launch_gated_vec<A, bf16_t, 8>(a, stream);
    }
  });
  return make_error(ErrorCode::kInternal, "gated_gemv: no kernel for ", a.x_dtype, " x ", a.w_dtype);
}

}  // namespace ferrum::cuda
