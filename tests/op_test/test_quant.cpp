// gemm_quant (GPTQ, AWQ, GGUF), load_gptq and gemm_gptq.
//
// Ground truth comes from ../shared/fixtures/quant: GPTQ / AWQ layers packed by vLLM's helpers
// (and byte-checked against AutoGPTQ / AutoAWQ) with their exact f32 weight w_ref, and GGUF blocks
// with ggml's own dequantization. "dequant (A = I)" cases multiply by the identity so the output
// is the decoded weight itself, which must match w_ref bit for bit. Synthetic cases pack random
// codes from the layout descriptions in the fixture READMEs to reach 2- and 8-bit GPTQ, act-order,
// several scale dtypes, m = 1 and k beyond one decode tile.
//
// GGUF products are judged against the dense product of the decoded weight (ggml's decoding for
// the fixture, quant::dequantize_row for random weights quantized here). On the CPU, whose integer
// kernels quantize activations per vec_dot block, see judge_quantized. On CUDA, against either the
// exact activations (kF32Math: dequantize then GEMM, above 8 rows) or the activations rounded to
// int8 per 32 values as the dp4a GEMVs round them (GGUF Q8_0, Q4_K and Q6_K at m <= 8; 4-bit GPTQ
// at m = 1). The rounded product must then match to kF32Math, and the exact one to
// kInt8Activations: a half-step error of up to max|x| / 254 per value gives about 4e-3 of the
// largest output at these sizes (uniform x and weights), so 2e-2 leaves room and still flags a
// wrong scale or sub-block (>= 1e-1).
#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/half.h"
#include "fixture_files.h"
#include "op_test.h"
#include "quant/dequantize.h"
#include "quant/grouped_weight.h"
#include "quant/quantize.h"
#include "quant/vec_dot.h"
#include "reference_ops.h"

