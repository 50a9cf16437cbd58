// Quantized GEMM without dequantizing to f32: activations are quantized to 8 bits once per call
// (Q8_0 blocks for the legacy GGUF types, GPTQ and AWQ; Q8_K for the K-quants) and every product is
// an integer multiply-add.
//  - GGUF, m < kPanelMinRows (decode): each weight row is read once, in place, by the vec_dot kernels
//    of the quant module, against each activation row; threads split the output rows.
//  - everything else: 16 weight rows at a time are decoded into an int8 panel (quant/int8_panel.h)
//    that the VNNI kernel multiplies by all m activation rows, so each weight is decoded once per
//    call however many rows there are. GPTQ weights loaded with load_gptq are decoded to panels once
//    at load instead.
#include <algorithm>
#include <variant>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_int8_gemm.h"
#include "backend/op_checks.h"
#include "quant/grouped_weight.h"
#include "quant/vec_dot.h"

namespace ferrum {
namespace {

// Below this many activation rows the row dots beat decoding panels (which cost as much as reading
// the weights); from here on the panel's decode is shared by enough rows.
constexpr size_t kPanelMinRows = 4;
constexpr size_t kGroupedPanelGroup = 32;
// Decode streams the weights from memory once, and what limits it is the misses in flight. Each
// thread walks its rows as two sequential streams in step (1B Q4_K_M decode on the 2-core machine,
// side by side: 19.8 -> 23.9 tok/s; three or more streams no better). Whether it also asks for the
// next row of each stream ahead in software depends on the CPU, by measurement: on Intel Xeons
// that helped (2026-11-26, one stream: 17.5 -> 21.8 tok/s; 2026-11-28, an AMX host, Q4_K_M on 2
// threads 15-16 -> 21 tok/s); on the AMD EPYC the anchors were
// measured on it stalled the loop, the prefetches waiting for fill buffers (2026-11-28: 29 -> 41
// tok/s without it, Q8_0 18 -> 26; even four lines ahead cost 20%). Other CPUs: none, unmeasured.
constexpr size_t kRowStreams = 2;

bool prefetch_next_rows() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool intel = __builtin_cpu_is("intel");
  return intel;
#else
  return false;
#endif
}

Status check_activations(std::string_view op, const CpuBuffer& a, const CpuBuffer& out, size_t m, size_t n, size_t k) {
  FERRUM_TRY(check_dtype(op, "a", a, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "a", a, {m, k}));
  return check_numel(op, "out", out, {m, n});
}

// The calling thread's activation scratch: gemm_quant calls from one thread run one after another.
cpu::ActivationBuffer& activation_buffer() {
  thread_local cpu::ActivationBuffer buffer;
  return buffer;
}

// Positions of a tile decoded and multiplied at a time: its panel (16 KiB of codes) and the
// activation rows in flight stay in L1. A multiple of every block and group (256, 32, 16).
constexpr size_t kPanelChunk = 1024;

// For every 16-row tile of the n outputs and every chunk of positions: decode_tile(j0, rows, first,
// count, panel), then the panel kernel, accumulating over the chunks.
template <class DecodeTile>
void panel_gemm_over_tiles(ThreadPool& pool, const cpu::QuantizedActivations& qa, uint32_t code_bits, float* out,
                           size_t n, const DecodeTile& decode_tile) {
  const size_t tiles = cpu::ceil_div(n, quant::kPanelRows);
  const size_t chunk = std::min(kPanelChunk, qa.positions);
  const size_t tile_bytes = cpu::panel_tile_bytes(chunk, qa.group_size);
  const size_t work_per_tile = quant::kPanelRows * qa.positions * (qa.rows + 4);
  pool.parallel_for(tiles, cpu::grain_for(work_per_tile), [&](size_t begin, size_t end) {
    auto* memory = reinterpret_cast<uint8_t*>(
        cpu::thread_scratch(cpu::Scratch::kDecodedWeights, cpu::ceil_div(tile_bytes, sizeof(float))));
    const quant::PanelView panel = cpu::panel_at(memory, chunk, qa.group_size, code_bits);
    for (size_t tile = begin; tile < end; ++tile) {
      const size_t j0 = tile * quant::kPanelRows;
      const size_t rows = std::min(quant::kPanelRows, n - j0);
      for (size_t first = 0; first < qa.positions; first += chunk) {
        const size_t count = std::min(chunk, qa.positions - first);
        decode_tile(j0, rows, first, count, panel);
        cpu::panel_gemm(panel, qa, first, count, out + j0, n, rows, first > 0);
      }
    }
  });
}

// Decode-sized GGUF products: out[i, j] = vec_dot(w_j, a_i), weight rows read once each.
void gguf_row_dots(ThreadPool& pool, DType type, const uint8_t* weights, size_t row_bytes, const float* a, size_t m,
                   size_t n, size_t k, float* out) {
  const DType activation_type = *vec_dot_activation_type(type);
  const size_t activation_bytes = row_bytes_unchecked(activation_type, k);
  thread_local std::vector<uint8_t> storage;  // the calling thread's; workers see it through `activations`
  storage.resize(m * activation_bytes);
  uint8_t* activations = storage.data();
  for (size_t i = 0; i < m; ++i)
    quantize_activation_row(activation_type, a + i * k, activations + i * activation_bytes, k);
  const bool prefetch = prefetch_next_rows();
  pool.parallel_for(n, std::max<size_t>(8, cpu::grain_for(k * m)), [&](size_t begin, size_t end) {
    // The thread's rows as kRowStreams contiguous parts walked in step, row t of each in turn.
    const size_t part = (end - begin + kRowStreams - 1) / kRowStreams;
    for (size_t t = 0; t < part; ++t) {
      for (size_t stream = 0; stream < kRowStreams; ++stream) {
        const size_t first = begin + stream * part, limit = std::min(end, first + part);
        const size_t j = first + t;
        if (j >= limit) continue;
        if (prefetch && j + 1 < limit) {
          const uint8_t* next = weights + (j + 1) * row_bytes;
          for (size_t offset = 0; offset < row_bytes; offset += 64) __builtin_prefetch(next + offset);
        }
        const uint8_t* row = weights + j * row_bytes;
        for (size_t i = 0; i < m; ++i) out[i * n + j] = vec_dot(type, row, activations + i * activation_bytes, k);
      }
    }
  });
}

Status gemm_gguf(CpuContext& ctx, const CpuBuffer& a, const QuantWeights<CpuBuffer>& weights, CpuBuffer& out, size_t m,
                 size_t n, size_t k, const GgufQuant& quant) {
  const DType type = gguf_quant_dtype(quant.quant_type);
  const CpuBuffer& qweight = *weights.qweight;
  FERRUM_CHECK(qweight.dtype() == type, ErrorCode::kInvalidArgument, "gemm_quant: kind is gguf ", type,
               " but qweight holds ", qweight.dtype());
  FERRUM_CHECK(quant::panel_group_size(type) != 0 && vec_dot_activation_type(type).has_value(), ErrorCode::kUnsupported,
               "gemm_quant: no integer kernel for gguf ", type);
  const size_t block = dtype_info(type).block_elems;
  FERRUM_CHECK(k % block == 0, ErrorCode::kShapeMismatch, "gemm_quant: k=", k, " is not a whole number of ", type,
               " blocks of ", block);
  FERRUM_TRY(check_numel("gemm_quant", "qweight", qweight, {n, k}));
  if (m == 0 || n == 0) return ok();
  const auto* base = static_cast<const uint8_t*>(qweight.data());
  const size_t row_bytes = row_bytes_unchecked(type, k);
  float* c = out.data_as<float>();
  if (k == 0) {  // an empty sum
    std::fill_n(c, m * n, 0.0f);
    return ok();
  }
  if (m < kPanelMinRows) {
    gguf_row_dots(*ctx.pool, type, base, row_bytes, a.data_as<float>(), m, n, k, c);
    return ok();
  }
  const cpu::QuantizedActivations qa = activation_buffer().quantize(
      *ctx.pool, *vec_dot_activation_type(type), a.data_as<float>(), m, k, quant::panel_group_size(type));
  panel_gemm_over_tiles(*ctx.pool, qa, quant::panel_code_bits(type), c, n,
                        [&](size_t j0, size_t rows, size_t first, size_t count, const quant::PanelView& panel) {
                          const size_t skip = row_bytes_unchecked(type, first);
                          quant::decode_tile_to_panel(type, base + j0 * row_bytes + skip, row_bytes, rows, count,
                                                      panel);
                        });
  return ok();
}

// Fills the sizes and pointers of a GPTQ / AWQ weight from gemm_quant's buffers, checking each.
Expected<quant::GroupedQuantWeight> grouped_weight_from_buffers(const QuantWeights<CpuBuffer>& weights,
                                                                quant::PackedLayout layout, uint32_t bits,
                                                                size_t group_size, size_t n, size_t k) {
  constexpr std::string_view op = "gemm_quant";
  FERRUM_CHECK(weights.scales != nullptr && weights.zeros != nullptr, ErrorCode::kInvalidArgument, op,
               ": gptq / awq weights need scales and zeros");
  quant::GroupedQuantWeight w;
  w.layout = layout;
  w.bits = bits;
  w.k = k;
  w.n = n;
  w.group_size = group_size;
  w.zero_offset = layout == quant::PackedLayout::kGptq ? 1 : 0;  // the contract's GPTQ is v1
  w.scale_dtype = weights.scales->dtype();
  FERRUM_TRY(check_dtype(op, "qweight", *weights.qweight, {DType::kI32}));
  FERRUM_TRY(check_dtype(op, "zeros", *weights.zeros, {DType::kI32}));
  FERRUM_TRY(check_dtype(op, "scales", *weights.scales, {DType::kF32, DType::kF16, DType::kBF16}));
  if (weights.g_idx != nullptr) FERRUM_TRY(check_dtype(op, "g_idx", *weights.g_idx, {DType::kI32}));
  // Sizes only once the packing factor is known to be valid (validate checks bits first).
  FERRUM_TRY(quant::validate_grouped_quant(op, w));
  FERRUM_TRY(check_numel(op, "qweight", *weights.qweight, {k, n / w.codes_per_word()}));
  FERRUM_TRY(check_numel(op, "zeros", *weights.zeros, {w.groups(), n / w.codes_per_word()}));
  FERRUM_TRY(check_numel(op, "scales", *weights.scales, {w.groups(), n}));
  if (weights.g_idx != nullptr) {
    FERRUM_TRY(check_numel(op, "g_idx", *weights.g_idx, k));
    w.g_idx = weights.g_idx->data();
    FERRUM_TRY(quant::validate_grouped_quant(op, w));  // now g_idx entries too
  }
  w.qweight = weights.qweight->data();
  w.qzeros = weights.zeros->data();
  w.scales = weights.scales->data();
  return w;
}

// GPTQ / AWQ activations: Q8_0 blocks over the panel order (natural order unless act-order).
cpu::QuantizedActivations quantize_grouped_activations(ThreadPool& pool, const float* a, size_t m, size_t k,
                                                       const quant::PanelOrder& order) {
  return activation_buffer().quantize(pool, DType::kQ8_0, a, m, k, kGroupedPanelGroup,
                                      order.identity() ? nullptr : order.channels.data(), order.positions);
}

// A checked GPTQ / AWQ weight decoded to panels once (at load), spread over the default pool by
// tiles of output rows.
Expected<CpuGptqStore> store_as_panels(std::string_view op, const quant::GroupedQuantWeight& w) {
  const size_t n = w.n;
  CpuGptqStore store;
  store.n = n;
  store.k = w.k;
  store.order = quant::grouped_panel_order(w);
  const size_t scale_group = quant::shared_scale_positions(w, store.order);
  store.panels = std::make_shared<cpu::PanelMatrix>(
      cpu::PanelMatrix::allocate(n, store.order.positions, kGroupedPanelGroup, w.bits, scale_group));
  FERRUM_CHECK(store.panels->allocated(), ErrorCode::kOutOfRange, op, ": cannot allocate the panels of a ", n, " x ",
               w.k, " weight");
  const size_t positions = store.order.positions;
  const size_t groups_per_entry = scale_group / kGroupedPanelGroup;
  default_thread_pool().parallel_for(store.panels->tiles(), 1, [&](size_t begin, size_t end) {
    // A tile decoded the decoder's way (byte codes, an entry per 32 positions), then stored the
    // matrix's way: codes two to a byte where they fit, an entry per scale group.
    std::vector<uint8_t> staging(cpu::panel_tile_bytes(positions, kGroupedPanelGroup));
    const quant::PanelView decoded = cpu::panel_at(staging.data(), positions, kGroupedPanelGroup, w.bits);
    for (size_t tile = begin; tile < end; ++tile) {
      const size_t j0 = tile * quant::kPanelRows;
      const quant::PanelView panel = store.panels->tile(tile);
      quant::decode_grouped_to_panel(w, store.order, j0, std::min(quant::kPanelRows, n - j0), 0, positions, decoded);
      if (panel.nibbles) {
        cpu::pack_panel_nibbles(decoded.codes, positions, panel.codes);
      } else {
        std::copy_n(decoded.codes, positions * quant::kPanelRows, panel.codes);
      }
      for (size_t entry = 0; entry < positions / scale_group; ++entry) {
        // Every block of an entry decodes the same scale and offset (grouped_panel_order pads a group
        // to whole blocks, so no block is padding only): the first one's serve.
        const size_t from = entry * groups_per_entry * quant::kPanelRows;
        std::copy_n(decoded.scales + from, quant::kPanelRows, panel.scales + entry * quant::kPanelRows);
        std::copy_n(decoded.offsets + from, quant::kPanelRows, panel.offsets + entry * quant::kPanelRows);
      }
    }
  });
  return store;
}

}  // namespace

