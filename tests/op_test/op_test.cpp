#include "op_test.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/half.h"

namespace ferrum::op_test {

double stored_tolerance(DType dtype, double f32_tolerance) {
  switch (dtype) {
    case DType::kF16: return std::max(f32_tolerance, kStoreF16);
    case DType::kBF16: return std::max(f32_tolerance, kStoreBF16);
    default: return f32_tolerance;
  }
}

float round_to(DType dtype, float value) {
  switch (dtype) {
    case DType::kF16: return to_float(to_f16(value));
    case DType::kBF16: return to_float(to_bf16(value));
    default: return value;
  }
}

std::vector<float> random_values(Rng& rng, size_t n, DType dtype, float lo, float hi) {
  std::vector<float> values(n);
  for (float& value : values) value = round_to(dtype, rng.uniform(lo, hi));
  return values;
}

CaseResult compare(std::span<const float> actual, std::span<const double> expected, double relative, double absolute) {
  CaseResult result;
  if (actual.size() != expected.size()) {
    result.detail = cat("got ", actual.size(), " values, expected ", expected.size());
    return result;
  }
  double scale = 0.0;
  for (double value : expected) {
    if (std::isfinite(value)) scale = std::max(scale, std::fabs(value));
  }
  result.tolerance = relative * scale + absolute;
  size_t worst = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i];
    const double e = expected[i];
    double error;
    if (std::isnan(e) || std::isinf(e)) {
      error = (std::isnan(e) && std::isnan(a)) || a == e ? 0.0 : std::numeric_limits<double>::infinity();
    } else {
      error = std::isfinite(a) ? std::fabs(a - e) : std::numeric_limits<double>::infinity();
    }
    if (error > result.max_abs_error) {
      result.max_abs_error = error;
      worst = i;
    }
  }
  result.passed = result.max_abs_error <= result.tolerance;
  if (!result.passed) {
    result.detail = cat("worst at index ", worst, ": got ", actual[worst], ", expected ", expected[worst]);
  }
  return result;
}

CaseResult compare_all(std::initializer_list<CaseResult> parts) {
  CaseResult result;
  result.passed = true;
  double worst_margin = -1.0;
  for (const CaseResult& part : parts) {
    const double margin = part.tolerance > 0       ? part.max_abs_error / part.tolerance
                          : part.max_abs_error > 0 ? std::numeric_limits<double>::infinity()
                                                   : 0.0;
    if (margin > worst_margin) {
      worst_margin = margin;
      result.max_abs_error = part.max_abs_error;
      result.tolerance = part.tolerance;
    }
    if (!part.passed) {
      result.passed = false;
      if (result.detail.empty()) result.detail = part.detail;
    }
  }
  return result;
}

CaseResult expect_code(const Status& status, ErrorCode expected) {
  CaseResult result;
  result.numeric = false;
  if (status) {
    result.detail = cat("succeeded; expected ", error_code_name(expected));
    return result;
  }
  result.passed = status.error().code() == expected;
  result.detail = status.error().to_string();
  if (!result.passed) result.detail = cat("expected ", error_code_name(expected), ", got ", result.detail);
  return result;
}

CaseResult call_failed(const char* call, const Error& error) {
  CaseResult result;
  result.detail = cat(call, " failed: ", error.to_string());
  return result;
}

std::string shape_name(std::initializer_list<std::pair<const char*, size_t>> dims) {
  std::string name;
  for (const auto& [label, value] : dims) {
    if (!name.empty()) name += ' ';
    name += cat(label, "=", value);
  }
  return name;
}

}  // namespace ferrum::op_test
