// Tensor-parallel weight sharding: every rank's part of a dense, GGUF, GPTQ or AWQ layer computes
// exactly its share of the whole layer's output (the rows of a column-parallel part; partial sums
// of a row-parallel part that add up to the whole), and splits that would cut a packed word, a
// block or a quantization group are refused with errors that say so.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <map>
#include <random>

#include "backend/cpu/cpu_backend.h"
#include "models/safetensors_source.h"
#include "models/weight_loader.h"
#include "quant/quantize.h"

namespace ferrum {
namespace {

// Weights held in memory under chosen names.
class MemorySource final : public WeightSource {
 public:
  void add(const std::string& name, DType dtype, Shape shape, std::vector<uint8_t> bytes) {
    auto storage = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
    tensors_[name] = WeightTensor{TensorView(storage->data(), dtype, shape), storage};
  }
  Expected<WeightTensor> find(std::string_view name) const override {
    const auto found = tensors_.find(std::string(name));
    FERRUM_CHECK(found != tensors_.end(), ErrorCode::kNotFound, "no tensor ", name);
    return found->second;
  }
  bool contains(std::string_view name) const override { return tensors_.contains(std::string(name)); }
  std::string describe() const override { return "memory"; }

 private:
  std::map<std::string, WeightTensor> tensors_;
};

// A GPTQ / AWQ fixture file (tensors named qweight, qzeros, ...) seen as the layer "layer".
class FixtureLayer final : public WeightSource {
 public:
  explicit FixtureLayer(std::unique_ptr<SafetensorsSource> file) : file_(std::move(file)) {}
  Expected<WeightTensor> find(std::string_view name) const override { return file_->find(strip(name)); }
  bool contains(std::string_view name) const override {
    return name.starts_with("layer.") && file_->contains(strip(name));
  }
  std::string describe() const override { return file_->describe(); }

 private:
  static std::string_view strip(std::string_view name) { return name.substr(std::string_view("layer.").size()); }
  std::unique_ptr<SafetensorsSource> file_;
};

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(n);
  for (float& value : values) value = uniform(engine);
  return values;
}

// out [m, out_features] of `linear` for x [m, in_features] (x given whole; a row-parallel part
// reads its columns of x).
std::vector<float> apply(const Linear<CpuBackend>& linear, const std::vector<float>& x, size_t m, size_t x_columns = 0,
                         size_t first_column = 0) {
  const size_t in = linear.in_features();
  const size_t stride = x_columns ? x_columns : in;
  std::vector<float> part(m * in);
  for (size_t row = 0; row < m; ++row) {
    // An element loop: GCC 12's -Wstringop-overflow misjudges std::copy_n here without -march=native.
    for (size_t column = 0; column < in; ++column) part[row * in + column] = x[row * stride + first_column + column];
  }
  auto ctx = CpuBackend::new_context();
  auto input = CpuBackend::from_slice(part, DType::kF32);
  auto out = CpuBackend::alloc(m * linear.out_features(), DType::kF32);
  EXPECT_TRUE(input && out);
  Status status = linear.forward(ctx, *input, *out, m);
  EXPECT_TRUE(status) << status.error().to_string();
  return *CpuBackend::to_vec(*out, m * linear.out_features());
}

double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, double(std::fabs(a[i] - b[i])));
  return worst;
}

// Column-parallel parts give the whole output's columns; row-parallel parts sum to it.
void expect_parts_recompose(const WeightLoader<CpuBackend>& loader, const std::string& prefix, size_t out, size_t in,
                            size_t parts, double tolerance, bool bias = false) {
  const size_t m = 3;
  const std::vector<float> x = random_values(m * in, 7);
  auto whole = loader.linear(prefix, out, in, bias);
  ASSERT_TRUE(whole) << whole.error().to_string();
  const std::vector<float> expected = apply(*whole, x, m);

  std::vector<float> from_rows(m * out, 0.0f), from_columns(m * out, 0.0f);
  for (size_t part = 0; part < parts; ++part) {
    auto rows = loader.linear(prefix, out, in, bias, WeightSplit::rows(part, parts));
    ASSERT_TRUE(rows) << rows.error().to_string();
    ASSERT_EQ(rows->out_features(), out / parts);
    const std::vector<float> y = apply(*rows, x, m);
    for (size_t r = 0; r < m; ++r) {
      std::copy_n(y.begin() + static_cast<ptrdiff_t>(r * out / parts), out / parts,
                  from_rows.begin() + static_cast<ptrdiff_t>(r * out + part * out / parts));
    }
    auto columns = loader.linear(prefix, out, in, bias, WeightSplit::columns(part, parts));
    ASSERT_TRUE(columns) << columns.error().to_string();
    ASSERT_EQ(columns->in_features(), in / parts);
    const std::vector<float> partial = apply(*columns, x, m, in, part * in / parts);
    for (size_t i = 0; i < partial.size(); ++i) from_columns[i] += partial[i];
  }
  const double rows_error = max_difference(from_rows, expected);
  const double columns_error = max_difference(from_columns, expected);
  std::printf("%-40s %zu parts: max error rows %.3g, columns %.3g\n", loader.source().describe().c_str(), parts,
              rows_error, columns_error);
  EXPECT_LE(rows_error, tolerance);
  EXPECT_LE(columns_error, tolerance);
}

