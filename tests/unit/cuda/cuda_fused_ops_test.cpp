// The CUDA backend's optional fused ops against the contract's op chains they replace, on random
// data: the fused kernel does the same arithmetic in the same order, so the results must be equal
// to the bit. Skips when there is no CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "quant/quantize.h"

namespace ferrum {
namespace {

using B = CudaBackend;

bool has_cuda_device() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(n);
  for (float& value : values) value = dist(rng);
  return values;
}

B::Buffer upload(const std::vector<float>& values, DType dtype) {
  auto buffer = B::from_slice(values, dtype);
  EXPECT_TRUE(buffer) << buffer.error().to_string();
  return std::move(*buffer);
}

std::vector<uint16_t> bits_of(const B::Buffer& buffer) {
  std::vector<uint16_t> bits(buffer.numel());
  EXPECT_TRUE(B::to_host(buffer, std::span<uint8_t>(reinterpret_cast<uint8_t*>(bits.data()), bits.size() * 2)));
  return bits;
}

// paged_qkv_rope_write against split_qkv + qk_norm_rope (q, k; v transposed) + paged_cache_write
// (k, v), bf16, with QK-norm (mode 1) and without (mode 2); some tokens have no slot (-1).
void expect_fused_write_matches_chain(int mode) {
  constexpr size_t kTokens = 37, kHeads = 8, kKvHeads = 2, kHeadDim = 128, kBlockSize = 16, kBlocks = 9;
  constexpr size_t kHalf = kHeadDim / 2;
  std::mt19937 rng(static_cast<unsigned>(mode) * 7 + 1);
  const std::vector<float> qkv = random_floats(rng, kTokens * (kHeads + 2 * kKvHeads) * kHeadDim, -2.0f, 2.0f);
  const std::vector<float> cos = random_floats(rng, kTokens * kHalf, -1.0f, 1.0f);
  const std::vector<float> sin = random_floats(rng, kTokens * kHalf, -1.0f, 1.0f);
  const std::vector<float> q_norm = random_floats(rng, kHeadDim, 0.5f, 1.5f);
  const std::vector<float> k_norm = random_floats(rng, kHeadDim, 0.5f, 1.5f);
  std::vector<float> slots(kTokens);
  std::vector<size_t> order(kBlocks * kBlockSize);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t t = 0; t < kTokens; ++t) slots[t] = t % 6 == 4 ? -1.0f : static_cast<float>(order[t]);