Status CpuBackend::gemm_quant(CpuContext& ctx, const CpuBuffer& a, const QuantWeights<CpuBuffer>& weights,
                              CpuBuffer& out, size_t m, size_t n, size_t k, const QuantKind& kind) {
  FERRUM_CHECK(weights.qweight != nullptr, ErrorCode::kInvalidArgument, "gemm_quant: qweight is missing");
  FERRUM_TRY(check_activations("gemm_quant", a, out, m, n, k));
  if (const auto* gguf = std::get_if<GgufQuant>(&kind)) return gemm_gguf(ctx, a, weights, out, m, n, k, *gguf);

  Expected<quant::GroupedQuantWeight> weight = [&]() -> Expected<quant::GroupedQuantWeight> {
    if (const auto* gptq = std::get_if<GptqQuant>(&kind)) {
      FERRUM_CHECK(!gptq->desc_act || weights.g_idx != nullptr, ErrorCode::kInvalidArgument,
                   "gemm_quant: gptq with desc_act needs g_idx");
      return grouped_weight_from_buffers(weights, quant::PackedLayout::kGptq, gptq->bits, gptq->group_size, n, k);
    }
    const auto& awq = std::get<AwqQuant>(kind);
    FERRUM_CHECK(weights.g_idx == nullptr, ErrorCode::kInvalidArgument, "gemm_quant: awq takes no g_idx");
    return grouped_weight_from_buffers(weights, quant::PackedLayout::kAwq, awq.bits, awq.group_size, n, k);
  }();
  if (!weight) return std::move(weight).error();
  if (m == 0 || n == 0) return ok();
  float* c = out.data_as<float>();
  if (k == 0) {
    std::fill_n(c, m * n, 0.0f);
    return ok();
  }
  const quant::GroupedQuantWeight& w = *weight;
  const quant::PanelOrder order = quant::grouped_panel_order(w);
  const cpu::QuantizedActivations qa = quantize_grouped_activations(*ctx.pool, a.data_as<float>(), m, k, order);
  panel_gemm_over_tiles(*ctx.pool, qa, w.bits, c, n,
                        [&](size_t j0, size_t rows, size_t first, size_t count, const quant::PanelView& panel) {
                          quant::decode_grouped_to_panel(w, order, j0, rows, first, count, panel);
                        });
  return ok();
}