TEST(Sharding, DenseRowsAndColumnsRecomposeTheLayer) {
  MemorySource source;
  const size_t out = 8, in = 12;
  const std::vector<float> weight = random_values(out * in, 1);
  const std::vector<float> bias = random_values(out, 2);
  source.add("dense.weight", DType::kF32, Shape{8, 12},
             std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(weight.data()),
                                  reinterpret_cast<const uint8_t*>(weight.data() + weight.size())));
  source.add("dense.bias", DType::kF32, Shape{8},
             std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(bias.data()),
                                  reinterpret_cast<const uint8_t*>(bias.data() + bias.size())));
  WeightLoader<CpuBackend> loader(source, {});
  // The bias is split with the rows and, for a row-parallel part, carried by part 0 only.
  expect_parts_recompose(loader, "dense", out, in, 2, 1e-5, /*bias=*/true);
  expect_parts_recompose(loader, "dense", out, in, 4, 1e-5, /*bias=*/true);

  auto uneven = loader.linear("dense", out, in, false, WeightSplit::rows(0, 3));
  ASSERT_FALSE(uneven);
  std::printf("uneven: %s\n", uneven.error().to_string().c_str());
  EXPECT_NE(uneven.error().message().find("cannot be split evenly over 3"), std::string::npos);
}

TEST(Sharding, GgufColumnsSplitOnBlockBoundariesOnly) {
  MemorySource source;
  const size_t out = 4, in = 128;
  const std::vector<float> weight = random_values(out * in, 3);
  std::vector<uint8_t> blocks(*dtype_bytes(DType::kQ4_0, out * in));
  for (size_t row = 0; row < out; ++row) {
    ASSERT_TRUE(quantize_row(DType::kQ4_0, weight.data() + row * in, blocks.data() + row * (blocks.size() / out), in));
  }
  source.add("q.weight", DType::kQ4_0, Shape{4, 128}, std::move(blocks));
  WeightLoader<CpuBackend> loader(source, {});
  expect_parts_recompose(loader, "q", out, in, 2, 1e-4);
  expect_parts_recompose(loader, "q", out, in, 4, 1e-4);

  auto cut = loader.linear("q", out, in, false, WeightSplit::columns(1, 8));
  ASSERT_FALSE(cut);
  std::printf("cut block: %s\n", cut.error().to_string().c_str());
  EXPECT_NE(cut.error().message().find("cut through q4_0 blocks of 32 values"), std::string::npos);
}

struct PackedCase {
  const char* file;
  CheckpointQuantization quantization;
};

CheckpointQuantization gptq(uint32_t bits, size_t group_size, bool desc_act) {
  CheckpointQuantization q;
  q.method = CheckpointQuantization::Method::kGptq;
  q.bits = bits;
  q.group_size = group_size;
  q.desc_act = desc_act;
  return q;
}

CheckpointQuantization awq(size_t group_size) {
  CheckpointQuantization q;
  q.method = CheckpointQuantization::Method::kAwq;
  q.bits = 4;
  q.group_size = group_size;
  return q;
}

std::unique_ptr<FixtureLayer> open_layer(const std::string& file) {
  auto source = SafetensorsSource::open(std::string(FERRUM_FIXTURES_DIR) + "/quant/" + file);
  EXPECT_TRUE(source) << source.error().to_string();
  if (!source) return nullptr;
  return std::make_unique<FixtureLayer>(std::move(*source));
}

class PackedSharding : public ::testing::TestWithParam<PackedCase> {};

// Every fixture layer is [128, 256]: 2 or 4 parts split both ways along packing and groups.
TEST_P(PackedSharding, PartsRecomposeTheLayer) {
  auto layer = open_layer(GetParam().file);
  ASSERT_TRUE(layer);
  WeightLoader<CpuBackend> loader(*layer, {std::nullopt, GetParam().quantization});
  expect_parts_recompose(loader, "layer", 128, 256, 2, 1e-3);
}

