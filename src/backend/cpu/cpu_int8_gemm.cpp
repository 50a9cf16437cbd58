#include "backend/cpu/cpu_int8_gemm.h"

// First, so immintrin.h is read under cpu_simd.h's silencing of GCC bug 105593.
#include "backend/cpu/cpu_simd.h"

#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_common.h"
#include "quant/block_types.h"
#include "quant/half_fast.h"
#include "quant/vec_dot.h"

#if defined(__AVX512F__) && defined(__AVX512VNNI__)
#define FERRUM_PANEL_VNNI 1
#elif defined(__AVX2__) && defined(__FMA__)
#define FERRUM_PANEL_AVX2 1
#endif

namespace ferrum::cpu {
namespace {

using quant::kPanelRows;

// Copies one row's activation blocks into the panel layout: values, then per group d_a and d_a * sum.
void lay_out_row(DType activation_type, const void* blocks, size_t positions, size_t group_size, int8_t* values,
                 float* scale, float* scaled_sum) {
  const bool k_blocks = activation_type == DType::kQ8_K;
  const size_t block = k_blocks ? quant::kSuperBlock : quant::kLegacyBlock;
  for (size_t b = 0; b < positions / block; ++b) {
    const int8_t* qs;
    float d;
    if (k_blocks) {
      const auto& q8 = static_cast<const quant::BlockQ8_K*>(blocks)[b];
      qs = q8.qs;
      d = q8.d;
    } else {
      const auto& q8 = static_cast<const quant::BlockQ8_0*>(blocks)[b];
      qs = q8.qs;
      d = quant::half_to_float(q8.d);
    }
    std::memcpy(values + b * block, qs, block);
    for (size_t g = 0; g < block / group_size; ++g) {
      int sum = 0;
      for (size_t i = 0; i < group_size; ++i) sum += qs[g * group_size + i];
      const size_t index = b * block / group_size + g;
      scale[index] = d;
      scaled_sum[index] = d * static_cast<float>(sum);
    }
  }
}

#if defined(FERRUM_PANEL_VNNI)

// R activation rows against the 16 panel rows: per group, int32 sums of code x value by vpdpbusd
// (codes are the unsigned operand, activation bytes the signed broadcast one), then
// acc += (sum * scale) * d_a + offset * (d_a * sum of values).
// kNibbles: the codes two to a byte (PanelView::nibbles); one load then serves two steps.
template <int R, bool kNibbles>
void panel_rows(const quant::PanelView& panel, const QuantizedActivations& a, size_t r0, size_t first_group,
                size_t group_count, float* out, size_t out_stride, __mmask16 store_mask, bool accumulate) {
  constexpr size_t kStepsPerLoad = kNibbles ? 2 : 1;
  const size_t group_size = panel.group_size;
  const size_t groups = a.groups();
  const size_t steps = group_size / 4;
  [[maybe_unused]] const __m512i low_nibbles = _mm512_set1_epi8(0x0F);
  __m512 acc[R];
  for (int r = 0; r < R; ++r) {
    acc[r] = accumulate ? _mm512_maskz_loadu_ps(store_mask, out + (r0 + r) * out_stride) : _mm512_setzero_ps();
  }
  for (size_t local = 0; local < group_count; ++local) {
    const size_t g = first_group + local;
    __m512i sums[R];
    for (int r = 0; r < R; ++r) sums[r] = _mm512_setzero_si512();
    const uint8_t* codes = panel.codes + local * group_size * kPanelRows / kStepsPerLoad;
    const int8_t* values = a.values + g * group_size;
    for (size_t t = 0; t < steps; t += kStepsPerLoad) {
      __m512i w[kStepsPerLoad];
      if constexpr (kNibbles) {
        const __m512i both = _mm512_load_si512(codes + t * 32);
        w[0] = _mm512_and_si512(both, low_nibbles);
        w[1] = _mm512_and_si512(_mm512_srli_epi16(both, 4), low_nibbles);
      } else {
        w[0] = _mm512_load_si512(codes + t * 64);
      }
      for (size_t s = 0; s < kStepsPerLoad; ++s) {
        for (int r = 0; r < R; ++r) {
          int32_t four;
          std::memcpy(&four, values + (r0 + r) * a.positions + 4 * (t + s), 4);
          sums[r] = _mm512_dpbusd_epi32(sums[r], w[s], _mm512_set1_epi32(four));
        }
      }
    }
    const size_t entry = local / panel.groups_per_scale();
    const __m512 scale = _mm512_load_ps(panel.scales + entry * kPanelRows);
    const __m512 offset = _mm512_load_ps(panel.offsets + entry * kPanelRows);
    for (int r = 0; r < R; ++r) {
      const size_t index = (r0 + r) * groups + g;
      const __m512 scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(sums[r]), scale);
      acc[r] = _mm512_fmadd_ps(scaled, _mm512_set1_ps(a.scale[index]), acc[r]);
      acc[r] = _mm512_fmadd_ps(offset, _mm512_set1_ps(a.scaled_sum[index]), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(out + (r0 + r) * out_stride, store_mask, acc[r]);
}

// One activation row against kTiles panels at once (decode): the tiles' codes are independent
// streams in flight together, and each activation broadcast serves them all. kNibbles: the codes
// two to a byte (one load, two steps); else a byte each (vpdpbusd takes any unsigned byte).
template <int kTiles, bool kNibbles>
void panel_row_tiles(const quant::PanelView* panels, const QuantizedActivations& a, float* const* out,
                     const __mmask16* masks) {
  const size_t group_size = panels[0].group_size;
  const size_t steps = group_size / 4;
  const size_t per_entry = panels[0].groups_per_scale();
  const __m512i low_nibbles = _mm512_set1_epi8(0x0F);
  __m512 acc[kTiles];
  for (int i = 0; i < kTiles; ++i) acc[i] = _mm512_setzero_ps();
  for (size_t g = 0; g < a.groups(); ++g) {
    __m512i sums[kTiles];
    for (int i = 0; i < kTiles; ++i) sums[i] = _mm512_setzero_si512();
    const int8_t* values = a.values + g * group_size;
    for (size_t t = 0; t < steps; t += 2) {
      int32_t four[2];
      std::memcpy(four, values + 4 * t, 8);
      const __m512i x0 = _mm512_set1_epi32(four[0]), x1 = _mm512_set1_epi32(four[1]);
      for (int i = 0; i < kTiles; ++i) {
        const size_t offset = g * group_size * kPanelRows + t * 64;  // of step t's codes, in bytes
        __m512i w0, w1;
        if constexpr (kNibbles) {
          const __m512i both = _mm512_load_si512(panels[i].codes + offset / 2);
          w0 = _mm512_and_si512(both, low_nibbles);
          w1 = _mm512_and_si512(_mm512_srli_epi16(both, 4), low_nibbles);
        } else {
          w0 = _mm512_load_si512(panels[i].codes + offset);
          w1 = _mm512_load_si512(panels[i].codes + offset + 64);
        }
        sums[i] = _mm512_dpbusd_epi32(sums[i], w0, x0);
        sums[i] = _mm512_dpbusd_epi32(sums[i], w1, x1);
      }
    }
    const size_t entry = g / per_entry;
    const __m512 d = _mm512_set1_ps(a.scale[g]), scaled_sum = _mm512_set1_ps(a.scaled_sum[g]);
    for (int i = 0; i < kTiles; ++i) {
      const __m512 scaled =
          _mm512_mul_ps(_mm512_cvtepi32_ps(sums[i]), _mm512_load_ps(panels[i].scales + entry * kPanelRows));
      acc[i] = _mm512_fmadd_ps(scaled, d, acc[i]);
      acc[i] = _mm512_fmadd_ps(_mm512_load_ps(panels[i].offsets + entry * kPanelRows), scaled_sum, acc[i]);
    }
  }
  for (int i = 0; i < kTiles; ++i) _mm512_mask_storeu_ps(out[i], masks[i], acc[i]);
}

constexpr size_t kRowsPerPass = 8;

template <bool kNibbles, int R = 8>
void panel_rows_dispatch(size_t rows, const quant::PanelView& panel, const QuantizedActivations& a, size_t r0,
                         size_t first_group, size_t group_count, float* out, size_t out_stride, __mmask16 mask,
                         bool accumulate) {
  if constexpr (R > 1) {
    if (rows < static_cast<size_t>(R)) {
      return panel_rows_dispatch<kNibbles, R - 1>(rows, panel, a, r0, first_group, group_count, out, out_stride, mask,
                                                  accumulate);
    }
  }
  panel_rows<R, kNibbles>(panel, a, r0, first_group, group_count, out, out_stride, mask, accumulate);
}

#elif defined(FERRUM_PANEL_AVX2)

// The AVX2 form of panel_rows: a 256-bit load is 4 positions of 8 panel rows (two per step), and
// maddubs + madd sums code x value over the 4 positions into each row's int32 lane. maddubs adds
// pairs in int16, which holds 2 * 127 * 127: codes below 128 (kWide false) go in whole. Wider codes
// (Q8_0's q + 128, 8-bit GPTQ / AWQ) go in as c - 128, signed, through |c - 128| x (value with the
// sign of c - 128) (pairs of at most 2 * 128 * 127), and the 128 x sum of the group's values comes
// back in with the offset: offset + 128 * scale multiplies d_a * that sum.
// kNibbles (never with kWide): the codes two to a byte, one load serving two steps.
template <int R, bool kWide, bool kNibbles>
void panel_rows(const quant::PanelView& panel, const QuantizedActivations& a, size_t r0, size_t first_group,
                size_t group_count, float* out, size_t out_stride, size_t valid_lanes, bool accumulate) {
  static_assert(!(kWide && kNibbles), "nibbles are below 16");
  constexpr size_t kStepsPerLoad = kNibbles ? 2 : 1;
  const size_t group_size = panel.group_size;
  const size_t groups = a.groups();
  const size_t steps = group_size / 4;
  [[maybe_unused]] const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  [[maybe_unused]] const __m256i sign_bit = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i lane_index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i store_mask[2] = {_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid_lanes)), lane_index),
                                 _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid_lanes) - 8), lane_index)};
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) {
    for (int h = 0; h < 2; ++h) {
      acc[r][h] =
          accumulate ? _mm256_maskload_ps(out + (r0 + r) * out_stride + 8 * h, store_mask[h]) : _mm256_setzero_ps();
    }
  }
  for (size_t local = 0; local < group_count; ++local) {
    const size_t g = first_group + local;
    __m256i sums[R][2];
    for (int r = 0; r < R; ++r) sums[r][0] = sums[r][1] = _mm256_setzero_si256();
    const uint8_t* codes = panel.codes + local * group_size * kPanelRows / kStepsPerLoad;
    const int8_t* values = a.values + g * group_size;
    for (size_t t = 0; t < steps; t += kStepsPerLoad) {
      __m256i w[kStepsPerLoad][2], centred[2];
      for (int h = 0; h < 2; ++h) {
        const __m256i loaded =
            _mm256_load_si256(reinterpret_cast<const __m256i*>(codes + t * 64 / kStepsPerLoad + 32 * h));
        if constexpr (kNibbles) {
          w[0][h] = _mm256_and_si256(loaded, low_nibbles);
          w[kStepsPerLoad - 1][h] = _mm256_and_si256(_mm256_srli_epi16(loaded, 4), low_nibbles);
        } else if constexpr (kWide) {
          centred[h] = _mm256_xor_si256(loaded, sign_bit);  // c - 128 as a signed byte
          w[0][h] = _mm256_abs_epi8(centred[h]);            // |c - 128|, read unsigned (128 stays 128)
        } else {
          w[0][h] = loaded;
        }
      }
      for (size_t s = 0; s < kStepsPerLoad; ++s) {
        for (int r = 0; r < R; ++r) {
          int32_t four;
          std::memcpy(&four, values + (r0 + r) * a.positions + 4 * (t + s), 4);
          const __m256i x = _mm256_set1_epi32(four);
          for (int h = 0; h < 2; ++h) {
            const __m256i signed_x = kWide ? _mm256_sign_epi8(x, centred[h]) : x;
            sums[r][h] = _mm256_add_epi32(sums[r][h], _mm256_madd_epi16(_mm256_maddubs_epi16(w[s][h], signed_x), ones));
          }
        }
      }
    }
    const size_t entry = local / panel.groups_per_scale();
    for (int h = 0; h < 2; ++h) {
      const __m256 scale = _mm256_load_ps(panel.scales + entry * kPanelRows + 8 * h);
      __m256 offset = _mm256_load_ps(panel.offsets + entry * kPanelRows + 8 * h);
      if constexpr (kWide) offset = _mm256_fmadd_ps(scale, _mm256_set1_ps(128.0f), offset);
      for (int r = 0; r < R; ++r) {
        const size_t index = (r0 + r) * groups + g;
        const __m256 scaled = _mm256_mul_ps(_mm256_cvtepi32_ps(sums[r][h]), scale);
        acc[r][h] = _mm256_fmadd_ps(scaled, _mm256_set1_ps(a.scale[index]), acc[r][h]);
        acc[r][h] = _mm256_fmadd_ps(offset, _mm256_set1_ps(a.scaled_sum[index]), acc[r][h]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int h = 0; h < 2; ++h) _mm256_maskstore_ps(out + (r0 + r) * out_stride + 8 * h, store_mask[h], acc[r][h]);
  }
}

// The AVX2 form of the AVX-512 decode kernel over several nibble tiles (codes below 16 go into
// maddubs whole): kTiles tiles' codes in flight together, two halves of 8 lanes each.
template <int kTiles>
void panel_row_tiles(const quant::PanelView* panels, const QuantizedActivations& a, float* const* out,
                     const size_t* lanes) {
  const size_t group_size = panels[0].group_size;
  const size_t steps = group_size / 4;
  const size_t per_entry = panels[0].groups_per_scale();
  const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[kTiles][2];
  for (int i = 0; i < kTiles; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (size_t g = 0; g < a.groups(); ++g) {
    __m256i sums[kTiles][2];
    for (int i = 0; i < kTiles; ++i) sums[i][0] = sums[i][1] = _mm256_setzero_si256();
    const int8_t* values = a.values + g * group_size;
    for (size_t t = 0; t < steps; t += 2) {
      int32_t four[2];
      std::memcpy(four, values + 4 * t, 8);
      const __m256i x0 = _mm256_set1_epi32(four[0]), x1 = _mm256_set1_epi32(four[1]);
      for (int i = 0; i < kTiles; ++i) {
        for (int h = 0; h < 2; ++h) {
          const __m256i both = _mm256_load_si256(
              reinterpret_cast<const __m256i*>(panels[i].codes + (g * group_size * kPanelRows + t * 64) / 2 + 32 * h));
          const __m256i low = _mm256_maddubs_epi16(_mm256_and_si256(both, low_nibbles), x0);
          const __m256i high = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(both, 4), low_nibbles), x1);
          sums[i][h] = _mm256_add_epi32(sums[i][h], _mm256_madd_epi16(_mm256_add_epi16(low, high), ones));
        }
      }
    }
    const size_t entry = g / per_entry;
    const __m256 d = _mm256_set1_ps(a.scale[g]), scaled_sum = _mm256_set1_ps(a.scaled_sum[g]);
    for (int i = 0; i < kTiles; ++i) {
      for (int h = 0; h < 2; ++h) {
        const __m256 scale = _mm256_load_ps(panels[i].scales + entry * kPanelRows + 8 * h);
        const __m256 offset = _mm256_load_ps(panels[i].offsets + entry * kPanelRows + 8 * h);
        acc[i][h] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sums[i][h]), scale), d, acc[i][h]);
        acc[i][h] = _mm256_fmadd_ps(offset, scaled_sum, acc[i][h]);
      }
    }
  }
  const __m256i lane_index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int i = 0; i < kTiles; ++i) {
    for (int h = 0; h < 2; ++h) {
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes[i]) - 8 * h), lane_index);
      _mm256_maskstore_ps(out[i] + 8 * h, mask, acc[i][h]);
    }
  }
}

