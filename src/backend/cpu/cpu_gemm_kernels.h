// GEMM kernels of the CPU backend, C[m, n] = A[m, k] x B[n, k]^T with f32 A and C and B stored as
// f32, f16 or bf16 (B is a Linear weight: one row per output feature).
//
// Two kernels, picked by m:
//  - m <= kSmallM (decode): dot products along k, reading B rows in place and converting in
//    registers. This is memory-bound; each B row is read once per group of 4 rows of A.
//  - larger m (prefill): B is packed, KC deep, into f32 panels of kNr columns laid out k-major (a
//    transpose, done kLanes x kLanes in registers), then a register-tiled micro-kernel broadcasts
//    A values against two B vectors and keeps a kMr x kNr tile of C in registers.
// Work is split across threads by blocks of output columns (each thread packs only its own B).
#pragma once

#include <cstddef>

#include "core/thread_pool.h"

namespace ferrum::cpu {

// How a GEMM is cut into tasks: column blocks (of B rows) times row blocks (of A rows).
struct GemmPlan {
  size_t column_block = 0;
  size_t row_block = 0;
  size_t column_tasks = 0;
  size_t row_tasks = 0;
  size_t tasks() const { return column_tasks * row_tasks; }
};

GemmPlan plan_gemm(size_t m, size_t n, size_t threads);

// Single-threaded: C[m, nc] (row stride ldc) = A[m, kc] (row stride lda) x B[nc, kc]^T (row stride
// ldb), or += when `accumulate`. T is float, f16 or bf16.
template <class T>
void gemm_block(const float* a, size_t lda, const T* b, size_t ldb, float* c, size_t ldc, size_t m, size_t nc,
                size_t kc, bool accumulate);

// Multi-threaded dense GEMM over the pool: c[m, n] = a[m, k] x b[n, k]^T, all contiguous.
template <class T>
void gemm_dense(ThreadPool& pool, const float* a, const T* b, float* c, size_t m, size_t n, size_t k);

}  // namespace ferrum::cpu
