// Weights decoded for integer GEMM: kPanelRows output rows side by side ("a panel"), every value an
// unsigned 8-bit code with a scale and an offset per (row, group of positions):
//     w[row, p] = scale[g, row] * code[p, row] + offset[g, row],   g = p / group_size
// Every GGUF block type, GPTQ and AWQ decode to this form exactly (the scale and offset are the
// format's own f32 products, e.g. Q4_K's d * sc and -dmin * m), so one integer kernel serves them all.
//
// Codes are stored four positions per 32-bit lane, rows side by side: the 4 codes of row `lane` at
// positions 4t .. 4t+3 sit at byte (t * kPanelRows + lane) * 4. A 64-byte load is then 4 positions of
// all 16 rows, which is exactly what one AVX-512 vpdpbusd multiplies by 4 broadcast activation bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace ferrum::quant {

inline constexpr size_t kPanelRows = 16;

// Where one panel's pieces live; positions [0, groups * group_size).
struct PanelView {
  uint8_t* codes = nullptr;  // groups * group_size * kPanelRows bytes
  float* scales = nullptr;   // [groups][kPanelRows]
  float* offsets = nullptr;  // [groups][kPanelRows]
  size_t group_size = 32;
  // Every code is below 2^code_bits. Kernels without an unsigned x signed byte dot into int32 (AVX2's
  // maddubs adds pairs in int16) take a faster path when codes stay below 128; 8 is always safe.
  uint32_t code_bits = 8;
  // Codes below 16 stored two to a byte (half the bytes a decode step streams): the byte that holds
  // position p in the layout above (p < 4 of its 8-position run) holds p + 4 in its high nibble, so
  // one 64-byte load is two loads' worth of codes (panel_nibble_index).
  bool nibbles = false;
  // Positions sharing one scale / offset entry (a multiple of group_size; 0: group_size): a stored
  // GPTQ group of 128 keeps one entry where the kernels' 32-position steps would repeat it four
  // times. scales / offsets then hold [positions / scale_group][kPanelRows].
  size_t scale_group = 0;
  // How many of the kernels' groups share an entry.
  size_t groups_per_scale() const { return scale_group == 0 ? 1 : scale_group / group_size; }
};

inline size_t panel_code_index(size_t position, size_t lane) {
  return ((position / 4) * kPanelRows + lane) * 4 + position % 4;
}

// Where position `position`, lane `lane` of a panel with `nibbles` sits: the byte, and the shift of
// its nibble (0 or 4).
inline size_t panel_nibble_index(size_t position, size_t lane) {
  return ((position / 8) * kPanelRows + lane) * 4 + position % 4;
}
inline uint32_t panel_nibble_shift(size_t position) {
  return position % 8 >= 4 ? 4 : 0;
}

// Positions per scale group when `type` is decoded to a panel: 16 for Q2_K, Q3_K and Q6_K (their
// sub-blocks), 32 for the other block types; 0 when `type` has no panel decoder.
size_t panel_group_size(DType type);

// Bits of the codes `type` decodes to (2 for Q2_K ... 8 for Q8_0, whose codes are q + 128).
uint32_t panel_code_bits(DType type);

// Decodes the rows of a 16-row tile, row r (r < rows, at most kPanelRows) at first_row + r *
// row_bytes, `k` values each (whole blocks of `type`), into `panel`, starting at position 0; lanes
// past `rows` get code 0, scale 0 and offset 0. `panel.group_size` must be panel_group_size(type).
// Each row's codes go in order into a staging row, and reach the panel's interleaved layout 16
// bytes a store (4 x 4 transposes): written one row at a time, a lane's 4-byte pieces land 64
// bytes apart, and those stores had set the decode's pace.
void decode_tile_to_panel(DType type, const uint8_t* first_row, size_t row_bytes, size_t rows, size_t k,
                          const PanelView& panel);

// Fills lane `lane` over `groups` groups with code 0, scale 0 and offset 0: a row past the end of
// the matrix contributes nothing.
void clear_panel_lane(size_t lane, size_t groups, const PanelView& panel);

}  // namespace ferrum::quant