  const size_t pool_numel = kBlocks * kKvHeads * kBlockSize * kHeadDim;
  B::Buffer qkv_buffer = upload(qkv, DType::kBF16), cos_buffer = upload(cos, DType::kF32),
            sin_buffer = upload(sin, DType::kF32), q_norm_buffer = upload(q_norm, DType::kF32),
            k_norm_buffer = upload(k_norm, DType::kF32), slot_buffer = upload(slots, DType::kI32);
  const auto alloc = [](size_t n) {
    auto buffer = B::alloc(n, DType::kBF16);
    EXPECT_TRUE(buffer);
    return std::move(*buffer);
  };
  B::Buffer fused_q = alloc(kHeads * kTokens * kHeadDim), fused_k = alloc(pool_numel), fused_v = alloc(pool_numel);
  B::Buffer chain_q = alloc(kHeads * kTokens * kHeadDim), chain_k = alloc(pool_numel), chain_v = alloc(pool_numel);
  B::Buffer q = alloc(kTokens * kHeads * kHeadDim), k = alloc(kTokens * kKvHeads * kHeadDim),
            v = alloc(kTokens * kKvHeads * kHeadDim), k_heads = alloc(kKvHeads * kTokens * kHeadDim),
            v_heads = alloc(kKvHeads * kTokens * kHeadDim);
  auto ctx = B::new_context();
  const float eps = 1e-6f;
  ASSERT_TRUE(B::paged_qkv_rope_write(ctx, qkv_buffer, q_norm_buffer, k_norm_buffer, cos_buffer, sin_buffer, fused_q,
                                      fused_k, fused_v, slot_buffer, kTokens, kHeads, kKvHeads, kHeadDim, kBlockSize,
                                      eps, mode));
  ASSERT_TRUE(B::split_qkv(ctx, qkv_buffer, q, k, v, kTokens, kHeads * kHeadDim, kKvHeads * kHeadDim));
  ASSERT_TRUE(
      B::qk_norm_rope(ctx, q, q_norm_buffer, cos_buffer, sin_buffer, chain_q, kTokens, kHeads, kHeadDim, 0, eps, mode));
  ASSERT_TRUE(B::qk_norm_rope(ctx, k, k_norm_buffer, cos_buffer, sin_buffer, k_heads, kTokens, kKvHeads, kHeadDim, 0,
                              eps, mode));
  ASSERT_TRUE(B::qk_norm_rope(ctx, v, k_norm_buffer, cos_buffer, sin_buffer, v_heads, kTokens, kKvHeads, kHeadDim, 0,
                              eps, kQkTransposeOnly));
  ASSERT_TRUE(B::paged_cache_write(ctx, chain_k, k_heads, slot_buffer, kTokens, kKvHeads, kHeadDim, kBlockSize));
  ASSERT_TRUE(B::paged_cache_write(ctx, chain_v, v_heads, slot_buffer, kTokens, kKvHeads, kHeadDim, kBlockSize));
  ASSERT_TRUE(B::sync(ctx));
  EXPECT_EQ(bits_of(fused_q), bits_of(chain_q)) << "q, mode " << mode;
  EXPECT_EQ(bits_of(fused_k), bits_of(chain_k)) << "K pool, mode " << mode;
  EXPECT_EQ(bits_of(fused_v), bits_of(chain_v)) << "V pool, mode " << mode;
}

TEST(CudaFusedOps, PagedQkvRopeWriteMatchesTheOpChain) {
  if (!has_cuda_device()) GTEST_SKIP() << "no CUDA device";
  expect_fused_write_matches_chain(kQkRope);
  expect_fused_write_matches_chain(kQkNormRope);
}

// gemm_gated against silu(x . gate) * (x . up) in double precision, f32 activations over f32 and
// bf16 weights, at one row (the split GEMV, FERRUM_CUDA_GATED_GEMV_SPLIT warps a row) and three
// (the per-row GEMV), with k too short for every warp of a row to have chunks and im off the block.
TEST(CudaFusedOps, GemmGatedMatchesTheGemmItFuses) {
  if (!has_cuda_device()) GTEST_SKIP() << "no CUDA device";
  struct Shape {
    size_t m, im, k;
  };
  const Shape shapes[] = {{1, 1, 8}, {1, 7, 24}, {1, 301, 520}, {1, 1030, 4096}, {3, 301, 520}};
  std::mt19937 rng(11);
  auto ctx = B::new_context();
  for (const Shape& shape : shapes) {
    for (DType w_dtype : {DType::kF32, DType::kBF16}) {
      const std::vector<float> x = random_floats(rng, shape.m * shape.k, -1.0f, 1.0f);
      std::vector<float> w = random_floats(rng, 2 * shape.im * shape.k, -0.1f, 0.1f);
      B::Buffer w_buffer = upload(w, w_dtype);
      auto w_used = B::to_vec(w_buffer, w.size());  // the weights as rounded to w_dtype
      ASSERT_TRUE(w_used);
      w = *w_used;
      B::Buffer x_buffer = upload(x, DType::kF32);
      auto out = B::alloc(shape.m * shape.im, DType::kF32);
      ASSERT_TRUE(out);
      ASSERT_TRUE(B::gemm_gated(ctx, x_buffer, w_buffer, *out, shape.m, shape.im, shape.k, Activation::kSilu));
      ASSERT_TRUE(B::sync(ctx));
      auto got = B::to_vec(*out, shape.m * shape.im);
      ASSERT_TRUE(got);
      for (size_t t = 0; t < shape.m; ++t) {
        for (size_t j = 0; j < shape.im; ++j) {
          double gate = 0.0, up = 0.0;
          for (size_t i = 0; i < shape.k; ++i) {
            gate += static_cast<double>(x[t * shape.k + i]) * w[j * shape.k + i];
            up += static_cast<double>(x[t * shape.k + i]) * w[(shape.im + j) * shape.k + i];
          }
          const double want = gate / (1.0 + std::exp(-gate)) * up;
          ASSERT_NEAR((*got)[t * shape.im + j], want, 1e-5 + 1e-4 * std::abs(want))
              << "m " << shape.m << " im " << shape.im << " k " << shape.k << " row " << t << " output " << j << " w "
              << w_dtype;
        }
      }
    }
  }
}