// Four activation rows a pass: their 8 int32 sum vectors, the codes and the broadcast fit the 16
// registers AVX2 has.
constexpr size_t kRowsPerPass = 4;

template <bool kWide, bool kNibbles, int R = 4>
void panel_rows_dispatch(size_t rows, const quant::PanelView& panel, const QuantizedActivations& a, size_t r0,
                         size_t first_group, size_t group_count, float* out, size_t out_stride, size_t valid_lanes,
                         bool accumulate) {
  if constexpr (R > 1) {
    if (rows < static_cast<size_t>(R)) {
      return panel_rows_dispatch<kWide, kNibbles, R - 1>(rows, panel, a, r0, first_group, group_count, out, out_stride,
                                                         valid_lanes, accumulate);
    }
  }
  panel_rows<R, kWide, kNibbles>(panel, a, r0, first_group, group_count, out, out_stride, valid_lanes, accumulate);
}

#endif

}  // namespace

size_t panel_tile_bytes(size_t positions, size_t group_size, bool nibbles, size_t scale_group) {
  const size_t entries = positions / (scale_group == 0 ? group_size : scale_group);
  return positions * kPanelRows / (nibbles ? 2 : 1) + 2 * entries * kPanelRows * sizeof(float);
}

quant::PanelView panel_at(uint8_t* memory, size_t positions, size_t group_size, uint32_t code_bits, bool nibbles,
                          size_t scale_group) {
  quant::PanelView view;
  view.group_size = group_size;
  view.code_bits = code_bits;
  view.nibbles = nibbles;
  view.scale_group = scale_group;
  view.codes = memory;
  view.scales = reinterpret_cast<float*>(memory + positions * kPanelRows / (nibbles ? 2 : 1));
  view.offsets = view.scales + positions / (scale_group == 0 ? group_size : scale_group) * kPanelRows;
  return view;
}

