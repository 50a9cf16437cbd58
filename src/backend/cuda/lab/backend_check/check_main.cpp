#include <cstdio>

#include "backend/cuda/lab/backend_check/check_common.h"

namespace ferrum::cuda_check {

void Checker::expect_close(const std::string& name, const std::vector<float>& got, const std::vector<double>& ref,
                           double tol) {
  ++checks_;
  double worst = 0, scale = 1e-30;
  bool finite = got.size() >= ref.size();
  for (size_t i = 0; i < ref.size() && finite; ++i) {
    if (!std::isfinite(got[i])) finite = false;
    worst = std::max(worst, std::fabs(got[i] - ref[i]));
    scale = std::max(scale, std::fabs(ref[i]));
  }
  const double rel = worst / scale;
  const bool pass = finite && rel <= tol;
  if (!pass) ++failures_;
  std::printf("%-4s %-58s worst %.2e (tol %.1e)%s\n", pass ? "ok" : "FAIL", name.c_str(), rel, tol,
              finite ? "" : "  [non-finite or short output]");
}

void Checker::expect_close(const std::string& name, const std::vector<float>& got, const std::vector<float>& ref,
                           double tol) {
  expect_close(name, got, std::vector<double>(ref.begin(), ref.end()), tol);
}

void Checker::expect_true(const std::string& name, bool condition, const std::string& detail) {
  ++checks_;
  if (!condition) ++failures_;
  std::printf("%-4s %-58s %s\n", condition ? "ok" : "FAIL", name.c_str(), detail.c_str());
}

void Checker::summary() const {
  std::printf("cuda backend check: %d checks, %d failed\n", checks_, failures_);
}

CudaBuffer upload(Checker& c, const std::vector<float>& values, DType dtype, std::vector<float>* stored) {
  if (stored != nullptr) *stored = rounded(values, dtype);
  return c.value("from_slice", B::from_slice(values, dtype));
}

std::vector<float> download(Checker& c, const CudaBuffer& buffer, size_t n) {
  return c.value("to_vec", B::to_vec(buffer, n));
}

}  // namespace ferrum::cuda_check

int main(int argc, char** argv) {
  using namespace ferrum::cuda_check;
  // Fixture folder with gguf/, gptq/ and awq/ (../shared/fixtures/quant in a checkout).
  const std::string fixtures = argc > 1 ? argv[1] : "../shared/fixtures/quant";
  Checker c;
  check_memory(c);
  check_elementwise_ops(c);
  check_norm_and_reduce_ops(c);
  check_layout_ops(c);
  check_gemm_ops(c, fixtures);
  check_attention_ops(c);
  check_graph_decode(c);
  c.summary();
  return c.failures() == 0 ? 0 : 1;
}