TEST(CudaFusedOps, PagedQkvRopeWriteRejectsPartialPools) {
  if (!has_cuda_device()) GTEST_SKIP() << "no CUDA device";
  auto ctx = B::new_context();
  B::Buffer qkv = upload(std::vector<float>(2 * 6 * 8), DType::kBF16),
            rows = upload(std::vector<float>(2 * 4), DType::kF32);
  B::Buffer q = upload(std::vector<float>(2 * 4 * 8), DType::kBF16),
            pool = upload(std::vector<float>(100), DType::kBF16);
  B::Buffer pool_v = upload(std::vector<float>(100), DType::kBF16), slots = upload({0, 1}, DType::kI32);
  const Status status =
      B::paged_qkv_rope_write(ctx, qkv, rows, rows, rows, rows, q, pool, pool_v, slots, 2, 4, 1, 8, 4, 1e-6f, kQkRope);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kShapeMismatch);
}

std::vector<uint8_t> bytes_of(const B::Buffer& buffer) {
  std::vector<uint8_t> bytes(buffer.nbytes());
  EXPECT_TRUE(B::to_host(buffer, std::span<uint8_t>(bytes)));
  return bytes;
}

// A random [n, k] matrix in GGUF blocks of `type`, on the device.
B::Buffer random_gguf_weight(std::mt19937& rng, DType type, size_t n, size_t k) {
  const std::vector<float> values = random_floats(rng, n * k, -1.0f, 1.0f);
  std::vector<uint8_t> blocks(*dtype_bytes(type, n * k));
  const size_t row_bytes = blocks.size() / n;
  for (size_t row = 0; row < n; ++row) {
    EXPECT_TRUE(quantize_row(type, values.data() + row * k, blocks.data() + row * row_bytes, k));
  }
  auto buffer = B::from_bytes(blocks, type, n * k);
  EXPECT_TRUE(buffer) << buffer.error().to_string();
  return std::move(*buffer);
}

// Each GGUF type the fused GEMV takes at `k`: gemm_quant_rounded with the rounding an op wrote
// beside `out` against gemm_quant rounding `out` itself. The GEMV reads nothing else of x, so any
// difference in the rounding shows in the products.
void expect_gemv_matches(B::Context& ctx, const B::Buffer& out, const B::RoundedRows& rounded, size_t m, size_t k,
                         const std::string& what) {
  std::mt19937 rng(static_cast<unsigned>(m * 131 + k));
  for (GgufQuantType quant : {GgufQuantType::kQ8_0, GgufQuantType::kQ4_K, GgufQuantType::kQ6_K}) {
    const DType type = gguf_quant_dtype(quant);
    if (k % dtype_info(type).block_elems != 0) continue;
    constexpr size_t kRows = 96;
    const B::Buffer w = random_gguf_weight(rng, type, kRows, k);
    const QuantWeights<B::Buffer> weights{.qweight = &w};
    const QuantKind kind = GgufQuant{quant};
    auto plain = B::alloc(m * kRows, DType::kF32), ahead = B::alloc(m * kRows, DType::kF32);
    ASSERT_TRUE(plain && ahead);
    ASSERT_TRUE(B::gemm_quant(ctx, out, weights, *plain, m, kRows, k, kind));
    ASSERT_TRUE(B::gemm_quant_rounded(ctx, out, rounded, weights, *ahead, m, kRows, k, kind));
    ASSERT_TRUE(B::sync(ctx));
    EXPECT_EQ(bytes_of(*ahead), bytes_of(*plain)) << what << ", " << type;
  }
}