void pack_panel_nibbles(const uint8_t* codes, size_t positions, uint8_t* packed) {
  for (size_t run = 0; run < positions / 8; ++run) {
    const uint8_t* low = codes + 2 * run * 4 * kPanelRows;
    const uint8_t* high = low + 4 * kPanelRows;
    for (size_t i = 0; i < 4 * kPanelRows; ++i) {
      packed[run * 4 * kPanelRows + i] = static_cast<uint8_t>(low[i] | (high[i] << 4));
    }
  }
}

PanelMatrix PanelMatrix::allocate(size_t n, size_t positions, size_t group_size, uint32_t code_bits,
                                  size_t scale_group) {
  PanelMatrix matrix;
  matrix.code_bits_ = code_bits;
  matrix.nibbles_ = code_bits <= 4 && positions % 8 == 0;
  matrix.scale_group_ = scale_group;
  matrix.n_ = n;
  matrix.tiles_ = (n + kPanelRows - 1) / kPanelRows;
  matrix.positions_ = positions;
  matrix.group_size_ = group_size;
  matrix.tile_bytes_ = panel_tile_bytes(positions, group_size, matrix.nibbles_, scale_group);
  const size_t bytes = std::max<size_t>(64, matrix.tiles_ * matrix.tile_bytes_);
  matrix.memory_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
  if (matrix.memory_) std::memset(matrix.memory_.get(), 0, bytes);
  return matrix;
}

