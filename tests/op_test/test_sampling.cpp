// sample_rows: per-row temperature / top-k / top-p / min-p draws against a double-precision
// reference with a full sort. Logits in steps of 1/4 make ties common (top-k and top-p boundaries
// that fall inside a run of equal logits); a backend's pick must be one the reference draws with
// the uniform and top_p moved by 1e-5, the room f32 rounding needs at a boundary.
#include <cmath>
#include <limits>

#include "op_test.h"
#include "reference_ops.h"

namespace ferrum::op_test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kSlack = 1e-5;

// The parameter sets the rows cycle through: greedy, plain, each truncation alone, all together,
// and the degenerate ends (top_k 1, top_k past the row, a tiny top_p, min_p 1).
const RowSampling kParamSets[] = {
    {0.0f, 0, 1.0f, 0.0f, 0.5f},  {1.0f, 0, 1.0f, 0.0f, 0.0f},    {0.7f, 0, 0.9f, 0.0f, 0.0f},
    {1.0f, 40, 1.0f, 0.0f, 0.0f}, {1.5f, 0, 1.0f, 0.1f, 0.0f},    {0.8f, 50, 0.95f, 0.05f, 0.0f},
    {1.0f, 1, 1.0f, 0.0f, 0.0f},  {2.0f, 1e9f, 0.5f, 0.0f, 0.0f}, {1.0f, 0, 0.01f, 0.0f, 0.0f},
    {0.3f, 3, 0.99f, 1.0f, 0.0f}, {5.0f, 7, 1.0f, 0.02f, 0.0f},   {1.0f, 0, 0.6f, 0.0f, 0.0f},
};

std::vector<float> row_params(size_t rows, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> params;
  for (size_t r = 0; r < rows; ++r) {
    RowSampling p = kParamSets[r % std::size(kParamSets)];
    // Uniform draws, with the two ends of [0, 1) among them.
    p.uniform = r % 7 == 3 ? 0.0f : r % 7 == 5 ? 0.99999994f : rng.uniform(0.0f, 1.0f);
    params.insert(params.end(), {p.temperature, p.top_k, p.top_p, p.min_p, p.uniform});
  }
  return params;
}

std::vector<float> row_logits(size_t rows, size_t cols, bool specials, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(rows * cols);
  for (float& value : x) value = std::round(rng.uniform(-8.0f, 8.0f) * 4.0f) / 4.0f;
  if (specials && cols >= 4) {
    for (size_t r = 0; r < rows; ++r) {
      x[r * cols + rng.below(cols)] = -kInf;
      x[r * cols + rng.below(cols)] = std::numeric_limits<float>::quiet_NaN();
    }
    std::fill_n(x.begin(), cols, -kInf);  // nothing finite: argmax_rows' pick
    if (rows > 1) x[cols + 1] = kInf;     // a +inf logit: argmax_rows' pick too
  }
  return x;
}

// sample_rows on backend B; the ids come back as floats, as download gives them.
template <Backend B>
Expected<std::vector<float>> draw_ids(const std::vector<float>& x, const std::vector<float>& params, size_t rows,
                                      size_t cols) {
  FERRUM_ASSIGN_OR_RETURN(auto xb, upload<B>(x, DType::kF32));
  FERRUM_ASSIGN_OR_RETURN(auto pb, upload<B>(params, DType::kF32));
  FERRUM_ASSIGN_OR_RETURN(auto ids, B::alloc(rows, DType::kI32));
  auto ctx = B::new_context();
  FERRUM_TRY(B::sample_rows(ctx, xb, pb, ids, rows, cols));
  return download<B>(ctx, ids, rows);
}

// Parameters out of range or NaN, one kind per row (the contract says what each means).
std::vector<float> odd_params() {
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  const RowSampling rows[] = {
      {kNaN, 0, 1.0f, 0.0f, 0.5f},  {-1.0f, 0, 1.0f, 0.0f, 0.5f},  {1.0f, kNaN, kNaN, 0.0f, 0.5f},
      {1.0f, -3, 1.5f, 0.0f, 0.5f}, {1.0f, 0, 1.0f, kNaN, 0.5f},   {1.0f, 0, 1.0f, 2.0f, 0.5f},
      {1.0f, 0, 1.0f, 0.0f, kNaN},  {1.0f, 10, 1.0f, 0.0f, -1.0f}, {1.0f, 10, 0.9f, 0.0f, 1.5f},
  };
  std::vector<float> params;
  for (const RowSampling& p : rows) params.insert(params.end(), {p.temperature, p.top_k, p.top_p, p.min_p, p.uniform});
  return params;
}

