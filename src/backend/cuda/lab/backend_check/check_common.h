// The CUDA backend's own op check (until the shared op-test matrix covers CUDA): every op against a
// float64 host reference on random inputs, per activation dtype, with the worst error printed.
//
// Tolerances (max |out - ref| / max |ref|): f32 2e-5 (f32 arithmetic, sums of up to a few thousand
// terms); f16 4e-3 (inputs and output rounded to 11-bit mantissas, ~5e-4 each, plus attention's
// P rounding); bf16 1.6e-2 (8-bit mantissas, ~4e-3 per rounding, two or three roundings on a path).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "core/half.h"

namespace ferrum::cuda_check {

using B = CudaBackend;

inline constexpr DType kActivationDtypes[] = {DType::kF32, DType::kBF16, DType::kF16};

inline double tolerance(DType dtype) {
  switch (dtype) {
    case DType::kBF16: return 1.6e-2;
    case DType::kF16: return 4e-3;
    default: return 2e-5;
  }
}

// Values as `dtype` stores them (so references see exactly what the device sees).
inline std::vector<float> rounded(std::vector<float> values, DType dtype) {
  for (float& v : values) {
    if (dtype == DType::kBF16) v = to_float(to_bf16(v));
    if (dtype == DType::kF16) v = to_float(to_f16(v));
  }
  return values;
}

inline std::vector<float> random_values(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

class Checker {
 public:
  // Records max |got - ref| / max |ref| for `name`; fails on NaN or above `tol`.
  void expect_close(const std::string& name, const std::vector<float>& got, const std::vector<double>& ref, double tol);
  void expect_close(const std::string& name, const std::vector<float>& got, const std::vector<float>& ref, double tol);
  void expect_true(const std::string& name, bool condition, const std::string& detail = "");
  // Unwraps an Expected, failing the check (and returning a default) on error.
  template <class T>
  T value(const std::string& name, Expected<T> result) {
    if (!result) {
      expect_true(name, false, result.error().to_string());
      return T{};
    }
    return std::move(result).value();
  }
  void status(const std::string& name, const Status& s) {
    if (!s) expect_true(name, false, s.error().to_string());
  }
  int failures() const { return failures_; }
  void summary() const;

 private:
  int checks_ = 0;
  int failures_ = 0;
};

// Uploads `values` rounded to dtype; returns the buffer and (through `stored`) the rounded values.
CudaBuffer upload(Checker& c, const std::vector<float>& values, DType dtype, std::vector<float>* stored = nullptr);
std::vector<float> download(Checker& c, const CudaBuffer& buffer, size_t n);

void check_elementwise_ops(Checker& c);
void check_norm_and_reduce_ops(Checker& c);
void check_layout_ops(Checker& c);
void check_gemm_ops(Checker& c, const std::string& fixtures);
void check_attention_ops(Checker& c);
void check_graph_decode(Checker& c);
void check_memory(Checker& c);

}  // namespace ferrum::cuda_check