quant::PanelView PanelMatrix::tile(size_t index) const {
  return panel_at(memory_.get() + index * tile_bytes_, positions_, group_size_, code_bits_, nibbles_, scale_group_);
}

QuantizedActivations ActivationBuffer::quantize(ThreadPool& pool, DType activation_type, const float* a, size_t m,
                                                size_t k, size_t group_size, const int32_t* order, size_t positions) {
  if (order == nullptr) positions = k;
  const size_t groups = positions / group_size;
  values_.resize(m * positions);
  scale_.resize(m * groups);
  scaled_sum_.resize(m * groups);
  if (order != nullptr) reordered_.resize(m * positions);
  const size_t block_bytes = dtype_bytes(activation_type, positions).value_or(0);
  pool.parallel_for(m, grain_for(positions * 8), [&](size_t begin, size_t end) {
    thread_local std::vector<uint8_t> blocks;
    blocks.resize(block_bytes);
    for (size_t r = begin; r < end; ++r) {
      const float* row = a + r * k;
      if (order != nullptr) {
        float* gathered = reordered_.data() + r * positions;
        for (size_t p = 0; p < positions; ++p) gathered[p] = order[p] >= 0 ? row[order[p]] : 0.0f;
        row = gathered;
      }
      quantize_activation_row(activation_type, row, blocks.data(), positions);
      lay_out_row(activation_type, blocks.data(), positions, group_size, values_.data() + r * positions,
                  scale_.data() + r * groups, scaled_sum_.data() + r * groups);
    }
  });
  QuantizedActivations result;
  result.rows = m;
  result.positions = positions;
  result.group_size = group_size;
  result.values = values_.data();
  result.scale = scale_.data();
  result.scaled_sum = scaled_sum_.data();
  return result;
}

