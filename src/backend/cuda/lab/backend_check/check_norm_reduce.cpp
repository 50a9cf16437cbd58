// Norm and row-reduction checks.
#include <algorithm>
#include <numeric>

#include "backend/cuda/lab/backend_check/check_common.h"

namespace ferrum::cuda_check {
namespace {

std::string tag(const char* op, DType dtype, size_t rows, size_t cols) {
  return std::string(op) + " " + std::string(dtype_name(dtype)) + " " + std::to_string(rows) + "x" +
         std::to_string(cols);
}

}  // namespace

void check_norm_and_reduce_ops(Checker& c) {
  CudaContext ctx = B::new_context();
  const float eps = 1e-5f;
  for (DType dt : kActivationDtypes) {
    const double tol = tolerance(dt);
    // 4096 takes the vector path, 100 the scalar one, 40000 the scalar path past the register cache.
    for (auto [rows, dim] : {std::pair<size_t, size_t>{3, 4096}, {5, 100}, {2, 40000}}) {
      std::vector<float> xr, wr, rr, gr, br;
      CudaBuffer x = upload(c, random_values(rows * dim, 20, -2, 2), dt, &xr);
      CudaBuffer w = upload(c, random_values(dim, 21, 0.5f, 1.5f), dt == DType::kF32 ? DType::kBF16 : dt, &wr);
      CudaBuffer out = c.value("alloc", B::alloc(rows * dim, dt));

      c.status("rms_norm", B::rms_norm(ctx, x, w, eps, out, rows, dim));
      std::vector<double> ref(rows * dim);
      for (size_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (size_t i = 0; i < dim; ++i) ss += double(xr[r * dim + i]) * xr[r * dim + i];
        const double inv = 1 / std::sqrt(ss / dim + eps);
        for (size_t i = 0; i < dim; ++i) ref[r * dim + i] = xr[r * dim + i] * inv * wr[i];
      }
      c.expect_close(tag("rms_norm", dt, rows, dim), download(c, out, rows * dim), ref, tol);

      // In place (out aliases x) must give the same.
      CudaBuffer inplace = upload(c, xr, dt);
      c.status("rms_norm in place", B::rms_norm(ctx, inplace, w, eps, inplace, rows, dim));
      c.expect_close(tag("rms_norm in place", dt, rows, dim), download(c, inplace, rows * dim), ref, tol);

      CudaBuffer residual = upload(c, random_values(rows * dim, 22, -2, 2), dt, &rr);
      c.status("fused_add_rms_norm", B::fused_add_rms_norm(ctx, residual, x, w, eps, out, rows, dim));
      std::vector<double> sum(rows * dim);
      for (size_t i = 0; i < rows * dim; ++i) sum[i] = rounded({xr[i] + rr[i]}, dt)[0];
      for (size_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (size_t i = 0; i < dim; ++i) ss += sum[r * dim + i] * sum[r * dim + i];
        const double inv = 1 / std::sqrt(ss / dim + eps);
        for (size_t i = 0; i < dim; ++i) ref[r * dim + i] = sum[r * dim + i] * inv * wr[i];
      }
      c.expect_close(tag("fused_add_rms_norm out", dt, rows, dim), download(c, out, rows * dim), ref, tol);
      c.expect_close(tag("fused_add_rms_norm residual", dt, rows, dim), download(c, residual, rows * dim), sum, tol);

      CudaBuffer gamma = upload(c, random_values(dim, 23, 0.5f, 1.5f), DType::kF32, &gr);
      CudaBuffer beta = upload(c, random_values(dim, 24), DType::kF32, &br);
      // An offset mean makes the variance formula matter.
      std::vector<float> shifted = xr;
      for (float& v : shifted) v += 3.0f;
      CudaBuffer xs = upload(c, shifted, dt, &shifted);
      c.status("layer_norm", B::layer_norm(ctx, xs, gamma, beta, eps, out, rows, dim));
      for (size_t r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (size_t i = 0; i < dim; ++i) mean += shifted[r * dim + i];
        mean /= dim;
        for (size_t i = 0; i < dim; ++i) var += (shifted[r * dim + i] - mean) * (shifted[r * dim + i] - mean);
        var /= dim;
        for (size_t i = 0; i < dim; ++i) {
          ref[r * dim + i] = (shifted[r * dim + i] - mean) / std::sqrt(var + eps) * gr[i] + br[i];
        }
      }
      c.expect_close(tag("layer_norm", dt, rows, dim), download(c, out, rows * dim), ref, tol);
    }

    // softmax / argmax / top-k over a small row and a 128k vocabulary row.
    for (auto [rows, cols] : {std::pair<size_t, size_t>{3, 37}, {2, 128256}}) {
      std::vector<float> values = random_values(rows * cols, 30, -8, 8);
      // Planted ties: the max value repeated; the lowest index must win.
      values[5] = values[cols - 2] = 9.0f;
      values[cols + 7] = values[cols + 3] = 9.5f;
      std::vector<float> xr;
      CudaBuffer x = upload(c, values, dt, &xr);
      CudaBuffer out = c.value("alloc", B::alloc(rows * cols, dt));
      c.status("softmax_rows", B::softmax_rows(ctx, x, out, rows, cols));
      std::vector<double> ref(rows * cols);
      for (size_t r = 0; r < rows; ++r) {
        const double mx = *std::max_element(xr.begin() + r * cols, xr.begin() + (r + 1) * cols);
        double total = 0;
        for (size_t i = 0; i < cols; ++i) total += std::exp(xr[r * cols + i] - mx);
        for (size_t i = 0; i < cols; ++i) ref[r * cols + i] = std::exp(xr[r * cols + i] - mx) / total;
      }
      c.expect_close(tag("softmax_rows", dt, rows, cols), download(c, out, rows * cols), ref, tol);

      CudaBuffer ids = c.value("alloc", B::alloc(rows, DType::kI32));
      c.status("argmax_rows", B::argmax_rows(ctx, x, ids, rows, cols));
      std::vector<float> expected_ids(rows);
      for (size_t r = 0; r < rows; ++r) {
        expected_ids[r] = static_cast<float>(std::max_element(xr.begin() + r * cols, xr.begin() + (r + 1) * cols) -
                                             (xr.begin() + r * cols));
      }
      c.expect_close(tag("argmax_rows (ties -> lowest index)", dt, rows, cols), download(c, ids, rows), expected_ids,
                     0.0);

      for (size_t k : {size_t{1}, size_t{20}, std::min<size_t>(cols, 1000)}) {
        CudaBuffer top_values = c.value("alloc", B::alloc(rows * k, DType::kF32));
        CudaBuffer top_ids = c.value("alloc", B::alloc(rows * k, DType::kI32));
        c.status("topk_rows", B::topk_rows(ctx, x, top_values, top_ids, rows, cols, k));
        std::vector<float> ref_values, ref_ids;
        for (size_t r = 0; r < rows; ++r) {
          std::vector<size_t> order(cols);
          std::iota(order.begin(), order.end(), 0);
          std::stable_sort(order.begin(), order.end(),
                           [&](size_t a, size_t b) { return xr[r * cols + a] > xr[r * cols + b]; });
          for (size_t i = 0; i < k; ++i) {
            ref_values.push_back(xr[r * cols + order[i]]);
            ref_ids.push_back(static_cast<float>(order[i]));
          }
        }
        const std::string what = tag("topk_rows", dt, rows, cols) + " k=" + std::to_string(k);
        c.expect_close(what + " values", download(c, top_values, rows * k), ref_values, 0.0);
        c.expect_close(what + " ids", download(c, top_ids, rows * k), ref_ids, 0.0);
      }
    }
  }
  c.status("sync", B::sync(ctx));
}

}  // namespace ferrum::cuda_check