Expected<CpuGptqStore> CpuBackend::load_gptq(std::span<const int32_t> qweight, std::span<const float> scales,
                                             std::span<const int32_t> qzeros,
                                             std::optional<std::span<const int32_t>> g_idx, uint32_t bits,
                                             size_t group_size, size_t k, size_t n) {
  constexpr std::string_view op = "load_gptq";
  quant::GroupedQuantWeight w;
  w.layout = quant::PackedLayout::kGptq;
  w.bits = bits;
  w.k = k;
  w.n = n;
  w.group_size = group_size;
  w.scale_dtype = DType::kF32;
  FERRUM_TRY(quant::validate_grouped_quant(op, w));
  FERRUM_ASSIGN_OR_RETURN(size_t dense, checked_product(op, {n, k}));
  const size_t per_word = w.codes_per_word();
  FERRUM_CHECK(qweight.size() == dense / per_word, ErrorCode::kShapeMismatch, op, ": qweight has ", qweight.size(),
               " words, needs ", dense / per_word, " (k=", k, " / ", per_word, " x n=", n, ")");
  FERRUM_CHECK(qzeros.size() == w.groups() * (n / per_word), ErrorCode::kShapeMismatch, op, ": qzeros has ",
               qzeros.size(), " words, needs ", w.groups() * (n / per_word), " (", w.groups(), " groups x ",
               n / per_word, ")");
  FERRUM_CHECK(scales.size() == w.groups() * n, ErrorCode::kShapeMismatch, op, ": scales has ", scales.size(),
               " values, needs ", w.groups() * n, " (", w.groups(), " groups x n=", n, ")");
  if (g_idx) {
    FERRUM_CHECK(g_idx->size() == k, ErrorCode::kShapeMismatch, op, ": g_idx has ", g_idx->size(),
                 " entries, needs k=", k);
    w.g_idx = g_idx->data();
    FERRUM_TRY(quant::validate_grouped_quant(op, w));
  }
  w.qweight = qweight.data();
  w.qzeros = qzeros.data();
  w.scales = scales.data();
  return store_as_panels(op, w);
}

