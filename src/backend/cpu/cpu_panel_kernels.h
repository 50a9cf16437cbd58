// The register-tiled core shared by GEMM and attention: a "panel" is kPanelWidth columns of a
// right-hand matrix laid out reduction-major (panel[p * stride + col]), and multiply_panel adds
// A[rows, depth] x panel into C, kMicroRows rows at a time, with the C tile held in registers
// (kMicroRows x two vectors) while A values are broadcast against two panel vectors per step.
#pragma once

#include <algorithm>
#include <cstddef>

#include "backend/cpu/cpu_simd.h"

namespace ferrum::cpu {

inline constexpr size_t kPanelWidth = 2 * simd::kLanes;
// 2 kMicroRows accumulators + two panel vectors + one broadcast: 19 of 32 registers on AVX-512,
// 15 of 16 on AVX2.
inline constexpr size_t kMicroRows = simd::kLanes == 16 ? 8 : simd::kLanes == 8 ? 6 : 4;

// packed[p * kPanelWidth + r] = float(src[r * src_stride + p]) for r < rows, p < depth: a transpose,
// kLanes x kLanes in registers. Columns rows..kPanelWidth are zeroed so readers never branch.
template <class T>
void pack_panel(const T* src, size_t src_stride, size_t rows, size_t depth, float* packed) {
  using simd::kLanes;
  for (size_t half = 0; half < kPanelWidth; half += kLanes) {
    for (size_t p = 0; p < depth; p += kLanes) {
      const size_t count = std::min(kLanes, depth - p);
      simd::Vec block[kLanes];
      for (size_t r = 0; r < kLanes; ++r) {
        const size_t row = half + r;
        if (row >= rows) {
          block[r] = simd::zero();
        } else if (count == kLanes) {
          block[r] = simd::load(src + row * src_stride + p);
        } else {
          block[r] = simd::load_partial(src + row * src_stride + p, count);
        }
      }
      simd::transpose(block);
      for (size_t i = 0; i < count; ++i) simd::store(packed + (p + i) * kPanelWidth + half, block[i]);
    }
  }
}

// pack_panel over rows that are not evenly spaced (a paged KV cache): row r starts at row_ptrs[r].
template <class T>
void pack_panel_rows(const T* const* row_ptrs, size_t rows, size_t depth, float* packed) {
  using simd::kLanes;
  for (size_t half = 0; half < kPanelWidth; half += kLanes) {
    for (size_t p = 0; p < depth; p += kLanes) {
      const size_t count = std::min(kLanes, depth - p);
      simd::Vec block[kLanes];
      for (size_t r = 0; r < kLanes; ++r) {
        const size_t row = half + r;
        if (row >= rows) {
          block[r] = simd::zero();
        } else if (count == kLanes) {
          block[r] = simd::load(row_ptrs[row] + p);
        } else {
          block[r] = simd::load_partial(row_ptrs[row] + p, count);
        }
      }
      simd::transpose(block);
      for (size_t i = 0; i < count; ++i) simd::store(packed + (p + i) * kPanelWidth + half, block[i]);
    }
  }
}

namespace detail {

// c[R, cols] (+)= a[R, depth] x panel. The panel must have kPanelWidth readable floats per step.
template <size_t R>
void micro_kernel(const float* a, size_t lda, const float* panel, size_t panel_stride, size_t depth, float* c,
                  size_t ldc, size_t cols, bool accumulate) {
  using simd::kLanes;
  using simd::Vec;
  Vec acc[R][2];
  for (size_t r = 0; r < R; ++r) acc[r][0] = acc[r][1] = simd::zero();
  for (size_t p = 0; p < depth; ++p) {
    const Vec b0 = simd::load(panel + p * panel_stride);
    const Vec b1 = simd::load(panel + p * panel_stride + kLanes);
    for (size_t r = 0; r < R; ++r) {
      const Vec av = simd::broadcast(a[r * lda + p]);
      acc[r][0] = simd::fma(av, b0, acc[r][0]);
      acc[r][1] = simd::fma(av, b1, acc[r][1]);
    }
  }
  for (size_t r = 0; r < R; ++r) {
    for (size_t h = 0; h < 2; ++h) {
      const size_t col = h * kLanes;
      if (col >= cols) break;
      float* out = c + r * ldc + col;
      const size_t count = std::min(kLanes, cols - col);
      Vec value = acc[r][h];
      if (count == kLanes) {
        if (accumulate) value = simd::add(value, simd::load(out));
        simd::store(out, value);
      } else {
        if (accumulate) value = simd::add(value, simd::load_partial(out, count));
        simd::store_partial(out, value, count);
      }
    }
  }
}

template <size_t R>
void micro_kernel_rows(size_t rows, const float* a, size_t lda, const float* panel, size_t panel_stride, size_t depth,
                       float* c, size_t ldc, size_t cols, bool accumulate) {
  if constexpr (R > 0) {
    if (rows == R) {
      micro_kernel<R>(a, lda, panel, panel_stride, depth, c, ldc, cols, accumulate);
    } else {
      micro_kernel_rows<R - 1>(rows, a, lda, panel, panel_stride, depth, c, ldc, cols, accumulate);
    }
  }
}

}  // namespace detail

// c[rows, cols] (+)= a[rows, depth] (row stride lda) x panel (row stride panel_stride, at least
// kPanelWidth readable floats per row); cols <= kPanelWidth.
inline void multiply_panel(const float* a, size_t lda, size_t rows, const float* panel, size_t panel_stride,
                           size_t depth, float* c, size_t ldc, size_t cols, bool accumulate) {
  for (size_t i = 0; i < rows; i += kMicroRows) {
    detail::micro_kernel_rows<kMicroRows>(std::min(kMicroRows, rows - i), a + i * lda, lda, panel, panel_stride, depth,
                                          c + i * ldc, ldc, cols, accumulate);
  }
}

}  // namespace ferrum::cpu