void panel_gemm(const quant::PanelView& panel, const QuantizedActivations& a, size_t first, size_t count, float* out,
                size_t out_stride, size_t valid_lanes, bool accumulate) {
  const size_t first_group = first / a.group_size;
  const size_t group_count = count / a.group_size;
#if defined(FERRUM_PANEL_VNNI)
  const auto mask = static_cast<__mmask16>((1u << valid_lanes) - 1u);
  for (size_t r0 = 0; r0 < a.rows; r0 += kRowsPerPass) {
    const size_t rows = std::min(kRowsPerPass, a.rows - r0);
    if (panel.nibbles) {
      panel_rows_dispatch<true>(rows, panel, a, r0, first_group, group_count, out, out_stride, mask, accumulate);
    } else {
      panel_rows_dispatch<false>(rows, panel, a, r0, first_group, group_count, out, out_stride, mask, accumulate);
    }
  }
#elif defined(FERRUM_PANEL_AVX2)
  for (size_t r0 = 0; r0 < a.rows; r0 += kRowsPerPass) {
    const size_t rows = std::min(kRowsPerPass, a.rows - r0);
    if (panel.nibbles) {
      panel_rows_dispatch<false, true>(rows, panel, a, r0, first_group, group_count, out, out_stride, valid_lanes,
                                       accumulate);
    } else if (panel.code_bits <= 7) {
      panel_rows_dispatch<false, false>(rows, panel, a, r0, first_group, group_count, out, out_stride, valid_lanes,
                                        accumulate);
    } else {
      panel_rows_dispatch<true, false>(rows, panel, a, r0, first_group, group_count, out, out_stride, valid_lanes,
                                       accumulate);
    }
  }
#else
  // Portable version: the same integer sums and float steps, lane by lane.
  const size_t groups = a.groups();
  for (size_t r = 0; r < a.rows; ++r) {
    float acc[kPanelRows] = {};
    for (size_t local = 0; local < group_count; ++local) {
      const size_t g = first_group + local;
      int32_t sums[kPanelRows] = {};
      for (size_t i = 0; i < a.group_size; ++i) {
        const int32_t value = a.values[r * a.positions + g * a.group_size + i];
        const size_t position = local * a.group_size + i;
        for (size_t lane = 0; lane < kPanelRows; ++lane) {
          const uint32_t code =
              panel.nibbles
                  ? (panel.codes[quant::panel_nibble_index(position, lane)] >> quant::panel_nibble_shift(position)) &
                        0xFu
                  : panel.codes[quant::panel_code_index(position, lane)];
          sums[lane] += static_cast<int32_t>(code) * value;
        }
      }
      const float d = a.scale[r * groups + g];
      const float scaled_sum = a.scaled_sum[r * groups + g];
      const size_t entry = local / panel.groups_per_scale();
      for (size_t lane = 0; lane < kPanelRows; ++lane) {
        const float scaled = static_cast<float>(sums[lane]) * panel.scales[entry * kPanelRows + lane];
        acc[lane] += scaled * d + panel.offsets[entry * kPanelRows + lane] * scaled_sum;
      }
    }
    for (size_t lane = 0; lane < valid_lanes; ++lane) {
      out[r * out_stride + lane] = accumulate ? out[r * out_stride + lane] + acc[lane] : acc[lane];
    }
  }
#endif
}