// rms_norm_rounded and fused_add_rms_norm_rounded against rms_norm and fused_add_rms_norm: the same
// out and residual to the bit, and a rounding equal to the GEMV's own (expect_gemv_matches).
void expect_rounded_norms_match(DType dtype, size_t tokens, size_t dim) {
  const std::string what = std::string(dtype_name(dtype)) + " " + std::to_string(tokens) + " x " + std::to_string(dim);
  std::mt19937 rng(static_cast<unsigned>(tokens * 7 + dim));
  const std::vector<float> x = random_floats(rng, tokens * dim, -3.0f, 3.0f);
  const std::vector<float> residual = random_floats(rng, tokens * dim, -3.0f, 3.0f);
  const std::vector<float> w = random_floats(rng, dim, 0.5f, 1.5f);
  B::Buffer x_buffer = upload(x, dtype), w_buffer = upload(w, DType::kF32);
  B::Buffer residual_plain = upload(residual, dtype), residual_ahead = upload(residual, dtype);
  B::Buffer out_plain = upload(std::vector<float>(tokens * dim), dtype);
  B::Buffer out_ahead = upload(std::vector<float>(tokens * dim), dtype);
  auto rounded = B::alloc_rounded_rows(tokens, dim);
  ASSERT_TRUE(rounded) << rounded.error().to_string();
  auto ctx = B::new_context();
  const float eps = 1e-5f;
  ASSERT_TRUE(B::rms_norm(ctx, x_buffer, w_buffer, eps, out_plain, tokens, dim));
  ASSERT_TRUE(B::rms_norm_rounded(ctx, x_buffer, w_buffer, eps, out_ahead, tokens, dim, *rounded));
  ASSERT_TRUE(B::sync(ctx));
  EXPECT_EQ(bytes_of(out_ahead), bytes_of(out_plain)) << "rms_norm " << what;
  expect_gemv_matches(ctx, out_ahead, *rounded, tokens, dim, "rms_norm " + what);

  ASSERT_TRUE(B::fused_add_rms_norm(ctx, residual_plain, x_buffer, w_buffer, eps, out_plain, tokens, dim));
  ASSERT_TRUE(
      B::fused_add_rms_norm_rounded(ctx, residual_ahead, x_buffer, w_buffer, eps, out_ahead, tokens, dim, *rounded));
  ASSERT_TRUE(B::sync(ctx));
  EXPECT_EQ(bytes_of(residual_ahead), bytes_of(residual_plain)) << "fused_add_rms_norm residual " << what;
  EXPECT_EQ(bytes_of(out_ahead), bytes_of(out_plain)) << "fused_add_rms_norm " << what;
  expect_gemv_matches(ctx, out_ahead, *rounded, tokens, dim, "fused_add_rms_norm " + what);
}

void expect_rounded_act_matches(DType dtype, size_t tokens, size_t im, Activation act) {
  const std::string what = std::string(dtype_name(dtype)) + " " + std::to_string(tokens) + " x " + std::to_string(im);
  std::mt19937 rng(static_cast<unsigned>(tokens * 5 + im));
  const B::Buffer gate_up = upload(random_floats(rng, tokens * 2 * im, -4.0f, 4.0f), dtype);
  B::Buffer out_plain = upload(std::vector<float>(tokens * im), dtype);
  B::Buffer out_ahead = upload(std::vector<float>(tokens * im), dtype);
  auto rounded = B::alloc_rounded_rows(tokens, im);
  ASSERT_TRUE(rounded) << rounded.error().to_string();
  auto ctx = B::new_context();
  ASSERT_TRUE(B::fused_act_mul_split(ctx, gate_up, out_plain, tokens, im, act));
  ASSERT_TRUE(B::fused_act_mul_split_rounded(ctx, gate_up, out_ahead, tokens, im, act, *rounded));
  ASSERT_TRUE(B::sync(ctx));
  EXPECT_EQ(bytes_of(out_ahead), bytes_of(out_plain)) << "fused_act_mul_split " << what;
  expect_gemv_matches(ctx, out_ahead, *rounded, tokens, im, "fused_act_mul_split " + what);
}

