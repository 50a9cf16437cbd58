#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/gemv.cuh"
#include "backend/cuda/kernels/gemv.h"

namespace ferrum::cuda {
namespace {

// Shapes measured in lab/gemv_lab.cu (lab/NOTES.md): for m <= 4 one weight row per warp and one
// 16-byte chunk per lane per step (version 6: sharing x loads across two rows, or more chunks in
// flight, cost more in registers and occupancy than they saved); m > 4 takes gemv_many_rows_kernel.
template <class A, class W, int kM>
Status launch_vec(const GemvArgs& a, cudaStream_t stream) {
  constexpr int kRows = 1;
  constexpr int kUnroll = 1;
  const dim3 grid(ceil_div(a.n, kGemvWarps * kRows));
  const dim3 block(kGemvWarps * 32);
  gemv_kernel<A, W, kM, kRows, kUnroll>
      <<<grid, block, 0, stream>>>(static_cast<const A*>(a.x), static_cast<const W*>(a.w), a.out, a.out_dtype,
                                   static_cast<int>(a.m), static_cast<int>(a.n), static_cast<int>(a.k));
  return check_launch("gemv", grid, block);
}

}  // namespace

Status launch_gemv(const GemvArgs& a, cudaStream_t stream) {
  if (a.m == 0 || a.n == 0) return ok();
  FERRUM_CHECK(a.m <= kGemvMaxRows, ErrorCode::kInternal, "gemv: m = ", a.m, " exceeds ", kGemvMaxRows);
  FERRUM_CHECK(a.n < (size_t{1} << 31) && a.k < (size_t{1} << 31), ErrorCode::kUnsupported, "gemv: n = ", a.n,
               ", k = ", a.k, " exceed the kernel's 31-bit indices");
  const bool vec = a.k % 8 == 0 && is_aligned(a.x, 16) && is_aligned(a.w, 16);
  FERRUM_DISPATCH_FLOAT(a.x_dtype, A, "gemm(gemv)", FERRUM_DISPATCH_FLOAT(a.w_dtype, W, "gemm(gemv)", {
                          if (!vec) {
                            const dim3 grid(ceil_div(a.n, kGemvWarps));
                            gemv_scalar_kernel<A, W><<<grid, kGemvWarps * 32, 0, stream>>>(
                                static_cast<const A*>(a.x), static_cast<const W*>(a.w), a.out, a.out_dtype,
                                static_cast<int>(a.m), static_cast<int>(a.n), static_cast<int>(a.k));
                            return check_launch("gemv(scalar)", grid, kGemvWarps * 32);
                          }
                          if (a.m == 1) return launch_vec<A, W, 1>(a, stream);
                          if (a.m == 2) return launch_vec<A, W, 2>(a, stream);
                          if (a.m <= 4) return launch_vec<A, W, 4>(a, stream);
                          const dim3 grid(ceil_div(a.n, kGemvWarps));
                          gemv_many_rows_kernel<A, W><<<grid, kGemvWarps * 32, 0, stream>>>(
                              static_cast<const A*>(a.x), static_cast<const W*>(a.w), a.out, a.out_dtype,
                              static_cast<int>(a.m), static_cast<int>(a.n), static_cast<int>(a.k));
                          return check_launch("gemv(many rows)", grid, kGemvWarps * 32);
                        }));
  return ok();
}

}  // namespace ferrum::cuda