template <Backend B>
CaseResult run_sample(size_t rows, size_t cols, bool specials, bool odd = false) {
  const std::vector<float> x = row_logits(rows, cols, specials, rows * 31 + cols);
  const std::vector<float> params = odd ? odd_params() : row_params(rows, rows + cols);
  OP_ASSIGN(auto actual, draw_ids<B>(x, params, rows, cols));
  // Expected: the backend's pick where the reference allows it, else the reference's own draw.
  std::vector<double> expected(rows);
  for (size_t r = 0; r < rows; ++r) {
    const auto& p = *reinterpret_cast<const RowSampling*>(params.data() + r * kRowSamplingFields);
    const std::vector<int32_t> allowed = ref::sample_row_ids(x.data() + r * cols, cols, p, kSlack);
    const bool ok = std::find(allowed.begin(), allowed.end(), static_cast<int32_t>(actual[r])) != allowed.end();
    expected[r] = ok ? actual[r] : allowed[0];
  }
  return compare(actual, expected, kExact);
}

// Over many rows of one logits row, the picks follow the truncated distribution: the share of
// each token stays within 5 standard deviations of its probability (a check that the draw uses
// the uniform as an inverse CDF, independent of any one boundary).
template <Backend B>
CaseResult run_sample_frequencies() {
  constexpr size_t kRows = 4000, kCols = 64;
  Rng rng(7);
  std::vector<float> one(kCols);
  for (float& value : one) value = rng.uniform(-2.0f, 2.0f);
  std::vector<float> x, params;
  const RowSampling p{0.9f, 20, 0.9f, 0.0f, 0.0f};
  for (size_t r = 0; r < kRows; ++r) {
    x.insert(x.end(), one.begin(), one.end());
    params.insert(params.end(), {p.temperature, p.top_k, p.top_p, p.min_p, (static_cast<float>(r) + 0.5f) / kRows});
  }
  OP_ASSIGN(auto actual, draw_ids<B>(x, params, kRows, kCols));
  // Stratified uniforms make each token's count its kept probability x rows, to within one row
  // per boundary: count exactly what the reference draws from the same uniforms.
  std::vector<double> counts(kCols, 0.0), expected(kCols, 0.0);
  for (size_t r = 0; r < kRows; ++r) {
    counts[static_cast<size_t>(actual[r])] += 1;
    RowSampling q = p;
    q.uniform = params[r * kRowSamplingFields + 4];
    expected[static_cast<size_t>(ref::sample_row_ids(one.data(), kCols, q, 0.0)[0])] += 1;
  }
  std::vector<float> got(counts.begin(), counts.end());
  return compare(got, expected, 0.0, 2.0);
}

template <Backend B>
void add_cases(CaseList& cases) {
  for (auto [rows, cols] : {std::pair<size_t, size_t>{1, 1}, {12, 17}, {24, 4097}, {12, 32000}, {3, 128256}}) {
    add_case<B>(cases, "sample_rows", shape_name({{"rows", rows}, {"cols", cols}}), "f32", cols > 100000,
                [=] { return run_sample<B>(rows, cols, false); });
  }
  add_case<B>(cases, "sample_rows", "with -inf, +inf and NaN rows=12 cols=33", "f32", false,
              [] { return run_sample<B>(12, 33, true); });
  add_case<B>(cases, "sample_rows", "NaN and out-of-range parameters rows=9 cols=300", "f32", false,
              [] { return run_sample<B>(9, 300, false, true); });
  add_case<B>(cases, "sample_rows", "frequencies rows=4000 cols=64", "f32", false,
              [] { return run_sample_frequencies<B>(); });

  using Buffer = typename B::Buffer;
  add_error_case<B>(cases, "sample_rows", "params too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(12, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer params, B::alloc(14, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer ids, B::alloc(3, DType::kI32));
    auto ctx = B::new_context();
    return B::sample_rows(ctx, x, params, ids, 3, 4);
  });
  add_error_case<B>(cases, "sample_rows", "f32 ids", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer x, B::alloc(12, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer params, B::alloc(15, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer ids, B::alloc(3, DType::kF32));
    auto ctx = B::new_context();
    return B::sample_rows(ctx, x, params, ids, 3, 4);
  });
}

}  // namespace

void add_sampling_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