TEST(CudaFusedOps, RoundedNormsMatchTheGemvsOwnRounding) {
  if (!has_cuda_device()) GTEST_SKIP() << "no CUDA device";
  for (DType dtype : {DType::kBF16, DType::kF32}) {
    expect_rounded_norms_match(dtype, 1, 4096);
    expect_rounded_norms_match(dtype, 3, 2048);
    expect_rounded_norms_match(dtype, 8, 512);
    expect_rounded_norms_match(dtype, 2, 96);
    // Rows past the norm's register path: the rounding is a launch of its own.
    expect_rounded_norms_match(dtype, 1, 32800);
  }
}

TEST(CudaFusedOps, RoundedActivationMatchesTheGemvsOwnRounding) {
  if (!has_cuda_device()) GTEST_SKIP() << "no CUDA device";
  for (DType dtype : {DType::kBF16, DType::kF32}) {
    expect_rounded_act_matches(dtype, 1, 14336, Activation::kSilu);
    expect_rounded_act_matches(dtype, 5, 2048, Activation::kGeluTanh);
    expect_rounded_act_matches(dtype, 8, 96, Activation::kSilu);
  }
}

// A rounding of another buffer, or of other rows, is not read: gemm_quant_rounded rounds x itself.
TEST(CudaFusedOps, GemmQuantRoundedIgnoresAnotherBuffersRounding) {
  if (!has_cuda_device()) GTEST_SKIP() << "no CUDA device";
  constexpr size_t kTokens = 2, kDim = 256;
  std::mt19937 rng(3);
  const B::Buffer x = upload(random_floats(rng, kTokens * kDim, -1.0f, 1.0f), DType::kBF16);
  const B::Buffer other = upload(random_floats(rng, kTokens * kDim, -1.0f, 1.0f), DType::kBF16);
  const B::Buffer w = upload(std::vector<float>(kDim, 1.0f), DType::kF32);
  B::Buffer normed = upload(std::vector<float>(kTokens * kDim), DType::kBF16);
  auto rounded = B::alloc_rounded_rows(kTokens, kDim);
  ASSERT_TRUE(rounded);
  auto ctx = B::new_context();
  ASSERT_TRUE(B::rms_norm_rounded(ctx, other, w, 1e-5f, normed, kTokens, kDim, *rounded));
  // `rounded` holds normed's rounding; x's products must not read it, nor may one row of normed.
  expect_gemv_matches(ctx, x, *rounded, kTokens, kDim, "another buffer");
  expect_gemv_matches(ctx, normed, *rounded, 1, kDim, "fewer rows");
}

using PartShapes = std::vector<std::pair<GgufQuantType, size_t>>;