// q / k / v and gate / up load as one packed layer. Its two halves (rows split in 2) joined in
// either order give the whole layer's output with its halves in that order.
TEST_P(PackedSharding, FusedLayersEqualThePartsSideBySide) {
  auto layer = open_layer(GetParam().file);
  ASSERT_TRUE(layer);
  WeightLoader<CpuBackend> loader(*layer, {std::nullopt, GetParam().quantization});
  const size_t m = 3, out = 128, in = 256, half = out / 2;
  const std::vector<float> x = random_values(m * in, 11);
  auto whole = loader.linear("layer", out, in);
  ASSERT_TRUE(whole) << whole.error().to_string();
  const std::vector<float> expected = apply(*whole, x, m);
  const std::array<std::string, 2> prefixes = {"layer", "layer"};
  const std::array<size_t, 2> outs = {out, out};
  for (const std::array<size_t, 2> order : {std::array<size_t, 2>{0, 1}, std::array<size_t, 2>{1, 0}}) {
    const std::array<WeightSplit, 2> splits = {WeightSplit::rows(order[0], 2), WeightSplit::rows(order[1], 2)};
    auto fused = loader.fused_linear(prefixes, outs, in, false, "fused", splits);
    ASSERT_TRUE(fused) << fused.error().to_string();
    ASSERT_TRUE(fused->has_value()) << "the packed layers were not fused";
    ASSERT_EQ((*fused)->out_features(), out);
    const std::vector<float> joined = apply(**fused, x, m);
    double worst = 0;
    for (size_t r = 0; r < m; ++r) {
      for (size_t c = 0; c < out; ++c) {
        const float want = expected[r * out + order[c / half] * half + c % half];
        worst = std::max(worst, double(std::fabs(joined[r * out + c] - want)));
      }
    }
    EXPECT_LE(worst, 1e-5) << "halves in the order " << order[0] << ", " << order[1];
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PackedSharding,
                         ::testing::Values(PackedCase{"gptq/gptq_4bit_g128_sym.safetensors", gptq(4, 128, false)},
                                           PackedCase{"gptq/gptq_4bit_g32_asym.safetensors", gptq(4, 32, false)},
                                           PackedCase{"gptq/gptq_8bit_g128_sym.safetensors", gptq(8, 128, false)},
                                           PackedCase{"gptq/gptq_4bit_perchannel_sym.safetensors", gptq(4, 0, false)},
                                           PackedCase{"awq/awq_4bit_g128.safetensors", awq(128)},
                                           PackedCase{"awq/awq_4bit_g64.safetensors", awq(64)}));

TEST(Sharding, GptqSplitsThatCutAGroupOrAWordAreRefused) {
  auto layer = open_layer("gptq/gptq_4bit_g128_sym.safetensors");
  ASSERT_TRUE(layer);
  WeightLoader<CpuBackend> loader(*layer, {std::nullopt, gptq(4, 128, false)});
  // 256 inputs over 4 ranks: 64 per rank, half a group of 128.
  auto half_group = loader.linear("layer", 128, 256, false, WeightSplit::columns(0, 4));
  ASSERT_FALSE(half_group);
  std::printf("half a group: %s\n", half_group.error().to_string().c_str());
  EXPECT_NE(half_group.error().message().find("not a multiple of 128"), std::string::npos);
  // 128 outputs over 32 ranks: 4 per rank, half an int32 word of 8 zero points.
  auto half_word = loader.linear("layer", 128, 256, false, WeightSplit::rows(1, 32));
  ASSERT_FALSE(half_word);
  std::printf("half a word: %s\n", half_word.error().to_string().c_str());
  EXPECT_NE(half_word.error().message().find("not a multiple of 8"), std::string::npos);
}

TEST(Sharding, GptqActOrderSplitsByOutputsAndRefusesInputsThatNeedEveryGroup) {
  auto layer = open_layer("gptq/gptq_4bit_g128_sym_desc_act.safetensors");
  ASSERT_TRUE(layer);
  WeightLoader<CpuBackend> loader(*layer, {std::nullopt, gptq(4, 128, true)});
  const size_t m = 3;
  const std::vector<float> x = random_values(m * 256, 5);
  auto whole = loader.linear("layer", 128, 256);
  auto part = loader.linear("layer", 128, 256, false, WeightSplit::rows(1, 2));
  ASSERT_TRUE(whole && part);
  const std::vector<float> expected = apply(*whole, x, m);
  const std::vector<float> actual = apply(*part, x, m);
  double worst = 0;
  for (size_t r = 0; r < m; ++r) {
    for (size_t c = 0; c < 64; ++c)
      worst = std::max(worst, double(std::fabs(actual[r * 64 + c] - expected[r * 128 + 64 + c])));
  }
  EXPECT_LE(worst, 1e-4);
  // Act-order scatters each group over all inputs: half the inputs need both groups' scales.
  auto inputs = loader.linear("layer", 128, 256, false, WeightSplit::columns(0, 2));
  ASSERT_FALSE(inputs);
  std::printf("act-order inputs: %s\n", inputs.error().to_string().c_str());
  EXPECT_NE(inputs.error().message().find("act-order"), std::string::npos);
}

// Packed parts that cannot be one layer stay apart (the loader then runs them one by one): act-order
// g_idx that differ, or outputs that do not fill whole zero words. And g_idx is natural when it names
// each channel's own group.
TEST(Sharding, PackedPartsThatCannotJoinStayApart) {
  const size_t k = 64, group = 32, groups = 2;
  std::vector<int32_t> qweight_a(k / 8 * 16), qweight_b(k / 8 * 4), zeros_a(groups * 2), zeros_b(groups);
  std::vector<float> scales_a(groups * 16, 1.0f), scales_b(groups * 4, 1.0f);
  std::vector<int32_t> natural(k), shuffled(k);
  for (size_t c = 0; c < k; ++c) {
    natural[c] = static_cast<int32_t>(c / group);
    shuffled[c] = static_cast<int32_t>((c % 2 == 0 ? c / 2 : k / 2 + c / 2) / group);
  }
  const auto part = [&](std::vector<int32_t>& qweight, std::vector<int32_t>& zeros, std::vector<float>& scales,
                        size_t n, std::vector<int32_t>* g_idx) {
    SlicedGroupQuant sliced;
    sliced.tensors.qweight = TensorView(qweight.data(), DType::kI32, Shape{int64_t(k / 8), int64_t(n)});
    sliced.tensors.qzeros = TensorView(zeros.data(), DType::kI32, Shape{int64_t(groups), int64_t(n / 8)});
    sliced.tensors.scales = TensorView(scales.data(), DType::kF32, Shape{int64_t(groups), int64_t(n)});
    if (g_idx != nullptr) sliced.tensors.g_idx = TensorView(g_idx->data(), DType::kI32, Shape{int64_t(k)});
    return sliced;
  };
  // 16 outputs each, same g_idx: one layer of 32 outputs.
  std::vector<SlicedGroupQuant> same = {part(qweight_a, zeros_a, scales_a, 16, &shuffled),
                                        part(qweight_a, zeros_a, scales_a, 16, &shuffled)};
  auto joined = concat_group_quantized_outputs(same, 4);
  ASSERT_TRUE(joined && joined->has_value());
  EXPECT_EQ((*joined)->tensors.scales.shape(), (Shape{int64_t(groups), 32}));
  // Different act-order g_idx: apart.
  std::vector<SlicedGroupQuant> orders = {part(qweight_a, zeros_a, scales_a, 16, &shuffled),
                                          part(qweight_a, zeros_a, scales_a, 16, &natural)};
  auto apart = concat_group_quantized_outputs(orders, 4);
  ASSERT_TRUE(apart);
  EXPECT_FALSE(apart->has_value());
  // 4 outputs: half a word of 4-bit zero points.
  std::vector<SlicedGroupQuant> narrow = {part(qweight_a, zeros_a, scales_a, 16, nullptr),
                                          part(qweight_b, zeros_b, scales_b, 4, nullptr)};
  auto cut = concat_group_quantized_outputs(narrow, 4);
  ASSERT_TRUE(cut);
  EXPECT_FALSE(cut->has_value());

  EXPECT_TRUE(quant::gptq_g_idx_is_natural(natural, group));
  EXPECT_FALSE(quant::gptq_g_idx_is_natural(shuffled, group));
  EXPECT_TRUE(quant::gptq_g_idx_is_natural({}, group));
}

TEST(Sharding, HeadSplitsShareKvHeadsWhenRanksOutnumberThem) {
  auto even = HeadSplit::of(32, 8, {1, 4}, "llama");
  ASSERT_TRUE(even);
  EXPECT_EQ(even->local_heads, 8u);
  EXPECT_EQ(even->local_kv_heads, 2u);
  auto shared = HeadSplit::of(4, 1, {1, 2}, "mistral");
  ASSERT_TRUE(shared);
  EXPECT_EQ(shared->local_kv_heads, 1u);
  EXPECT_FALSE(shared->kv.splits());
  auto pairs = HeadSplit::of(8, 2, {3, 4}, "gqa");
  ASSERT_TRUE(pairs);
  EXPECT_EQ(pairs->kv.index, 1u);  // ranks 2 and 3 share KV head 1
  EXPECT_EQ(pairs->kv.parts, 2u);
  auto odd = HeadSplit::of(4, 2, {0, 3}, "llama3");
  ASSERT_FALSE(odd);
  std::printf("odd: %s\n", odd.error().to_string().c_str());
  EXPECT_NE(odd.error().message().find("4 attention heads cannot be split evenly over 3"), std::string::npos);
  auto kv = HeadSplit::of(12, 4, {0, 6}, "odd kv");
  ASSERT_FALSE(kv);
  EXPECT_NE(kv.error().message().find("must be a multiple of the KV heads"), std::string::npos);
}

}  // namespace
}  // namespace ferrum