Expected<CpuGptqStore> CpuBackend::load_awq(std::span<const int32_t> qweight, std::span<const float> scales,
                                            std::span<const int32_t> qzeros, size_t group_size, size_t k, size_t n) {
  constexpr std::string_view op = "load_awq";
  quant::GroupedQuantWeight w;
  w.layout = quant::PackedLayout::kAwq;
  w.bits = 4;
  w.k = k;
  w.n = n;
  w.group_size = group_size;
  w.zero_offset = 0;
  w.scale_dtype = DType::kF32;
  FERRUM_TRY(quant::validate_grouped_quant(op, w));
  FERRUM_TRY(checked_product(op, {n, k}));
  FERRUM_CHECK(qweight.size() == w.qweight_words(), ErrorCode::kShapeMismatch, op, ": qweight has ", qweight.size(),
               " words, needs ", w.qweight_words(), " (k=", k, " x n=", n, " / 8)");
  FERRUM_CHECK(qzeros.size() == w.qzeros_words(), ErrorCode::kShapeMismatch, op, ": qzeros has ", qzeros.size(),
               " words, needs ", w.qzeros_words(), " (", w.groups(), " groups x n=", n, " / 8)");
  FERRUM_CHECK(scales.size() == w.scale_count(), ErrorCode::kShapeMismatch, op, ": scales has ", scales.size(),
               " values, needs ", w.scale_count(), " (", w.groups(), " groups x n=", n, ")");
  w.qweight = qweight.data();
  w.qzeros = qzeros.data();
  w.scales = scales.data();
  return store_as_panels(op, w);
}