// gemm_quant_parts against one gemm_quant per part with its output copied into its columns, with
// a's rounding made ahead and without (k % 2048 == 0: the staged types copy with cp.async).
void expect_parts_match(size_t m, bool rounded_ahead, const PartShapes& shapes, size_t kK = 512) {
  std::mt19937 rng(static_cast<unsigned>(m * 11 + rounded_ahead + kK));
  std::vector<B::Buffer> weights;
  std::vector<GgufPart<B::Buffer>> parts;
  size_t width = 0;
  for (const auto& [quant, n] : shapes) {
    weights.push_back(random_gguf_weight(rng, gguf_quant_dtype(quant), n, kK));
    width += n;
  }
  for (size_t i = 0; i < shapes.size(); ++i) parts.push_back({&weights[i], shapes[i].first, shapes[i].second});
  ASSERT_TRUE(B::gemm_quant_parts_supported(parts, m));
  const B::Buffer x = upload(random_floats(rng, m * kK, -2.0f, 2.0f), DType::kBF16);
  const B::Buffer w = upload(std::vector<float>(kK, 1.0f), DType::kF32);
  B::Buffer normed = upload(std::vector<float>(m * kK), DType::kBF16);
  B::Buffer together = upload(std::vector<float>(m * width), DType::kF32);
  auto rounded = B::alloc_rounded_rows(m, kK);
  ASSERT_TRUE(rounded);
  auto ctx = B::new_context();
  if (rounded_ahead) {
    ASSERT_TRUE(B::rms_norm_rounded(ctx, x, w, 1e-5f, normed, m, kK, *rounded));
  } else {
    ASSERT_TRUE(B::rms_norm(ctx, x, w, 1e-5f, normed, m, kK));
  }
  ASSERT_TRUE(B::gemm_quant_parts(ctx, normed, &*rounded, parts, together, m, kK));
  std::vector<float> expected(m * width);
  size_t column = 0;
  for (const GgufPart<B::Buffer>& part : parts) {
    auto alone = B::alloc(m * part.n, DType::kF32);
    ASSERT_TRUE(alone);
    ASSERT_TRUE(
        B::gemm_quant(ctx, normed, {.qweight = part.blocks}, *alone, m, part.n, kK, QuantKind{GgufQuant{part.type}}));
    ASSERT_TRUE(B::sync(ctx));
    auto values = B::to_vec(*alone, m * part.n);
    ASSERT_TRUE(values);
    for (size_t t = 0; t < m; ++t) {
      std::copy_n(values->begin() + t * part.n, part.n, expected.begin() + t * width + column);
    }
    column += part.n;
  }
  ASSERT_TRUE(B::sync(ctx));
  auto actual = B::to_vec(together, m * width);
  ASSERT_TRUE(actual);
  EXPECT_EQ(*actual, expected) << m << " rows, rounded ahead " << rounded_ahead << ", k " << kK << ", " << shapes.size()
                               << " parts";
}

TEST(CudaFusedOps, GemmQuantPartsMatchesOneGemmPerPart) {
  if (!has_cuda_device()) GTEST_SKIP() << "no CUDA device";
  using Q = GgufQuantType;
  const PartShapes q4_k_m = {{Q::kQ4_K, 64}, {Q::kQ4_K, 32}, {Q::kQ6_K, 32}};
  for (size_t m : {1, 3}) {
    expect_parts_match(m, true, q4_k_m);
    expect_parts_match(m, false, q4_k_m);
  }
  // Row counts that leave a block of 8 rows part-empty, split rows (few rows, long k), every
  // K-quant, four parts.
  expect_parts_match(1, true, {{Q::kQ5_K, 40}, {Q::kQ5_K, 24}, {Q::kQ6_K, 8}}, 2048);
  expect_parts_match(1, true, {{Q::kQ3_K, 72}, {Q::kQ4_K, 16}, {Q::kQ2_K, 20}, {Q::kQ6_K, 36}}, 4096);
  expect_parts_match(1, false, {{Q::kQ6_K, 300}, {Q::kQ4_K, 100}}, 2048);
  expect_parts_match(1, true, {{Q::kQ2_K, 12}, {Q::kQ3_K, 4}}, 768);
  EXPECT_FALSE(B::gemm_quant_parts_supported({}, 1));  // nothing to run
}

TEST(CudaFusedOps, RoundedOpsRejectWidthsAndRowsTheyCannotHold) {
  if (!has_cuda_device()) GTEST_SKIP() << "no CUDA device";
  EXPECT_FALSE(B::alloc_rounded_rows(1, 100));
  auto rounded = B::alloc_rounded_rows(2, 64);
  ASSERT_TRUE(rounded);
  auto ctx = B::new_context();
  const B::Buffer x = upload(std::vector<float>(4 * 96, 1.0f), DType::kBF16);
  const B::Buffer w = upload(std::vector<float>(96, 1.0f), DType::kF32);
  B::Buffer out = upload(std::vector<float>(4 * 96), DType::kBF16);
  const Status too_many = B::rms_norm_rounded(ctx, x, w, 1e-5f, out, 4, 96, *rounded);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code(), ErrorCode::kShapeMismatch);
  const Status odd_width = B::rms_norm_rounded(ctx, x, w, 1e-5f, out, 1, 40, *rounded);
  ASSERT_FALSE(odd_width);
  EXPECT_EQ(odd_width.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ferrum
