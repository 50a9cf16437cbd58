// ferrum-op-test: every op of the Backend contract, on every compiled backend (backend_list.h),
// against float64 references (reference_ops.h) over awkward shapes, plus the error paths.
//
// How a case is judged. Inputs are random, then rounded to their storage dtype on the host, and the
// reference computes in double from those rounded values: the difference left is the backend's own
// arithmetic, not the rounding of its inputs. A case passes when
//     max |actual - reference|  <=  relative * max |reference|
// with `relative` from the table below, chosen per what the op does and the dtype it stores:
//   kExact      0      copies, gathers, transposes, conversions that are exact (f16/bf16 -> f32),
//                      GPTQ/AWQ dequantization (small integer times an f16 scale is exact in f32).
//   kF32Math    1e-5   f32 arithmetic with reductions: GEMM, norms, attention, RoPE. Rounding error
//                      of an f32 sum grows like sqrt(n) * 6e-8, about 1e-6 of the result scale at
//                      n = 4097; 1e-5 leaves room for that and still flags one wrong term (>= 1e-3).
//   kTranscend  2e-6   element-wise exp / tanh / erf: the vector exp is within ~2 ulp; tanh and the
//                      erf of GELU are within ~1.5e-7 absolute, so these cases also allow an
//                      absolute kTranscendAbsolute (times the factor multiplying the function, for
//                      the fused gate * up): deep in GELU's negative tail the output is ~1e-8 and
//                      only its absolute error is meaningful.
//   kStoreF16   1e-3   results stored as f16: half an ulp is 2^-11 (4.9e-4) of the value.
//   kStoreBF16  4e-3   results stored as bf16: half an ulp is 2^-8 (3.9e-3) of the value.
// Error-path cases instead call an op with a mis-sized buffer, an unsupported dtype or a bad
// argument and pass when the expected ErrorCode comes back (and nothing crashes).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "backend_list.h"
#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::op_test {

inline constexpr double kExact = 0.0;
inline constexpr double kF32Math = 1e-5;
inline constexpr double kTranscend = 2e-6;
inline constexpr double kTranscendAbsolute = 2e-7;
inline constexpr double kStoreF16 = 1e-3;
inline constexpr double kStoreBF16 = 4e-3;

// The tolerance for values that end up stored as `dtype`, given the op's own (f32) tolerance.
double stored_tolerance(DType dtype, double f32_tolerance);

struct CaseResult {
  bool passed = false;
  bool numeric = true;  // false for error-path cases, which have no error magnitude
  double max_abs_error = 0.0;
  double tolerance = 0.0;
  std::string detail;  // why a case failed; for error paths, the error that came back
};

struct OpCase {
  std::string op;
  std::string backend;
  std::string name;
  std::string dtype;
  bool heavy = false;  // left out by --quick (the sanitizer run)
  std::function<CaseResult()> run;
};

using CaseList = std::vector<OpCase>;

// Each op file registers its cases for every backend.
void add_memory_cases(CaseList& cases);
void add_gemm_cases(CaseList& cases);
void add_quant_cases(CaseList& cases);
void add_norm_cases(CaseList& cases);
void add_attention_cases(CaseList& cases);
void add_layout_cases(CaseList& cases);
void add_im2col_cases(CaseList& cases);
void add_elementwise_cases(CaseList& cases);
void add_row_cases(CaseList& cases);
void add_sampling_cases(CaseList& cases);
// The engine's logit work before and after a draw: adjust_logits, log_softmax_at.
void add_logit_cases(CaseList& cases);
void add_scatter_cases(CaseList& cases);
// The paged-cache ops of the serving engine (paged_cache_write, paged_attention, ...).
void add_paged_cases(CaseList& cases);
// f16 / bf16 activations, on the backends that take them (takes_half_activations).
void add_half_activation_cases(CaseList& cases);

// ── Building cases ──

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(engine_); }
  uint64_t below(uint64_t bound) { return std::uniform_int_distribution<uint64_t>(0, bound - 1)(engine_); }

 private:
  std::mt19937_64 engine_;
};

// value as stored in dtype (f32, f16 or bf16) and read back.
float round_to(DType dtype, float value);
// n uniform values in [lo, hi), already rounded to dtype.
std::vector<float> random_values(Rng& rng, size_t n, DType dtype, float lo = -1.0f, float hi = 1.0f);

std::vector<double> as_doubles(const std::vector<float>& values);

CaseResult compare(std::span<const float> actual, std::span<const double> expected, double relative,
                   double absolute = 0.0);
// compare() for several outputs of one case, judged together (the worst relative margin decides).
CaseResult compare_all(std::initializer_list<CaseResult> parts);
CaseResult expect_code(const Status& status, ErrorCode expected);
CaseResult call_failed(const char* call, const Error& error);

std::string shape_name(std::initializer_list<std::pair<const char*, size_t>> dims);

// ── Talking to a backend ──

template <Backend B>
Expected<typename B::Buffer> upload(const std::vector<float>& values, DType dtype) {
  return B::from_slice(values, dtype);
}

template <Backend B>
Expected<std::vector<float>> download(typename B::Context& ctx, const typename B::Buffer& buffer, size_t n) {
  FERRUM_TRY(B::sync(ctx));
  return B::to_vec(buffer, n);
}

// Case bodies return a CaseResult: these turn a failed call into a failed case naming the call.
#define OP_TRY(expr)                                                                           \
  do {                                                                                         \
    auto op_try_result_ = (expr);                                                              \
    if (!op_try_result_) return ::ferrum::op_test::call_failed(#expr, op_try_result_.error()); \
  } while (false)

#define OP_ASSIGN(lhs, expr) OP_ASSIGN_IMPL_(FERRUM_CONCAT_(op_assign_result_, __LINE__), lhs, expr)
#define OP_ASSIGN_IMPL_(tmp, lhs, expr)                                \
  auto tmp = (expr);                                                   \
  if (!tmp) return ::ferrum::op_test::call_failed(#expr, tmp.error()); \
  lhs = std::move(tmp).value()

// Registers one case of `op` on backend B.
template <Backend B>
void add_case(CaseList& cases, std::string op, std::string name, std::string dtype, bool heavy,
              std::function<CaseResult()> run) {
  cases.push_back(
      OpCase{std::move(op), std::string(backend_name<B>()), std::move(name), std::move(dtype), heavy, std::move(run)});
}

// Registers an error-path case: `call` must fail with `expected`.
template <Backend B>
void add_error_case(CaseList& cases, std::string op, std::string name, ErrorCode expected,
                    std::function<Status()> call) {
  add_case<B>(cases, std::move(op), "error: " + std::move(name), "-", false,
              [expected, call = std::move(call)] { return expect_code(call(), expected); });
}

}  // namespace ferrum::op_test