bool panel_gemv_tiles(const quant::PanelView* panels, const QuantizedActivations& a, float* const* out,
                      const size_t* lanes) {
#if defined(FERRUM_PANEL_VNNI)
  if (a.rows != 1) return false;
  __mmask16 masks[kDecodeTiles];
  for (size_t i = 0; i < kDecodeTiles; ++i) {
    if (panels[i].nibbles != panels[0].nibbles) return false;
    masks[i] = static_cast<__mmask16>((1u << lanes[i]) - 1u);
  }
  if (panels[0].nibbles) {
    panel_row_tiles<kDecodeTiles, true>(panels, a, out, masks);
  } else {
    panel_row_tiles<kDecodeTiles, false>(panels, a, out, masks);
  }
  return true;
#elif defined(FERRUM_PANEL_AVX2)
  // Two tiles at a time: four would not fit AVX2's 16 registers.
  static_assert(kDecodeTiles % 2 == 0);
  if (a.rows != 1) return false;
  for (size_t i = 0; i < kDecodeTiles; ++i) {
    if (!panels[i].nibbles) return false;
  }
  for (size_t i = 0; i < kDecodeTiles; i += 2) panel_row_tiles<2>(panels + i, a, out + i, lanes + i);
  return true;
#else
  (void)panels, (void)a, (void)out, (void)lanes;
  return false;
#endif
}

}  // namespace ferrum::cpu
