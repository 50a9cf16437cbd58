#include "backend/cpu/cpu_gemm_kernels.h"

#include <algorithm>

#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_panel_kernels.h"
#include "backend/cpu/cpu_simd.h"

namespace ferrum::cpu {
namespace {

using simd::kLanes;
using simd::Vec;

// Rows of A up to which the dot-product kernel beats packing B. Measured on one AVX-512 core at
// n = 2048: at m = 8 / 16 / 32 the dot kernel ran 91 / 98 / 113 GFLOP/s (k = 8192) against the packed
// kernel's 27 / 51 / 77, whose packing is then paid for by too few rows; by m = 48 they are even.
constexpr size_t kSmallM = 32;
constexpr size_t kNr = kPanelWidth;
constexpr size_t kMr = kMicroRows;
// Depth of a packed panel of B: kNr x kKc floats, 32 KiB on AVX-512 (L1 is 48 KiB).
constexpr size_t kKc = 256;
// Column block of B packed at once (kNcMax x kKc floats = 256 KiB) and row block of A (kMc x kKc
// = 128 KiB) that meets it: both stay in L2 (2 MiB per core here).
constexpr size_t kNcMax = 256;
constexpr size_t kMc = 128;
// B rows per dot-product tile in the small-m kernel.
constexpr size_t kDotRows = 4;
// At m = 1 (decode) more B rows are streamed together, so more of their loads are in flight: the
// f16 lm_head of a 1B model (128256 x 2048, from memory) 29-30 -> 32-36 GB/s on 2 cores with 8
// (6: about the same; ferrum-micro-bench BM_Gemm/f16/1/128256).
constexpr size_t kDecodeDotRows = 8;

size_t round_up(size_t value, size_t multiple) {
  return ceil_div(value, multiple) * multiple;
}

// ── small m: dot products along k ──

// c[ra][rb] (+)= dot(a row ra, b row rb) for RA rows of A and RB rows of B.
template <size_t RA, size_t RB, class T>
void dot_tile(const float* a, size_t lda, const T* b, size_t ldb, size_t kc, float* c, size_t ldc, bool accumulate) {
  Vec acc[RA][RB];
  for (size_t i = 0; i < RA; ++i) {
    for (size_t j = 0; j < RB; ++j) acc[i][j] = simd::zero();
  }
  size_t p = 0;
  for (; p + kLanes <= kc; p += kLanes) {
    Vec bv[RB];
    for (size_t j = 0; j < RB; ++j) bv[j] = simd::load(b + j * ldb + p);
    for (size_t i = 0; i < RA; ++i) {
      const Vec av = simd::load(a + i * lda + p);
      for (size_t j = 0; j < RB; ++j) acc[i][j] = simd::fma(av, bv[j], acc[i][j]);
    }
  }
  if (p < kc) {
    const size_t rest = kc - p;
    Vec bv[RB];
    for (size_t j = 0; j < RB; ++j) bv[j] = simd::load_partial(b + j * ldb + p, rest);
    for (size_t i = 0; i < RA; ++i) {
      const Vec av = simd::load_partial(a + i * lda + p, rest);
      for (size_t j = 0; j < RB; ++j) acc[i][j] = simd::fma(av, bv[j], acc[i][j]);
    }
  }
  for (size_t i = 0; i < RA; ++i) {
    for (size_t j = 0; j < RB; ++j) {
      const float sum = simd::reduce_add(acc[i][j]);
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
    }
  }
}

template <size_t RB, class T>
void dot_rows_of_a(const float* a, size_t lda, const T* b, size_t ldb, float* c, size_t ldc, size_t m, size_t kc,
                   bool accumulate) {
  size_t i = 0;
  for (; i + 4 <= m; i += 4) dot_tile<4, RB>(a + i * lda, lda, b, ldb, kc, c + i * ldc, ldc, accumulate);
  switch (m - i) {
    case 3: dot_tile<3, RB>(a + i * lda, lda, b, ldb, kc, c + i * ldc, ldc, accumulate); break;
    case 2: dot_tile<2, RB>(a + i * lda, lda, b, ldb, kc, c + i * ldc, ldc, accumulate); break;
    case 1: dot_tile<1, RB>(a + i * lda, lda, b, ldb, kc, c + i * ldc, ldc, accumulate); break;
    default: break;
  }
}

template <class T>
void gemm_small_m(const float* a, size_t lda, const T* b, size_t ldb, float* c, size_t ldc, size_t m, size_t nc,
                  size_t kc, bool accumulate) {
  size_t j = 0;
  if (m == 1) {
    for (; j + kDecodeDotRows <= nc; j += kDecodeDotRows) {
      dot_tile<1, kDecodeDotRows>(a, lda, b + j * ldb, ldb, kc, c + j, ldc, accumulate);
    }
  }
  for (; j + kDotRows <= nc; j += kDotRows) {
    dot_rows_of_a<kDotRows>(a, lda, b + j * ldb, ldb, c + j, ldc, m, kc, accumulate);
  }
  for (; j < nc; ++j) dot_rows_of_a<1>(a, lda, b + j * ldb, ldb, c + j, ldc, m, kc, accumulate);
}

// The classic blocking: a column block of B (kNcMax wide, kKc deep, 256 KiB) is packed into L2,
// then for each kMc-row block of A (128 KiB, also L2) every panel (32 KiB, L1) meets every
// kMr-row strip of that block.
template <class T>
void gemm_packed(const float* a, size_t lda, const T* b, size_t ldb, float* c, size_t ldc, size_t m, size_t nc,
                 size_t kc, bool accumulate) {
  float* packed = thread_scratch(Scratch::kGemmPackedB, kNcMax * kKc);
  for (size_t jc = 0; jc < nc; jc += kNcMax) {
    const size_t block_cols = std::min(kNcMax, nc - jc);
    for (size_t pc = 0; pc < kc; pc += kKc) {
      const size_t depth = std::min(kKc, kc - pc);
      for (size_t col = 0; col < block_cols; col += kNr) {
        pack_panel(b + (jc + col) * ldb + pc, ldb, std::min(kNr, block_cols - col), depth, packed + col * depth);
      }
      const bool add_to_c = accumulate || pc > 0;
      for (size_t ic = 0; ic < m; ic += kMc) {
        const size_t rows = std::min(kMc, m - ic);
        for (size_t col = 0; col < block_cols; col += kNr) {
          multiply_panel(a + ic * lda + pc, lda, rows, packed + col * depth, kNr, depth, c + ic * ldc + jc + col, ldc,
                         std::min(kNr, block_cols - col), add_to_c);
        }
      }
    }
  }
}

}  // namespace

GemmPlan plan_gemm(size_t m, size_t n, size_t threads) {
  GemmPlan plan;
  threads = std::max<size_t>(threads, 1);
  // Several tasks per thread so uneven progress (a busy core) still balances.
  const size_t wanted_tasks = 4 * threads;
  if (m <= kSmallM) {
    plan.column_block = std::max(kDotRows, round_up(ceil_div(n, wanted_tasks), kDotRows));
  } else {
    plan.column_block = std::min(kNcMax, std::max(kNr, round_up(ceil_div(n, wanted_tasks), kNr)));
  }
  plan.column_tasks = ceil_div(n, plan.column_block);
  // Too few column blocks for the threads (narrow outputs): split the rows of A as well.
  plan.row_tasks = 1;
  if (plan.column_tasks < 2 * threads && m > kSmallM) {
    plan.row_tasks = std::min(ceil_div(m, kMr), ceil_div(2 * threads, plan.column_tasks));
  }
  plan.row_block = round_up(ceil_div(m, plan.row_tasks), m > kSmallM ? kMr : 1);
  plan.row_tasks = ceil_div(m, plan.row_block);
  return plan;
}

template <class T>
void gemm_block(const float* a, size_t lda, const T* b, size_t ldb, float* c, size_t ldc, size_t m, size_t nc,
                size_t kc, bool accumulate) {
  if (m == 0 || nc == 0) return;
  if (kc == 0) {
    if (!accumulate) {
      for (size_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, nc, 0.0f);
    }
    return;
  }
  if (m <= kSmallM) {
    gemm_small_m(a, lda, b, ldb, c, ldc, m, nc, kc, accumulate);
  } else {
    gemm_packed(a, lda, b, ldb, c, ldc, m, nc, kc, accumulate);
  }
}

template <class T>
void gemm_dense(ThreadPool& pool, const float* a, const T* b, float* c, size_t m, size_t n, size_t k) {
  if (m == 0 || n == 0) return;
  const GemmPlan plan = plan_gemm(m, n, pool.size());
  // Tiny GEMMs (decode of small layers) stay on one thread. Work counted in double: no overflow.
  const double task_work =
      static_cast<double>(plan.column_block) * static_cast<double>(plan.row_block) * static_cast<double>(k);
  const size_t grain =
      task_work >= kMinParallelWork ? 1 : static_cast<size_t>(kMinParallelWork / std::max(task_work, 1.0));
  pool.parallel_for(plan.tasks(), grain, [&](size_t begin, size_t end) {
    for (size_t task = begin; task < end; ++task) {
      const size_t col = (task / plan.row_tasks) * plan.column_block;
      const size_t row = (task % plan.row_tasks) * plan.row_block;
      const size_t cols = std::min(plan.column_block, n - col);
      const size_t rows = std::min(plan.row_block, m - row);
      gemm_block(a + row * k, k, b + col * k, k, c + row * n + col, n, rows, cols, k, false);
    }
  });
}

#define FERRUM_INSTANTIATE_GEMM(T)                                                                                   \
  template void gemm_block<T>(const float*, size_t, const T*, size_t, float*, size_t, size_t, size_t, size_t, bool); \
  template void gemm_dense<T>(ThreadPool&, const float*, const T*, float*, size_t, size_t, size_t);
FERRUM_INSTANTIATE_GEMM(float)
FERRUM_INSTANTIATE_GEMM(f16)
FERRUM_INSTANTIATE_GEMM(bf16)
#undef FERRUM_INSTANTIATE_GEMM

}  // namespace ferrum::cpu