Status CpuBackend::gemm_gptq(CpuContext& ctx, const CpuBuffer& a, const CpuGptqStore& weight, CpuBuffer& out,
                             size_t m) {
  FERRUM_TRY(check_dtype("gemm_gptq", "a", a, {DType::kF32}));
  FERRUM_TRY(check_dtype("gemm_gptq", "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel("gemm_gptq", "a", a, {m, weight.k}));
  FERRUM_TRY(check_numel("gemm_gptq", "out", out, {m, weight.n}));
  FERRUM_CHECK(weight.panels != nullptr, ErrorCode::kInvalidArgument, "gemm_gptq: the store holds no weights");
  if (m == 0 || weight.n == 0) return ok();
  const cpu::QuantizedActivations qa =
      quantize_grouped_activations(*ctx.pool, a.data_as<float>(), m, weight.k, weight.order);
  const size_t tiles = weight.panels->tiles();
  const size_t work_per_tile = quant::kPanelRows * qa.positions * m;
  float* c = out.data_as<float>();
  ctx.pool->parallel_for(tiles, cpu::grain_for(work_per_tile), [&](size_t begin, size_t end) {
    size_t tile = begin;
    // Decode: cpu::kDecodeTiles tiles at a time where the build has that kernel, the rest one by one.
    while (m == 1 && tile + cpu::kDecodeTiles <= end) {
      quant::PanelView panels[cpu::kDecodeTiles];
      float* outs[cpu::kDecodeTiles];
      size_t lanes[cpu::kDecodeTiles];
      for (size_t i = 0; i < cpu::kDecodeTiles; ++i) {
        panels[i] = weight.panels->tile(tile + i);
        outs[i] = c + (tile + i) * quant::kPanelRows;
        lanes[i] = std::min(quant::kPanelRows, weight.n - (tile + i) * quant::kPanelRows);
      }
      if (!cpu::panel_gemv_tiles(panels, qa, outs, lanes)) break;
      tile += cpu::kDecodeTiles;
    }
    for (; tile < end; ++tile) {
      const size_t j0 = tile * quant::kPanelRows;
      cpu::panel_gemm(weight.panels->tile(tile), qa, 0, qa.positions, c + j0, weight.n,
                      std::min(quant::kPanelRows, weight.n - j0), false);
    }
  });
  return ok();
}

}  // namespace ferrum
