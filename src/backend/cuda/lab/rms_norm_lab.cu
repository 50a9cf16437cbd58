// RMS-norm lab: out = x / sqrt(mean(x^2) + eps) * w over rows of bf16.
//
// Floor: read x once and write out once, 2 * tokens * dim * 2 bytes (w stays in L1/L2); the flops
// (~4 per element) are nothing. A prefill-sized call (4096 x 4096) moves 67 MB: >= 22 us at 3 TB/s.
// Decode calls (one row) are launch-latency bound whatever the kernel does.
#include <string>

#include "backend/cuda/kernels/rms_norm.cuh"
#include "backend/cuda/lab/lab_common.cuh"

using ferrum::cuda::bf16_t;

namespace {

__global__ void rms_norm_reference(const bf16_t* x, const bf16_t* w, double* out, int dim, float eps) {
  const size_t row = blockIdx.x;
  if (threadIdx.x != 0) return;
  double sum_sq = 0;
  for (int i = 0; i < dim; ++i) {
    const double v = __bfloat162float(x[row * dim + i]);
    sum_sq += v * v;
  }
  const double inv = 1.0 / sqrt(sum_sq / dim + eps);
  for (int i = 0; i < dim; ++i) out[row * dim + i] = __bfloat162float(x[row * dim + i]) * inv * __bfloat162float(w[i]);
}

struct Shape {
  int tokens, dim;
};

}  // namespace

int main() {
  lab::print_device_banner("rms_norm lab (bf16)");
  const double copy_gbps = lab::measure_copy_gbps();
  std::printf("measured device copy bandwidth: %.0f GB/s (read + write)\n", copy_gbps);
  const float eps = 1e-6f;
  using Launch = void (*)(const bf16_t*, const bf16_t*, bf16_t*, int, int, float);
  struct Version {
    const char* name;
    Launch launch;
  };
  const Version versions[] = {
      // v1: a block per row, strided scalar loads, and a second pass that re-reads the row.
      {"v1 scalar, two passes",
       [](const bf16_t* x, const bf16_t* w, bf16_t* o, int tokens, int dim, float e) {
         const int threads = std::min(1024, (dim + 31) / 32 * 32);
         ferrum::cuda::rms_norm_scalar_kernel<bf16_t, bf16_t, false><<<tokens, threads>>>(x, nullptr, w, o, dim, e);
       }},
      // v2: rows held in registers as 16-byte vectors: one read, one write (what the backend ships).
      {"v2 16B vectors, row in registers",
       [](const bf16_t* x, const bf16_t* w, bf16_t* o, int tokens, int dim, float e) {
         const int chunks = dim / 8;
         int threads = (chunks + ferrum::cuda::kNormMaxChunks - 1) / ferrum::cuda::kNormMaxChunks;
         threads = std::min(1024, std::max(64, (threads + 31) / 32 * 32));
         ferrum::cuda::rms_norm_vec_kernel<bf16_t, bf16_t, false><<<tokens, threads>>>(x, nullptr, w, o, dim, e);
       }},
  };
  const Shape shapes[] = {{1, 4096}, {16, 4096}, {4096, 4096}, {4096, 8192}, {2048, 5120}};
  bool all_ok = true;
  for (const Shape& s : shapes) {
    const size_t elems = size_t{1} * s.tokens * s.dim;
    const int copies = static_cast<int>(std::max<size_t>(1, (size_t{200} << 20) / (elems * 2) + 1));
    std::vector<bf16_t*> xs(copies);
    for (int c = 0; c < copies; ++c) {
      xs[c] = lab::device_alloc<bf16_t>(elems);
      lab::fill_uniform(xs[c], elems, 11 + c, -2.0f, 2.0f);
    }
    bf16_t* w = lab::device_alloc<bf16_t>(s.dim);
    lab::fill_uniform(w, s.dim, 5, 0.5f, 1.5f);
    bf16_t* out = lab::device_alloc<bf16_t>(elems);
    double* ref_d = lab::device_alloc<double>(elems);
    rms_norm_reference<<<s.tokens, 32>>>(xs[0], w, ref_d, s.dim, eps);
    LAB_LAUNCH_CHECK("rms_norm_reference");
    std::vector<double> ref(elems);
    LAB_CHECK(cudaMemcpy(ref.data(), ref_d, elems * 8, cudaMemcpyDeviceToHost));
    const double bytes = 4.0 * elems + 2.0 * s.dim;
    for (const Version& v : versions) {
      lab::poison(out, elems);
      v.launch(xs[0], w, out, s.tokens, s.dim, eps);
      LAB_LAUNCH_CHECK(v.name);
      const lab::Error err = lab::compare(lab::download(out, elems), ref);
      const double us = lab::time_us([&](int i) { v.launch(xs[i % copies], w, out, s.tokens, s.dim, eps); });
      const double gbps = bytes / us / 1e3;
      // Output rounding to bf16 dominates: 2^-9 relative per element.
      lab::print_row(v.name, std::to_string(s.tokens) + "x" + std::to_string(s.dim), us, gbps, "GB/s",
                     100.0 * gbps / copy_gbps, err, 5e-3);
      all_ok = all_ok && !err.has_nan && err.rel_l2 <= 5e-3;
    }
    for (bf16_t* x : xs) LAB_CHECK(cudaFree(x));
    LAB_CHECK(cudaFree(w));
    LAB_CHECK(cudaFree(out));
    LAB_CHECK(cudaFree(ref_d));
  }
  std::printf("rms_norm lab: %s\n", all_ok ? "all versions correct" : "SOME VERSIONS FAILED");
  return all_ok ? 0 : 1;
}
