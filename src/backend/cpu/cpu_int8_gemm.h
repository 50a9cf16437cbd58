// Integer GEMM over weight panels (quant/int8_panel.h): out[m, n] = a[m, k] x W^T where W is decoded,
// 16 rows at a time, to unsigned 8-bit codes with per-group f32 scales and offsets, and `a` is
// quantized once per call to signed 8-bit values with a scale per block (the same Q8_0 / Q8_K
// rounding the vec_dot kernels use). Per group and activation row the kernel sums code x value
// exactly in int32 (AVX-512 VNNI vpdpbusd: 64 multiply-adds per instruction, 16 weight rows in the
// lanes, 4 activation bytes broadcast; AVX2: maddubs + madd, 32 per pair) and then adds
// scale * d_a * sum + offset * d_a * sum(values).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "quant/int8_panel.h"

namespace ferrum::cpu {

// Activation rows quantized to 8 bits, laid out for the panel kernel.
struct QuantizedActivations {
  size_t rows = 0;
  size_t positions = 0;               // per row: k, or the padded length of a reordered GPTQ row
  size_t group_size = 0;              // positions per entry of scale / scaled_sum
  const int8_t* values = nullptr;     // [rows][positions]
  const float* scale = nullptr;       // [rows][groups]: d_a of the block holding the group
  const float* scaled_sum = nullptr;  // [rows][groups]: d_a * sum of the group's values
  size_t groups() const { return positions / group_size; }
};

// Owns the memory of a QuantizedActivations (reused across calls by its owner).
class ActivationBuffer {
 public:
  // Quantizes rows [0, m) of a[m, k] to `activation_type` blocks (Q8_0 or Q8_K) on `pool`, and lays
  // them out with groups of `group_size` (16 or 32, dividing the block). `order`, when given, lists
  // for each of `positions` panel positions the input channel it holds (-1: none, value 0); blocks
  // are then formed over the reordered row.
  QuantizedActivations quantize(ThreadPool& pool, DType activation_type, const float* a, size_t m, size_t k,
                                size_t group_size, const int32_t* order = nullptr, size_t positions = 0);

 private:
  std::vector<int8_t> values_;
  std::vector<float> scale_;
  std::vector<float> scaled_sum_;
  std::vector<float> reordered_;
};

// A whole weight matrix decoded to panels once (GPTQ / AWQ at load): ceil(n / 16) tiles over
// `positions`. Codes of at most 4 bits are kept two to a byte (PanelView::nibbles): a decode step
// streams the whole matrix, so its bytes set the pace.
class PanelMatrix {
 public:
  // Zero-filled, 64-byte aligned; nullopt-like empty matrix (tiles() == 0) when allocation fails.
  // scale_group: positions per scale / offset entry (PanelView::scale_group; 0: group_size).
  static PanelMatrix allocate(size_t n, size_t positions, size_t group_size, uint32_t code_bits,
                              size_t scale_group = 0);

  size_t n() const { return n_; }
  size_t tiles() const { return tiles_; }
  size_t positions() const { return positions_; }
  bool allocated() const { return memory_ != nullptr; }
  quant::PanelView tile(size_t index) const;

 private:
  struct FreeDeleter {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, FreeDeleter> memory_;
  size_t n_ = 0;
  size_t tiles_ = 0;
  size_t positions_ = 0;
  size_t group_size_ = 32;
  uint32_t code_bits_ = 8;
  bool nibbles_ = false;
  size_t scale_group_ = 0;
  size_t tile_bytes_ = 0;
};

// Bytes of one panel tile over `positions` positions: codes (two to a byte with `nibbles`), then
// scales, then offsets.
size_t panel_tile_bytes(size_t positions, size_t group_size, bool nibbles = false, size_t scale_group = 0);
// The panel view of a tile stored at `memory` (64-byte aligned) whose codes fit `code_bits` bits.
quant::PanelView panel_at(uint8_t* memory, size_t positions, size_t group_size, uint32_t code_bits,
                          bool nibbles = false, size_t scale_group = 0);
// A byte panel's codes (each below 16) over `positions` (a multiple of 8) two to a byte, as a
// PanelView with `nibbles` reads them.
void pack_panel_nibbles(const uint8_t* codes, size_t positions, uint8_t* packed);

// out[r, lane] (+)= sum over positions [first, first + count) of panel x a, for r in [0, a.rows)
// and lane < valid_lanes; the panel holds those positions from its position 0 (a panel with a
// scale_group holds whole entries: first is a multiple of it). `accumulate` adds
// to what `out` (row stride out_stride) holds, so a long row can be decoded and multiplied in
// pieces that stay in L1. Single-threaded.
void panel_gemm(const quant::PanelView& panel, const QuantizedActivations& a, size_t first, size_t count, float* out,
                size_t out_stride, size_t valid_lanes, bool accumulate);

// Tiles the decode kernel walks together: one 16-row tile at a time left a core at ~10 GB/s of the
// ~25 it can stream (too few loads in flight); four reach 29-32 GB/s on 2 cores, two 24-33, eight
// no better than four (bench/micro/gptq_gemm_bench.cpp).
inline constexpr size_t kDecodeTiles = 4;

// Decode (a.rows == 1) over kDecodeTiles whole panels of one matrix at once: out[i] = panel i's
// lanes' sums over all positions (lanes[i] of them stored). AVX-512 walks them all together, AVX2
// (nibble panels only) two at a time. False (nothing done) where this build or these panels have
// no such kernel.
bool panel_gemv_tiles(const quant::PanelView* panels, const QuantizedActivations& a, float* const* out,
                      const size_t* lanes);

}  // namespace ferrum::cpu