namespace ferrum::op_test {
namespace {

// Rounding activations to 8 bits costs up to half a step (max|block| / 254) per value; over a dot
// product of random signs the relative error of a result is ~1e-3 of the output scale. 1e-2 of
// max |reference| bounds it on every case here; a wrong block or term is far larger.
constexpr double kActivation8Bit = 1e-2;

// Activations as the CPU's integer kernels see them: each row quantized in blocks of
// `activation_type` (Q8_0: 32 values, f16 scale; Q8_K: 256 values, f32 scale) with scale
// max |block| / 127 and round to nearest, then decoded. With an `order` (GPTQ act-order), the blocks
// are formed over the reordered, padded row and the values go back to their channels.
std::vector<float> round_activations(const std::vector<float>& a, size_t m, size_t k, DType activation_type,
                                     const quant::PanelOrder* order = nullptr) {
  const bool reordered = order != nullptr && !order->identity();
  const size_t positions = reordered ? order->positions : k;
  std::vector<float> row(positions), decoded(positions), result(m * k);
  std::vector<uint8_t> blocks(*dtype_bytes(activation_type, positions));
  for (size_t r = 0; r < m; ++r) {
    for (size_t p = 0; p < positions; ++p) {
      const int32_t channel = reordered ? order->channels[p] : static_cast<int32_t>(p);
      row[p] = channel >= 0 ? a[r * k + static_cast<size_t>(channel)] : 0.0f;
    }
    quantize_activation_row(activation_type, row.data(), blocks.data(), positions);
    dequantize_row(activation_type, blocks.data(), decoded.data(), positions);
    for (size_t p = 0; p < positions; ++p) {
      const int32_t channel = reordered ? order->channels[p] : static_cast<int32_t>(p);
      if (channel >= 0) result[r * k + static_cast<size_t>(channel)] = decoded[p];
    }
  }
  return result;
}

// Each value as bf16 would hold it.
std::vector<float> round_all_to_bf16(const std::vector<float>& values) {
  std::vector<float> rounded(values.size());
  std::transform(values.begin(), values.end(), rounded.begin(), [](float v) { return round_to(DType::kBF16, v); });
  return rounded;
}

constexpr double kInt8Activations = 2e-2;

// out = a @ w^T with x and w both rounded to bf16 and summed in f32 in the tensor cores' own order,
// and within the int8-activation bound of the exact product; `stored` is the output's dtype.
CaseResult judge_bf16_operands(std::span<const float> actual, const std::vector<float>& a, const std::vector<float>& w,
                               size_t m, size_t n, size_t k, DType stored) {
  constexpr double kBf16OperandSums = 1e-4;
  CaseResult bf16 = compare(actual, ref::gemm(round_all_to_bf16(a), round_all_to_bf16(w), m, n, k),
                            stored_tolerance(stored, kBf16OperandSums));
  if (!bf16.passed) return bf16;
  return compare_all({bf16, compare(actual, ref::gemm(a, w, m, n, k), kInt8Activations)});
}

// x rounded as the fused GGUF GEMV rounds it (backend/cuda/kernels/quant_gemv.cu): per 32 values,
// scale = max |x| / 127 in f32 (1 for an all-zero group), q = round-half-even(x / scale).
std::vector<float> round_to_int8_groups(const std::vector<float>& x) {
  std::vector<float> rounded(x.size());
  for (size_t group = 0; group < x.size(); group += 32) {
    float amax = 0.0f;
    for (size_t i = group; i < group + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
    for (size_t i = group; i < group + 32; ++i) rounded[i] = std::nearbyint(x[i] / scale) * scale;
  }
  return rounded;
}

// The same over `order`'s positions (GPTQ act-order: channels sorted by group, as CUDA's load_gptq
// sorts the weight's rows and gathers x to match), each row rounded in that order.
std::vector<float> round_to_int8_groups(const std::vector<float>& x, size_t m, size_t k,
                                        const quant::PanelOrder& order) {
  if (order.identity() || order.positions != k) return round_to_int8_groups(x);
  std::vector<float> row(k), rounded(x.size());
  for (size_t r = 0; r < m; ++r) {
    for (size_t p = 0; p < k; ++p) row[p] = x[r * k + static_cast<size_t>(order.channels[p])];
    const std::vector<float> row_rounded = round_to_int8_groups(row);
    for (size_t p = 0; p < k; ++p) rounded[r * k + static_cast<size_t>(order.channels[p])] = row_rounded[p];
  }
  return rounded;
}

// out = a @ w^T with exact activations (CUDA's dequantize + cuBLASLt path), with int8-rounded ones
// (the fused GEMV, see round_to_int8_groups), or with x and w both rounded to bf16 (the tensor-core
// kernel, kernels/quant_mma.h); `stored` is the output's dtype.
CaseResult judge_gguf(std::span<const float> actual, const std::vector<float>& a, const std::vector<float>& w, size_t m,
                      size_t n, size_t k, DType stored = DType::kF32, const quant::PanelOrder& order = {}) {
  const std::vector<double> exact = ref::gemm(a, w, m, n, k);
  const double math = stored_tolerance(stored, kF32Math);
  CaseResult plain = compare(actual, exact, math);
  if (plain.passed) return plain;
  CaseResult int8 = compare(actual, ref::gemm(round_to_int8_groups(a, m, k, order), w, m, n, k), math);
  if (int8.passed) return compare_all({int8, compare(actual, exact, kInt8Activations)});
  CaseResult bf16 = judge_bf16_operands(actual, a, w, m, n, k, stored);
  if (bf16.passed) return bf16;
  plain.detail = cat("matches neither exact x (", plain.detail, "), x rounded to int8 (", int8.detail,
                     ") nor x and w rounded to bf16 (", bf16.detail, ")");
  return plain;
}

// Judges a quantized GEMM: on backends that round activations, against the reference with the
// activations rounded the same way (f32 tolerance: the integer sums are exact) and against the
// exact activations (kActivation8Bit); elsewhere against the exact activations with `tolerance`, or
// as a product of bf16-rounded operands (judge_bf16_operands).
template <Backend B>
CaseResult judge_quantized(const std::vector<float>& actual, const std::vector<float>& a,
                           const std::vector<float>& rounded_a, const std::vector<float>& w, size_t m, size_t n,
                           size_t k, double tolerance, const quant::PanelOrder& order = {}) {
  if constexpr (quantizes_activations<B>()) {
    return compare_all({compare(actual, ref::gemm(rounded_a, w, m, n, k), kF32Math),
                        compare(actual, ref::gemm(a, w, m, n, k), kActivation8Bit)});
  } else {
    CaseResult exact = compare(actual, ref::gemm(a, w, m, n, k), tolerance);
    if (exact.passed || tolerance == kExact) return exact;
    // CUDA's 4-bit GPTQ GEMV (one row) rounds x to int8 per 32 values as its GGUF GEMV does (in
    // `order` for act-order weights sorted at load), and its tensor-core kernel
    // (kernels/quant_mma.h) takes GPTQ / AWQ batches with bf16 operands.
    return judge_gguf(actual, a, w, m, n, k, DType::kF32, order);
  }
}

// Weights of a grouped-quant layer as the test holds them: packed words plus the weight they encode.
struct PackedLayer {
  size_t k = 0;
  size_t n = 0;
  std::vector<int32_t> qweight;
  std::vector<int32_t> qzeros;
  std::vector<float> scales;  // [groups, n], exactly representable in scale_dtype
  DType scale_dtype = DType::kF16;
  std::vector<int32_t> g_idx;  // empty: none
  std::vector<float> w;        // [n, k], the dense weight
  QuantKind kind;
};

std::vector<float> identity(size_t k) {
  std::vector<float> eye(k * k, 0.0f);
  for (size_t i = 0; i < k; ++i) eye[i * k + i] = 1.0f;
  return eye;
}

Expected<PackedLayer> load_fixture_layer(const std::string& file, bool awq) {
  FERRUM_ASSIGN_OR_RETURN(SafetensorsFile st, read_safetensors(fixture_path("quant/" + file)));
  PackedLayer layer;
  layer.k = std::stoul(st.metadata["K"]);
  layer.n = std::stoul(st.metadata["N"]);
  const uint32_t bits = static_cast<uint32_t>(std::stoul(st.metadata["bits"]));
  const long group = std::stol(st.metadata["group_size"]);
  const size_t group_size = group < 0 ? 0 : static_cast<size_t>(group);
  FERRUM_ASSIGN_OR_RETURN(const SafetensorsTensor* qweight, st.tensor("qweight"));
  FERRUM_ASSIGN_OR_RETURN(const SafetensorsTensor* qzeros, st.tensor("qzeros"));
  FERRUM_ASSIGN_OR_RETURN(const SafetensorsTensor* scales, st.tensor("scales"));
  FERRUM_ASSIGN_OR_RETURN(const SafetensorsTensor* w_ref, st.tensor("w_ref"));
  layer.qweight = tensor_ints(*qweight);
  layer.qzeros = tensor_ints(*qzeros);
  layer.scales = tensor_floats(*scales);
  layer.w = tensor_floats(*w_ref);
  if (awq) {
    layer.kind = AwqQuant{bits, group_size};
  } else {
    const bool desc_act = st.metadata["desc_act"] == "true";
    FERRUM_ASSIGN_OR_RETURN(const SafetensorsTensor* g_idx, st.tensor("g_idx"));
    layer.g_idx = tensor_ints(*g_idx);
    layer.kind = GptqQuant{bits, group_size, desc_act};
  }
  return layer;
}

// Random codes packed by the layouts in the fixture READMEs (the reverse of what a decoder does).
PackedLayer make_synthetic_layer(bool awq, uint32_t bits, size_t group_size, bool desc_act, DType scale_dtype,
                                 uint64_t seed, bool awq_zero_points_of_0 = true, size_t k_in = 1056, size_t n_in = 0) {
  Rng rng(seed);
  PackedLayer layer;
  layer.k = k_in;
  layer.n = n_in != 0 ? n_in : bits == 2 ? 80 : 88;  // 88: 5.5 panels of 16 rows (2-bit zeros pack 16 columns a word)
  layer.scale_dtype = scale_dtype;
  const size_t k = layer.k;
  const size_t n = layer.n;
  const size_t per_word = 32 / bits;
  const uint32_t levels = 1u << bits;
  const size_t groups = group_size == 0 ? 1 : (k + group_size - 1) / group_size;
  std::vector<size_t> group_of(k);
  for (size_t p = 0; p < k; ++p) group_of[p] = group_size == 0 ? 0 : p / group_size;
  if (desc_act) {  // act-order: each group keeps its size, rows are scattered
    std::vector<size_t> order(k);
    std::iota(order.begin(), order.end(), 0);
    for (size_t i = k - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
    for (size_t p = 0; p < k; ++p) group_of[p] = group_size == 0 ? 0 : order[p] / group_size;
  }
  std::vector<uint32_t> codes(k * n);
  for (uint32_t& code : codes) code = static_cast<uint32_t>(rng.below(levels));
  std::vector<uint32_t> zeros(groups * n);
  // GPTQ v1 cannot store a zero point of 0 (it keeps z - 1); AWQ can (load_awq then refuses it).
  const bool zero_allowed = awq && awq_zero_points_of_0;
  for (uint32_t& zero : zeros)
    zero = zero_allowed ? static_cast<uint32_t>(rng.below(levels)) : 1 + static_cast<uint32_t>(rng.below(levels - 1));
  layer.scales.resize(groups * n);
  for (float& scale : layer.scales) scale = round_to(scale_dtype, rng.uniform(0.001f, 0.05f));

  layer.w.resize(n * k);
  for (size_t j = 0; j < n; ++j) {
    for (size_t p = 0; p < k; ++p) {
      const size_t g = group_of[p];
      layer.w[j * k + p] =
          (static_cast<float>(codes[p * n + j]) - static_cast<float>(zeros[g * n + j])) * layer.scales[g * n + j];
    }
  }
  if (awq) {
    constexpr size_t kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};  // nibble i holds column 8c + kOrder[i]
    size_t nibble_of[8];
    for (size_t i = 0; i < 8; ++i) nibble_of[kOrder[i]] = i;
    auto pack_row = [&](const uint32_t* values, int32_t* words) {
      for (size_t j = 0; j < n; ++j) {
        words[j / 8] = static_cast<int32_t>(static_cast<uint32_t>(words[j / 8]) | values[j] << (4 * nibble_of[j % 8]));
      }
    };
    layer.qweight.assign(k * n / 8, 0);
    layer.qzeros.assign(groups * n / 8, 0);
    for (size_t p = 0; p < k; ++p) pack_row(&codes[p * n], &layer.qweight[p * n / 8]);
    for (size_t g = 0; g < groups; ++g) pack_row(&zeros[g * n], &layer.qzeros[g * n / 8]);
    layer.kind = AwqQuant{bits, group_size};
  } else {
    layer.qweight.assign(k / per_word * n, 0);
    for (size_t p = 0; p < k; ++p) {
      for (size_t j = 0; j < n; ++j) {
        int32_t& word = layer.qweight[(p / per_word) * n + j];
        word = static_cast<int32_t>(static_cast<uint32_t>(word) | codes[p * n + j] << (bits * (p % per_word)));
      }
    }
    layer.qzeros.assign(groups * n / per_word, 0);
    for (size_t g = 0; g < groups; ++g) {
      for (size_t j = 0; j < n; ++j) {
        int32_t& word = layer.qzeros[g * n / per_word + j / per_word];
        word = static_cast<int32_t>(static_cast<uint32_t>(word) | (zeros[g * n + j] - 1) << (bits * (j % per_word)));
      }
    }
    layer.g_idx.resize(k);
    for (size_t p = 0; p < k; ++p) layer.g_idx[p] = static_cast<int32_t>(group_of[p]);
    layer.kind = GptqQuant{bits, group_size, desc_act};
  }
  return layer;
}

template <Backend B>
struct LayerBuffers {
  typename B::Buffer qweight, zeros, scales, g_idx;
  bool has_g_idx = false;
  QuantWeights<typename B::Buffer> view() const { return {&qweight, &scales, &zeros, has_g_idx ? &g_idx : nullptr}; }
};

template <Backend B>
Expected<LayerBuffers<B>> upload_layer(const PackedLayer& layer) {
  LayerBuffers<B> buffers;
  auto ints = [](const std::vector<int32_t>& values) {
    return B::from_bytes({reinterpret_cast<const uint8_t*>(values.data()), values.size() * 4}, DType::kI32,
                         values.size());
  };
  FERRUM_ASSIGN_OR_RETURN(buffers.qweight, ints(layer.qweight));
  FERRUM_ASSIGN_OR_RETURN(buffers.zeros, ints(layer.qzeros));
  FERRUM_ASSIGN_OR_RETURN(buffers.scales, B::from_slice(layer.scales, layer.scale_dtype));
  if (!layer.g_idx.empty()) {
    FERRUM_ASSIGN_OR_RETURN(buffers.g_idx, ints(layer.g_idx));
    buffers.has_g_idx = true;
  }
  return buffers;
}

// Backends that run AWQ through their GPTQ store (CPU: decoded to panels; CUDA: repacked).
template <class B>
constexpr bool has_load_awq() {
  return requires(std::span<const int32_t> ints, std::span<const float> floats) {
    B::load_awq(ints, floats, ints, size_t{}, size_t{}, size_t{});
  };
}

// out = a @ W^T through gemm_quant (or load_gptq / load_awq + gemm_gptq), compared with the dense
// reference.
// `activations` is x's and out's dtype (bf16: a must be bf16 values).
template <Backend B>
CaseResult run_layer(const PackedLayer& layer, const std::vector<float>& a, size_t m, bool through_store,
                     double tolerance, DType activations = DType::kF32) {
  const size_t n = layer.n;
  const size_t k = layer.k;
  OP_ASSIGN(auto a_buffer, upload<B>(a, activations));
  OP_ASSIGN(auto out, B::alloc(m * n, activations));
  auto ctx = B::new_context();
  const auto* awq = std::get_if<AwqQuant>(&layer.kind);
  if (through_store && awq != nullptr) {
    if constexpr (has_load_awq<B>()) {
      OP_ASSIGN(auto store, B::load_awq(layer.qweight, layer.scales, layer.qzeros, awq->group_size, k, n));
      OP_TRY(B::gemm_gptq(ctx, a_buffer, store, out, m));
    }
  } else if (through_store) {
    const auto& gptq = std::get<GptqQuant>(layer.kind);
    std::optional<std::span<const int32_t>> g_idx;
    if (!layer.g_idx.empty()) g_idx = std::span<const int32_t>(layer.g_idx);
    OP_ASSIGN(auto store,
              B::load_gptq(layer.qweight, layer.scales, layer.qzeros, g_idx, gptq.bits, gptq.group_size, k, n));
    OP_TRY(B::gemm_gptq(ctx, a_buffer, store, out, m));
  } else {
    OP_ASSIGN(auto buffers, upload_layer<B>(layer));
    OP_TRY(B::gemm_quant(ctx, a_buffer, buffers.view(), out, m, n, k, layer.kind));
  }
  OP_ASSIGN(auto actual, download<B>(ctx, out, m * n));
  quant::GroupedQuantWeight view;  // only its grouping matters here: it decides the channel order
  view.layout = std::holds_alternative<AwqQuant>(layer.kind) ? quant::PackedLayout::kAwq : quant::PackedLayout::kGptq;
  view.k = k;
  view.n = n;
  view.group_size = std::visit(
      [](const auto& q) -> size_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(q)>, GgufQuant>) {
          return 0;
        } else {
          return q.group_size;
        }
      },
      layer.kind);
  view.g_idx = layer.g_idx.empty() ? nullptr : layer.g_idx.data();
  const quant::PanelOrder order = quant::grouped_panel_order(view);
  if (activations != DType::kF32) return judge_gguf(actual, a, layer.w, m, n, k, activations, order);
  return judge_quantized<B>(actual, a, round_activations(a, m, k, DType::kQ8_0, &order), layer.w, m, n, k, tolerance,
                            order);
}

template <Backend B>
void add_layer_cases(CaseList& cases, const std::string& op, const std::string& name, const std::string& scheme,
                     bool through_store, std::function<Expected<PackedLayer>()> make, bool with_identity,
                     std::vector<size_t> ms) {
  for (size_t m : ms) {
    add_case<B>(cases, op, cat(name, " m=", m), scheme, false, [=]() -> CaseResult {
      OP_ASSIGN(PackedLayer layer, make());
      Rng rng(m + layer.k);
      return run_layer<B>(layer, random_values(rng, m * layer.k, DType::kF32), m, through_store, kF32Math);
    });
  }
  if (with_identity) {
    add_case<B>(cases, op, name + " dequant (A = I)", scheme, false, [=]() -> CaseResult {
      OP_ASSIGN(PackedLayer layer, make());
      // I @ W^T = W^T: compare against the transposed weight, which is the weight itself.
      return run_layer<B>(layer, identity(layer.k), layer.k, through_store, kExact);
    });
  }
}

const char* const kGptqFiles[] = {
    "gptq_4bit_g128_sym", "gptq_4bit_g32_asym",       "gptq_4bit_g128_sym_desc_act",
    "gptq_8bit_g128_sym", "gptq_4bit_perchannel_sym", "gptq_4bit_g32_asym_desc_act",
};
const char* const kAwqFiles[] = {"awq_4bit_g128", "awq_4bit_g64"};

// The CPU's integer kernels round activations per vec_dot block (judge_quantized); CUDA's fused GEMV
// rounds them to int8 per 32 values, and its dequantize path keeps them exact (judge_gguf).
template <Backend B>
CaseResult judge_gguf_product(const std::vector<float>& actual, const std::vector<float>& a,
                              const std::vector<float>& w, size_t m, size_t n, size_t k, DType dtype) {
  if constexpr (quantizes_activations<B>()) {
    return judge_quantized<B>(actual, a, round_activations(a, m, k, *vec_dot_activation_type(dtype)), w, m, n, k,
                              kF32Math);
  } else {
    return judge_gguf(actual, a, w, m, n, k);
  }
}

constexpr GgufQuantType kGgufTypes[] = {
    GgufQuantType::kQ4_0, GgufQuantType::kQ4_1, GgufQuantType::kQ5_0, GgufQuantType::kQ5_1, GgufQuantType::kQ8_0,
    GgufQuantType::kQ2_K, GgufQuantType::kQ3_K, GgufQuantType::kQ4_K, GgufQuantType::kQ5_K, GgufQuantType::kQ6_K};

// The fixture's 4 x 512 matrix in a GGUF block type, with ggml's dequantization of it.
template <Backend B>
CaseResult run_gguf(GgufQuantType type, size_t m) {
  const DType dtype = gguf_quant_dtype(type);
  const std::string name(dtype_name(dtype));
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
  constexpr size_t n = 4;
  constexpr size_t k = 512;
  OP_ASSIGN(auto blocks, read_file(fixture_path("quant/gguf/" + upper + ".bin")));
  OP_ASSIGN(auto expected_bytes, read_file(fixture_path("quant/gguf/" + upper + ".expected.f32")));
  std::vector<float> w(n * k);
  std::memcpy(w.data(), expected_bytes.data(), std::min(expected_bytes.size(), w.size() * 4));
  Rng rng(m);
  const std::vector<float> a = random_values(rng, m * k, DType::kF32);
  OP_ASSIGN(auto qweight, B::from_bytes(blocks, dtype, n * k));
  OP_ASSIGN(auto a_buffer, upload<B>(a, DType::kF32));
  OP_ASSIGN(auto out, B::alloc(m * n, DType::kF32));
  auto ctx = B::new_context();
  const QuantWeights<typename B::Buffer> weights{&qweight};
  const Status status = B::gemm_quant(ctx, a_buffer, weights, out, m, n, k, GgufQuant{type});
  if (!decodes_gguf_itself<B>() && !can_dequantize(dtype))
    return expect_code(status, ErrorCode::kUnsupported);  // decoder not in this build
  OP_TRY(status);
  OP_ASSIGN(auto actual, download<B>(ctx, out, m * n));
  return judge_gguf_product<B>(actual, a, w, m, n, k, dtype);
}

// Random weights quantized to a GGUF type by the quant module, n x k with n not a multiple of the
// 16-row panels, against the decoded weights. `activations` is x's and out's dtype: f32, or bf16
// (the models' compute dtype on CUDA).
template <Backend B>
CaseResult run_gguf_random(GgufQuantType type, size_t m, size_t n, size_t k, DType activations = DType::kF32) {
  const DType dtype = gguf_quant_dtype(type);
  const bool half = activations != DType::kF32;
  Rng rng((half ? 2000 : 1000) + m + static_cast<uint64_t>(type));
  const std::vector<float> source = random_values(rng, n * k, DType::kF32);
  std::vector<uint8_t> blocks(*dtype_bytes(dtype, n * k));
  OP_TRY(quantize_tensor(dtype, source.data(), n, k, blocks.data(), default_thread_pool()));
  std::vector<float> w(n * k);
  dequantize_row(dtype, blocks.data(), w.data(), n * k);
  const std::vector<float> a = random_values(rng, m * k, activations);
  OP_ASSIGN(auto qweight, B::from_bytes(blocks, dtype, n * k));
  OP_ASSIGN(auto a_buffer, upload<B>(a, activations));
  OP_ASSIGN(auto out, B::alloc(m * n, activations));
  auto ctx = B::new_context();
  OP_TRY(B::gemm_quant(ctx, a_buffer, QuantWeights<typename B::Buffer>{&qweight}, out, m, n, k, GgufQuant{type}));
  OP_ASSIGN(auto actual, download<B>(ctx, out, m * n));
  if (half) return judge_gguf(actual, a, w, m, n, k, activations);
  return judge_gguf_product<B>(actual, a, w, m, n, k, dtype);
}

template <Backend B>
void add_error_cases(CaseList& cases) {
  using Buffer = typename B::Buffer;
  // A 4-bit GPTQ layer with k = 64, n = 8, group 32, with one thing broken per case.
  auto gptq_call = [](size_t scale_numel, int32_t g_idx_value, uint32_t bits, bool desc_act,
                      bool give_g_idx) -> Status {
    constexpr size_t k = 64, n = 8;
    FERRUM_ASSIGN_OR_RETURN(Buffer a, B::alloc(k, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(n, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer qweight, B::alloc(k * n / 8, DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(Buffer zeros, B::alloc(2 * n / 8, DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(Buffer scales, B::alloc(scale_numel, DType::kF16));
    std::vector<float> g(k, 0.0f);
    g[5] = static_cast<float>(g_idx_value);
    FERRUM_ASSIGN_OR_RETURN(Buffer g_idx, B::from_slice(g, DType::kI32));
    auto ctx = B::new_context();
    const QuantWeights<Buffer> weights{&qweight, &scales, &zeros, give_g_idx ? &g_idx : nullptr};
    return B::gemm_quant(ctx, a, weights, out, 1, n, k, GptqQuant{bits, 32, desc_act});
  };
  add_error_case<B>(cases, "gemm_quant", "gptq scales too small", ErrorCode::kShapeMismatch,
                    [=] { return gptq_call(15, 0, 4, false, true); });
  add_error_case<B>(cases, "gemm_quant", "gptq g_idx names group 2 of 2", ErrorCode::kOutOfRange,
                    [=] { return gptq_call(16, 2, 4, false, true); });
  add_error_case<B>(cases, "gemm_quant", "gptq bits=3", ErrorCode::kUnsupported,
                    [=] { return gptq_call(16, 0, 3, false, true); });
  add_error_case<B>(cases, "gemm_quant", "gptq desc_act without g_idx", ErrorCode::kInvalidArgument,
                    [=] { return gptq_call(16, 0, 4, true, false); });
  add_error_case<B>(cases, "gemm_quant", "awq bits=8", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer a, B::alloc(64, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer ints, B::alloc(1024, DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(Buffer scales, B::alloc(64, DType::kF16));
    auto ctx = B::new_context();
    return B::gemm_quant(ctx, a, {&ints, &scales, &ints, nullptr}, out, 1, 8, 64, AwqQuant{8, 32});
  });
  add_error_case<B>(cases, "gemm_quant", "gguf kind q8_0 but f32 qweight", ErrorCode::kInvalidArgument, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer a, B::alloc(32, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(2, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer qweight, B::alloc(64, DType::kF32));
    auto ctx = B::new_context();
    return B::gemm_quant(ctx, a, {&qweight}, out, 1, 2, 32, GgufQuant{GgufQuantType::kQ8_0});
  });
  add_error_case<B>(cases, "gemm_quant", "gguf out too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer a, B::alloc(32, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(1, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer qweight, B::alloc(64, DType::kQ8_0));
    auto ctx = B::new_context();
    return B::gemm_quant(ctx, a, {&qweight}, out, 1, 2, 32, GgufQuant{GgufQuantType::kQ8_0});
  });
  add_error_case<B>(cases, "load_gptq", "qweight one word short", ErrorCode::kShapeMismatch, []() -> Status {
    std::vector<int32_t> qweight(8 * 8 - 1), qzeros(2), g_idx(64);
    std::vector<float> scales(16);
    FERRUM_TRY(B::load_gptq(qweight, scales, qzeros, g_idx, 4, 32, 64, 8));
    return ok();
  });
  add_error_case<B>(cases, "gemm_gptq", "a too small", ErrorCode::kShapeMismatch, []() -> Status {
    std::vector<int32_t> qweight(8 * 8), qzeros(2);
    std::vector<float> scales(16);
    FERRUM_ASSIGN_OR_RETURN(auto store, B::load_gptq(qweight, scales, qzeros, std::nullopt, 4, 32, 64, 8));
    FERRUM_ASSIGN_OR_RETURN(Buffer a, B::alloc(63, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(8, DType::kF32));
    auto ctx = B::new_context();
    return B::gemm_gptq(ctx, a, store, out, 1);
  });
}

template <Backend B>
void add_cases(CaseList& cases) {
  for (const char* file : kGptqFiles) {
    auto make = [file] { return load_fixture_layer(cat("gptq/", file, ".safetensors"), false); };
    const std::string scheme = std::strstr(file, "8bit") ? "gptq8" : "gptq4";
    add_layer_cases<B>(cases, "gemm_quant", file, scheme, false, make, true, {3});
    add_layer_cases<B>(cases, "gemm_gptq", file, scheme, true, make, true, {3});
  }
  for (const char* file : kAwqFiles) {
    auto make = [file] { return load_fixture_layer(cat("awq/", file, ".safetensors"), true); };
    add_layer_cases<B>(cases, "gemm_quant", file, "awq4", false, make, true, {3});
    if constexpr (has_load_awq<B>()) add_layer_cases<B>(cases, "load_awq", file, "awq4", true, make, true, {1, 3});
  }
  uint64_t seed = 1;
  for (uint32_t bits : {2u, 4u, 8u}) {
    for (size_t group : {size_t{32}, size_t{0}}) {
      for (bool desc_act : {false, true}) {
        const DType scale_dtype = bits == 2 ? DType::kBF16 : bits == 4 ? DType::kF16 : DType::kF32;
        const std::string name = cat("synthetic g", group, desc_act ? " act-order" : "",
                                     " k=1056 n=", bits == 2 ? 80 : 88, " ", dtype_name(scale_dtype), " scales");
        const std::string scheme = cat("gptq", bits);
        auto make = [=]() -> Expected<PackedLayer> {
          return make_synthetic_layer(false, bits, group, desc_act, scale_dtype, seed);
        };
        add_layer_cases<B>(cases, "gemm_quant", name, scheme, false, make, false, {1, 3, 64});
        add_layer_cases<B>(cases, "gemm_gptq", name, scheme, true, make, false, {1, 3, 64});
        ++seed;
      }
    }
  }
  // Whole 32-column tiles (n = 96): CUDA's stores keep these words tiled (kernels/packed_int.cuh),
  // the shapes above row-major; m = 1 takes the GEMV, 3 and 64 the tensor-core kernel, 200 the
  // dequantize path.
  for (uint32_t bits : {2u, 4u, 8u}) {
    for (bool desc_act : {false, true}) {
      auto make = [=]() -> Expected<PackedLayer> {
        return make_synthetic_layer(false, bits, 32, desc_act, DType::kF16, 40 + bits + desc_act, true, 1056, 96);
      };
      add_layer_cases<B>(cases, "gemm_gptq", cat("synthetic g32", desc_act ? " act-order" : "", " k=1056 n=96"),
                         cat("gptq", bits), true, make, false, {1, 3, 64, 200});
    }
  }
  for (uint32_t bits : {4u, 8u}) {
    // n = 536: 34 tiles of 16 rows, the last half full. The CPU's decode kernel walks four tiles of a
    // thread's range together (codes two to a byte or a byte each); split over 2 threads the pool's
    // ranges are 5 tiles (8 chunks), so every range takes it and the last one's four end on the half
    // tile. m = 2 / 5 take the row kernels beside it.
    auto make = [=]() -> Expected<PackedLayer> {
      return make_synthetic_layer(false, bits, 128, false, DType::kF16, 61 + bits, true, 1024, 536);
    };
    add_layer_cases<B>(cases, "gemm_gptq", "synthetic g128 k=1024 n=536", cat("gptq", bits), true, make, false,
                       {1, 2, 5});
  }
  if constexpr (std::is_same_v<B, CpuBackend>) {
    // Groups of 48 channels pad to 64 panel positions (16 of them empty), which share one stored
    // scale entry on the CPU (shared_scale_positions), in natural order and in act-order.
    for (bool desc_act : {false, true}) {
      auto make = [=]() -> Expected<PackedLayer> {
        return make_synthetic_layer(false, 4, 48, desc_act, DType::kF16, 90 + desc_act, true, 1056, 40);
      };
      add_layer_cases<B>(cases, "gemm_gptq", cat("synthetic g48", desc_act ? " act-order" : "", " k=1056 n=40"),
                         "gptq4", true, make, false, {1, 3, 64});
    }
  }
  if constexpr (has_load_awq<B>()) {
    auto make = [=]() -> Expected<PackedLayer> {
      return make_synthetic_layer(true, 4, 64, false, DType::kBF16, 77, false, 1056, 96);
    };
    add_layer_cases<B>(cases, "load_awq", "synthetic g64 k=1056 n=96 bf16 scales, zeros 1..15", "awq4", true, make,
                       false, {1, 3, 64, 200});
  }
  if constexpr (takes_half_activations<B>()) {
    // 4-bit GPTQ through the store with bf16 x and out and k a multiple of 256: CUDA's fragment
    // kernels (mma.sync for 16-token tiles, wgmma for 64 on sm_90a). n = 296 leaves a part-filled
    // 128-row tile and repeats columns past n in the last 4-column piece; m = 17 and 70 part-fill a
    // token tile; a group of 1024 is one per channel.
    // n = 288 is whole 32-column tiles (tiled words) and a part-filled 128-row tile too.
    const std::pair<size_t, DType> schemes[] = {{32, DType::kBF16}, {128, DType::kF16}, {1024, DType::kF32}};
    for (const auto& [group, scale_dtype] : schemes) {
      for (size_t n : {size_t{296}, size_t{288}}) {
        const std::string name =
            cat("synthetic g", group, " k=1024 n=", n, " ", dtype_name(scale_dtype), " scales, bf16 x");
        for (size_t m : {size_t{1}, size_t{2}, size_t{17}, size_t{64}, size_t{70}, size_t{128}}) {
          add_case<B>(cases, "gemm_gptq", cat(name, " m=", m), "gptq4", false, [=]() -> CaseResult {
            const PackedLayer layer =
                make_synthetic_layer(false, 4, group, false, scale_dtype, 300 + group, true, 1024, n);
            Rng rng(m + 7);
            return run_layer<B>(layer, random_values(rng, m * layer.k, DType::kBF16), m, true, kF32Math, DType::kBF16);
          });
        }
      }
    }
    if constexpr (has_load_awq<B>()) {  // AWQ repacked into the GPTQ store takes the same kernels
      for (size_t m : {size_t{17}, size_t{70}}) {
        add_case<B>(cases, "load_awq", cat("synthetic g128 k=1024 n=296 bf16 scales, bf16 x m=", m), "awq4", false,
                    [=]() -> CaseResult {
                      const PackedLayer layer =
                          make_synthetic_layer(true, 4, 128, false, DType::kBF16, 500 + m, false, 1024, 296);
                      Rng rng(m + 9);
                      return run_layer<B>(layer, random_values(rng, m * layer.k, DType::kBF16), m, true, kF32Math,
                                          DType::kBF16);
                    });
      }
    }
  }
  for (size_t group : {size_t{64}, size_t{0}}) {
    auto make = [=]() -> Expected<PackedLayer> {
      return make_synthetic_layer(true, 4, group, false, DType::kBF16, 100 + group);
    };
    add_layer_cases<B>(cases, "gemm_quant", cat("synthetic g", group, " k=1056 n=88 bf16 scales"), "awq4", false, make,
                       false, {1, 3, 64});
    if constexpr (has_load_awq<B>()) {
      auto make_nonzero = [=]() -> Expected<PackedLayer> {
        return make_synthetic_layer(true, 4, group, false, DType::kBF16, 100 + group, false);
      };
      add_layer_cases<B>(cases, "load_awq", cat("synthetic g", group, " k=1056 n=88 bf16 scales, zeros 1..15"), "awq4",
                         true, make_nonzero, false, {1, 3, 64, 200});
      // Zero points of 0: a backend that decodes AWQ as it is (CPU) must match the reference; one
      // that repacks into GPTQ's layout (stored zero - 1, CUDA) cannot hold them and must refuse
      // with kUnsupported (the loader then keeps the layer for gemm_quant). Never wrong numbers.
      add_case<B>(cases, "load_awq", cat("synthetic g", group, " k=1056 n=88, zero points 0..15 m=3"), "awq4", false,
                  [=]() -> CaseResult {
                    const PackedLayer layer = make_synthetic_layer(true, 4, group, false, DType::kBF16, 100 + group);
                    auto store = B::load_awq(layer.qweight, layer.scales, layer.qzeros, group, layer.k, layer.n);
                    if (!store) {
                      CaseResult refused;
                      refused.numeric = false;
                      refused.passed = store.error().code() == ErrorCode::kUnsupported;
                      refused.detail = store.error().to_string();
                      return refused;
                    }
                    Rng rng(3 + layer.k);
                    return run_layer<B>(layer, random_values(rng, 3 * layer.k, DType::kF32), 3, true, kF32Math);
                  });
    }
  }
  for (GgufQuantType type : kGgufTypes) {
    const std::string type_name(dtype_name(gguf_quant_dtype(type)));
    for (size_t m : {size_t{1}, size_t{9}}) {
      add_case<B>(cases, "gemm_quant", cat("gguf fixture n=4 k=512 m=", m), type_name, false,
                  [type, m] { return run_gguf<B>(type, m); });
    }
    for (size_t m : {size_t{1}, size_t{3}, size_t{64}}) {
      add_case<B>(cases, "gemm_quant", cat("gguf random n=37 k=768 m=", m), type_name, m == 64,
                  [type, m] { return run_gguf_random<B>(type, m, 37, 768); });
    }
    // m = 1, 3, 8 take CUDA's fused GEMV where it has one, the tensor-core kernel otherwise; 17 the
    // tensor-core kernel with k split over blocks (a partial last slice at k = 2400), 130 the
    // dequantize + cuBLASLt path. Legacy types also get k of 75 and 74 blocks (Q8_0 rows only 2- and
    // 4-byte aligned), K-quants 16 super-blocks (Q6_K rows 16-byte aligned; at 9 they are 2-byte aligned).
    const bool k_quant = dtype_info(gguf_quant_dtype(type)).block_elems == 256;
    std::vector<size_t> depths{2304};
    if (k_quant) {
      depths.push_back(4096);  // Q6_K rows 16-byte aligned
    } else {
      depths.insert(depths.end(), {2400, 2368});
    }
    for (size_t k : depths) {
      for (size_t m : {size_t{1}, size_t{3}, size_t{8}, size_t{17}, size_t{130}}) {
        add_case<B>(cases, "gemm_quant", cat("gguf random n=37 k=", k, " m=", m), type_name, m == 130,
                    [type, m, k] { return run_gguf_random<B>(type, m, 37, k); });
      }
    }
    if constexpr (takes_half_activations<B>()) {
      // bf16 x and out; n = 300 spans several weight-row tiles (64 or 128 rows), m = 6 the GEMV or
      // (Q8_0, Q6_K) the fragment kernel, m = 33 a part-filled 64-token tile, m = 70 two of them (or
      // dequantize + cuBLASLt); k = 2048 gives Q6_K rows a multiple of 16 bytes (CUDA's fragment
      // kernel takes those).
      for (size_t k : {size_t{1024}, size_t{2048}}) {
        for (size_t m : {size_t{1}, size_t{6}, size_t{12}, size_t{33}, size_t{70}}) {
          add_case<B>(cases, "gemm_quant", cat("gguf random bf16 n=300 k=", k, " m=", m), type_name, false,
                      [type, m, k] { return run_gguf_random<B>(type, m, 300, k, DType::kBF16); });
        }
      }
      // One bf16 row over many weight rows; k = 2048 makes CUDA's Q6_K GEMV stage with cp.async.
      add_case<B>(cases, "gemm_quant", "gguf random bf16 n=9000 k=2048 m=1", type_name, false,
                  [type] { return run_gguf_random<B>(type, 1, 9000, 2048, DType::kBF16); });
    }
  }
  add_error_cases<B>(cases);
}

}  // namespace

void add_quant_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
