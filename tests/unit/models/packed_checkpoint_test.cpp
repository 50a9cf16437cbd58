// GPTQ and AWQ checkpoints against the same model built from their dequantized weights: the hf-tiny
// Llama's projections are quantized to 4 bits (asymmetric, groups of 16; GPTQ also with act-order
// g_idx), packed in each format's layout, and written as a checkpoint with its quantization_config.
// A second checkpoint holds those weights dequantized (quant::dequantize_gptq / dequantize_awq, which
// match the peer quantizers' w_ref fixtures exactly). Both load through the model factory; their
// logits must agree, so the packed path (loader, backend GEMM over packed weights) is what is tested.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/half.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"
#include "models/causal_lm_factory.h"
#include "models/model_files.h"
#include "models/weight_loader.h"
#include "quant/awq.h"
#include "quant/gptq.h"
#include "reference_fixture.h"

namespace ferrum {
namespace {

constexpr size_t kGroup = 16;  // divides every input width of the fixture (64, 176)
constexpr uint32_t kLevels = 15;

enum class Packing { kGptq, kGptqActOrder, kAwq };

bool is_projection(const std::string& name) {
  static const char* kSuffixes[] = {"q_proj.weight",    "k_proj.weight",  "v_proj.weight",   "o_proj.weight",
                                    "gate_proj.weight", "up_proj.weight", "down_proj.weight"};
  return name.starts_with("model.layers.") &&
         std::any_of(std::begin(kSuffixes), std::end(kSuffixes), [&](const char* s) { return name.ends_with(s); });
}

std::vector<uint8_t> bytes_of(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  return std::vector<uint8_t>(p, p + size);
}

// One projection W [n, k] quantized per (group, column) with an asymmetric 4-bit grid.
struct QuantizedLinear {
  size_t n = 0, k = 0;
  std::vector<uint32_t> group_of;  // [k]: the group of each input channel
  std::vector<uint8_t> q;          // [k, n]
  std::vector<uint8_t> zero;       // [groups, n]
  std::vector<uint16_t> scale;     // [groups, n] f16
};

QuantizedLinear quantize(const std::vector<float>& w, size_t n, size_t k, bool act_order) {
  QuantizedLinear out{n, k, std::vector<uint32_t>(k), std::vector<uint8_t>(k * n), {}, {}};
  // Act-order: channels join groups in a scrambled order (as GPTQ's descending-activation order
  // does), so g_idx is not monotonic. The order depends on n too: q's g_idx differs from k's and
  // v's, so q / k / v stay separate layers while gate / up (same n) load as one.
  std::vector<size_t> order(k);
  std::iota(order.begin(), order.end(), 0);
  if (act_order) {
    for (size_t i = 0; i < k; ++i) std::swap(order[i], order[(i * 7919 + 13 + n) % k]);
  }
  for (size_t rank = 0; rank < k; ++rank) out.group_of[order[rank]] = static_cast<uint32_t>(rank / kGroup);
  const size_t groups = k / kGroup;
  out.zero.resize(groups * n);
  out.scale.resize(groups * n);
  for (size_t g = 0; g < groups; ++g) {
    for (size_t col = 0; col < n; ++col) {
      float lo = 0, hi = 0;
      for (size_t c = 0; c < k; ++c) {
        if (out.group_of[c] != g) continue;
        lo = std::min(lo, w[col * k + c]);
        hi = std::max(hi, w[col * k + c]);
      }
      const uint16_t scale_bits = to_f16(std::max(hi - lo, 1e-6f) / kLevels).bits;
      const float scale = to_float(f16{scale_bits});
      const auto zero = static_cast<uint8_t>(std::clamp(std::lround(-lo / scale), 0L, long{kLevels}));
      out.scale[g * n + col] = scale_bits;
      out.zero[g * n + col] = zero;
      for (size_t c = 0; c < k; ++c) {
        if (out.group_of[c] != g) continue;
        const long level = std::lround(w[col * k + c] / scale) + zero;
        out.q[c * n + col] = static_cast<uint8_t>(std::clamp(level, 0L, long{kLevels}));
      }
    }
  }
  return out;
}

// The packed tensors of one layer, and its dequantized weight through our unpacker.
struct PackedLinear {
  std::vector<int32_t> qweight, qzeros, g_idx;
  Shape qweight_shape, qzeros_shape;
  std::vector<float> dequantized;  // [n, k]
};

PackedLinear pack(const QuantizedLinear& ql, Packing packing) {
  const size_t n = ql.n, k = ql.k, groups = k / kGroup;
  PackedLinear out;
  out.qzeros.assign(groups * n / 8, 0);
  out.qzeros_shape = Shape{static_cast<int64_t>(groups), static_cast<int64_t>(n / 8)};
  const TensorView scales(ql.scale.data(), DType::kF16, Shape{static_cast<int64_t>(groups), static_cast<int64_t>(n)});
  out.dequantized.resize(n * k);
  if (packing == Packing::kAwq) {
    // [k, n / 8], nibble i of a word holds column 8c + kAwqNibbleColumn[i]; zeros as they are.
    out.qweight.assign(k * n / 8, 0);
    out.qweight_shape = Shape{static_cast<int64_t>(k), static_cast<int64_t>(n / 8)};
    const auto put = [](std::vector<int32_t>& words, size_t row, size_t width, size_t col, uint32_t value) {
      const size_t word = row * (width / 8) + col / 8;
      const auto nibble =
          static_cast<uint32_t>(std::find(quant::kAwqNibbleColumn.begin(), quant::kAwqNibbleColumn.end(), col % 8) -
                                quant::kAwqNibbleColumn.begin());
      words[word] = static_cast<int32_t>(static_cast<uint32_t>(words[word]) | (value << (4 * nibble)));
    };
    for (size_t c = 0; c < k; ++c) {
      for (size_t col = 0; col < n; ++col) put(out.qweight, c, n, col, ql.q[c * n + col]);
    }
    for (size_t g = 0; g < groups; ++g) {
      for (size_t col = 0; col < n; ++col) put(out.qzeros, g, n, col, ql.zero[g * n + col]);
    }
    const quant::AwqParams params{4, kGroup};
    const quant::AwqTensors tensors{TensorView(out.qweight.data(), DType::kI32, out.qweight_shape),
                                    TensorView(out.qzeros.data(), DType::kI32, out.qzeros_shape), scales};
    EXPECT_TRUE(quant::dequantize_awq(params, tensors, out.dequantized));
    return out;
  }
  // GPTQ: qweight [k / 8, n] packed along k; qzeros [groups, n / 8] packed along n, v1 (zero - 1).
  out.qweight.assign(k / 8 * n, 0);
  out.qweight_shape = Shape{static_cast<int64_t>(k / 8), static_cast<int64_t>(n)};
  for (size_t c = 0; c < k; ++c) {
    for (size_t col = 0; col < n; ++col) {
      auto& word = out.qweight[(c / 8) * n + col];
      word = static_cast<int32_t>(static_cast<uint32_t>(word) | (uint32_t{ql.q[c * n + col]} << (4 * (c % 8))));
    }
  }
  for (size_t g = 0; g < groups; ++g) {
    for (size_t col = 0; col < n; ++col) {
      auto& word = out.qzeros[g * (n / 8) + col / 8];
      const uint32_t stored = (ql.zero[g * n + col] - 1u) & 0xFu;
      word = static_cast<int32_t>(static_cast<uint32_t>(word) | (stored << (4 * (col % 8))));
    }
  }
  out.g_idx.assign(ql.group_of.begin(), ql.group_of.end());
  quant::GptqParams params;
  params.bits = 4;
  params.group_size = kGroup;
  params.sym = false;
  params.desc_act = packing == Packing::kGptqActOrder;
  const quant::GptqTensors tensors{TensorView(out.qweight.data(), DType::kI32, out.qweight_shape),
                                   TensorView(out.qzeros.data(), DType::kI32, out.qzeros_shape), scales,
                                   TensorView(out.g_idx.data(), DType::kI32, Shape{static_cast<int64_t>(k)})};
  EXPECT_TRUE(quant::dequantize_gptq(params, tensors, out.dequantized));
  return out;
}

Status write_json(const std::filesystem::path& path, const nlohmann::json& json) {
  std::ofstream file(path);
  file << json.dump(2);
  FERRUM_CHECK(file.good(), ErrorCode::kIo, "cannot write ", path.string());
  return ok();
}

// Writes DIR/packed (the quantized checkpoint) and DIR/dense (its dequantized twin).
Status write_checkpoints(const std::filesystem::path& dir, Packing packing) {
  const std::filesystem::path fixture = testing::hf_tiny_dir("llama3");
  FERRUM_ASSIGN_OR_RETURN(auto weights, SafetensorsFile::open(fixture / "model.safetensors"));
  SafetensorsWriter packed, dense;
  for (const SafetensorsTensorInfo& info : weights.tensors()) {
    const TensorView view = weights.tensor_view(info);
    FERRUM_ASSIGN_OR_RETURN(std::vector<float> values, tensor_to_f32(view));
    const Shape shape = view.shape();
    if (!is_projection(info.name)) {
      FERRUM_TRY(packed.add_tensor(info.name, DType::kF32, shape, bytes_of(values.data(), values.size() * 4)));
      FERRUM_TRY(dense.add_tensor(info.name, DType::kF32, shape, bytes_of(values.data(), values.size() * 4)));
      continue;
    }
    const auto n = static_cast<size_t>(shape[0]);
    const auto k = static_cast<size_t>(shape[1]);
    const QuantizedLinear ql = quantize(values, n, k, packing == Packing::kGptqActOrder);
    const PackedLinear pl = pack(ql, packing);
    const std::string prefix = info.name.substr(0, info.name.size() - std::string(".weight").size());
    FERRUM_TRY(packed.add_tensor(prefix + ".qweight", DType::kI32, pl.qweight_shape,
                                 bytes_of(pl.qweight.data(), pl.qweight.size() * 4)));
    FERRUM_TRY(packed.add_tensor(prefix + ".qzeros", DType::kI32, pl.qzeros_shape,
                                 bytes_of(pl.qzeros.data(), pl.qzeros.size() * 4)));
    FERRUM_TRY(packed.add_tensor(prefix + ".scales", DType::kF16,
                                 Shape{static_cast<int64_t>(k / kGroup), static_cast<int64_t>(n)},
                                 bytes_of(ql.scale.data(), ql.scale.size() * 2)));
    if (packing != Packing::kAwq) {
      FERRUM_TRY(packed.add_tensor(prefix + ".g_idx", DType::kI32, Shape{static_cast<int64_t>(k)},
                                   bytes_of(pl.g_idx.data(), pl.g_idx.size() * 4)));
    }
    FERRUM_TRY(
        dense.add_tensor(info.name, DType::kF32, shape, bytes_of(pl.dequantized.data(), pl.dequantized.size() * 4)));
  }
  std::ifstream config_file(fixture / "config.json");
  nlohmann::json config = nlohmann::json::parse(config_file);
  config["torch_dtype"] = "float32";
  nlohmann::json quantization = packing == Packing::kAwq
                                    ? nlohmann::json{{"quant_method", "awq"},
                                                     {"bits", 4},
                                                     {"group_size", kGroup},
                                                     {"zero_point", true},
                                                     {"version", "gemm"}}
                                    : nlohmann::json{{"quant_method", "gptq"},
                                                     {"bits", 4},
                                                     {"group_size", kGroup},
                                                     {"sym", false},
                                                     {"desc_act", packing == Packing::kGptqActOrder}};
  for (const char* name : {"packed", "dense"}) std::filesystem::create_directories(dir / name);
  FERRUM_TRY(write_json(dir / "dense" / "config.json", config));
  config["quantization_config"] = quantization;
  FERRUM_TRY(write_json(dir / "packed" / "config.json", config));
  FERRUM_TRY(packed.write(dir / "packed" / "model.safetensors"));
  return dense.write(dir / "dense" / "model.safetensors");
}

Expected<std::vector<float>> prompt_logits(const std::filesystem::path& dir, std::span<const uint32_t> ids) {
  FERRUM_ASSIGN_OR_RETURN(ModelFiles files, open_model_files(dir.string()));
  ModelRuntimeOptions options;
  options.max_context = 128;
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> model, create_cpu_causal_lm(files, options));
  FERRUM_ASSIGN_OR_RETURN(auto state, model->new_sequence(128));
  return model->forward_all(*state, ids);
}

class PackedCheckpoint : public ::testing::TestWithParam<Packing> {};

TEST_P(PackedCheckpoint, MatchesTheModelOfItsDequantizedWeights) {
  const char* names[] = {"gptq", "gptq-act-order", "awq"};
  const std::string name = names[static_cast<int>(GetParam())];
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("ferrum-packed-" + name);
  std::filesystem::remove_all(dir);
  Status written = write_checkpoints(dir, GetParam());
  ASSERT_TRUE(written) << written.error().to_string();
  auto ids = testing::reference_ids("llama3", "input_ids");
  ASSERT_TRUE(ids);
  auto packed = prompt_logits(dir / "packed", *ids);
  ASSERT_TRUE(packed) << packed.error().to_string();
  auto dense = prompt_logits(dir / "dense", *ids);
  ASSERT_TRUE(dense) << dense.error().to_string();
  ASSERT_EQ(packed->size(), dense->size());
  const testing::Difference difference = testing::max_abs_difference(*packed, *dense);
  float largest = 0;
  for (float v : *dense) largest = std::max(largest, std::fabs(v));
  std::printf("%-15s packed vs dequantized dense: max |logit difference| = %.3g (largest logit %.3g)\n", name.c_str(),
              difference.max_abs, largest);
  // The packed GEMM may round activations (the CPU's integer kernels quantize them to 8 bits per
  // block); 1% of the largest logit allows that and nothing like a wrong unpacking, which moves
  // logits by O(1).
  EXPECT_LT(difference.max_abs, 1e-2 * largest);
  // And the 4-bit model is still the fixture's model: a packing that scrambled weights (in this
  // test's packer as much as in the loader) would leave it far from transformers' logits.
  auto reference = testing::reference_tensor("llama3", "logits");
  ASSERT_TRUE(reference);
  const double quantization_error = testing::max_abs_difference(*dense, *reference).max_abs;
  std::printf("%-15s 4-bit model vs transformers' bf16 logits: max difference %.3g\n", name.c_str(),
              quantization_error);
  EXPECT_LT(quantization_error, 0.25 * largest);
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Formats, PackedCheckpoint,
                         ::testing::Values(Packing::kGptq, Packing::kGptqActOrder, Packing::kAwq));

}  // namespace
}  // namespace ferrum
