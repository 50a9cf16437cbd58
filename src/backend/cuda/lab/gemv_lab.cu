// GEMV lab: out[m, n] = x[m, k] @ w[n, k]^T for decode (m = 1..8), bf16 weights and activations.
//
// Floor: the weight is read once, n * k * 2 bytes (x and out are noise); at the measured copy
// bandwidth (~3.0 TB/s on the H100) a Llama-8B gate_up (28672 x 4096, 235 MB) takes >= 78 us.
// Flops are 2 m n k: even m = 8 is ~8 flop/byte, far under the ridge, so every version is
// memory-bound and the table reports GB/s against the copy bandwidth.
#include <string>

#include "backend/cuda/kernels/gemv.cuh"
#include "backend/cuda/kernels/gemv.h"
#include "backend/cuda/lab/lab_common.cuh"

using ferrum::DType;
using ferrum::cuda::bf16_t;

namespace {

// v1: a warp per row, each lane loading one bf16 pair (4 bytes) per step. Coalesced, but a warp
// instruction moves only 128 bytes and each lane has one load in flight: latency-bound.
__global__ void gemv_v1(const bf16_t* x, const bf16_t* w, bf16_t* out, int m, int n, int k) {
  const int row = blockIdx.x * 8 + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= n) return;
  for (int t = 0; t < m; ++t) {
    float acc = 0;
    for (int c = 2 * lane; c < k; c += 64) {
      const __nv_bfloat162 wv = *reinterpret_cast<const __nv_bfloat162*>(w + size_t{1} * row * k + c);
      const __nv_bfloat162 xv = *reinterpret_cast<const __nv_bfloat162*>(x + t * k + c);
      acc += __bfloat162float(wv.x) * __bfloat162float(xv.x) + __bfloat162float(wv.y) * __bfloat162float(xv.y);
    }
    acc = ferrum::cuda::warp_sum(acc);
    if (lane == 0) out[t * n + row] = __float2bfloat16_rn(acc);
  }
}

// v2: 16-byte loads (8 bf16 per lane, 512 bytes per warp instruction), one chunk per lane per step
// in a plain strided loop. Fastest for m = 8 in runs 1 and 2, so the backend ships this shape for
// m > 4 as gemv_many_rows_kernel (gemv.cuh).
__global__ void gemv_v2(const bf16_t* x, const bf16_t* w, bf16_t* out, int m, int n, int k) {
  const int row = blockIdx.x * 8 + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= n) return;
  float acc[8] = {};
  for (int c = 8 * lane; c < k; c += 256) {
    float wv[8];
    ferrum::cuda::load8(w + size_t{1} * row * k + c, wv);
#pragma unroll
    for (int t = 0; t < 8; ++t) {
      if (t >= m) break;
      float xv[8];
      ferrum::cuda::load8(x + t * k + c, xv);
      for (int i = 0; i < 8; ++i) acc[t] += wv[i] * xv[i];
    }
  }
  for (int t = 0; t < 8; ++t) {
    const float total = ferrum::cuda::warp_sum(acc[t]);
    if (lane == 0 && t < m) out[t * n + row] = __float2bfloat16_rn(total);
  }
}

struct Shape {
  const char* name;
  int n, k;
};

template <int kM, int kRows, int kUnroll>
void launch_backend_kernel(const bf16_t* x, const bf16_t* w, bf16_t* out, int m, int n, int k) {
  const int warps = ferrum::cuda::kGemvWarps;
  ferrum::cuda::gemv_kernel<bf16_t, bf16_t, kM, kRows, kUnroll>
      <<<(n + warps * kRows - 1) / (warps * kRows), warps * 32>>>(x, w, out, DType::kBF16, m, n, k, 0u);
}

// The dispatch the backend ships (gemv.cu), called through its launcher.
void launch_shipped(const bf16_t* x, const bf16_t* w, bf16_t* out, int m, int n, int k) {
  ferrum::cuda::GemvArgs args{x, DType::kBF16, w, DType::kBF16, out, DType::kBF16, size_t(m), size_t(n), size_t(k)};
  const ferrum::Status s = ferrum::cuda::launch_gemv(args, nullptr);
  if (!s) std::printf("error: %s\n", s.error().to_string().c_str());
}

}  // namespace

int main() {
  lab::print_device_banner("gemv lab (bf16)");
  const double copy_gbps = lab::measure_copy_gbps();
  std::printf("measured device copy bandwidth: %.0f GB/s (read + write)\n", copy_gbps);
  using Launch = void (*)(const bf16_t*, const bf16_t*, bf16_t*, int, int, int);
  struct Version {
    const char* name;
    Launch launch;
  };
  const Version versions[] = {
      {"v1 warp/row, 4B loads", [](const bf16_t* x, const bf16_t* w, bf16_t* o, int m, int n,
                                   int k) { gemv_v1<<<(n + 7) / 8, 256>>>(x, w, o, m, n, k); }},
      {"v2 warp/row, 16B loads", [](const bf16_t* x, const bf16_t* w, bf16_t* o, int m, int n,
                                    int k) { gemv_v2<<<(n + 7) / 8, 256>>>(x, w, o, m, n, k); }},
      // v3..v6 are instances of the backend kernel (gemv.cuh): weights kept packed in registers, kUnroll
      // 16-byte chunks per lane issued before any is used, kRows weight rows per warp sharing x loads.
      // v3: 4 chunks in flight, 1 row per warp.
      {"v3 16B x4 in flight, 1 row/warp",
       [](const bf16_t* x, const bf16_t* w, bf16_t* o, int m, int n, int k) {
         if (m == 1) return launch_backend_kernel<1, 1, 4>(x, w, o, m, n, k);
         if (m <= 4) return launch_backend_kernel<4, 1, 4>(x, w, o, m, n, k);
         launch_backend_kernel<8, 1, 4>(x, w, o, m, n, k);
       }},
      // v4: 2 rows per warp (8 chunks in flight, each x load used twice).
      {"v4 16B x8 in flight, 2 rows/warp",
       [](const bf16_t* x, const bf16_t* w, bf16_t* o, int m, int n, int k) {
         if (m == 1) return launch_backend_kernel<1, 2, 4>(x, w, o, m, n, k);
         if (m <= 4) return launch_backend_kernel<4, 2, 4>(x, w, o, m, n, k);
         launch_backend_kernel<8, 2, 4>(x, w, o, m, n, k);
       }},
      // v5: 8 chunks in flight per lane, 1 row per warp (more bytes in flight, more registers).
      {"v5 16B x8 in flight, 1 row/warp",
       [](const bf16_t* x, const bf16_t* w, bf16_t* o, int m, int n, int k) {
         if (m == 1) return launch_backend_kernel<1, 1, 8>(x, w, o, m, n, k);
         if (m <= 4) return launch_backend_kernel<4, 1, 8>(x, w, o, m, n, k);
         launch_backend_kernel<8, 1, 8>(x, w, o, m, n, k);
       }},
      // v6: 1 chunk per lane per step (fewest registers, most resident warps): for m > 4 the x loads
      // and conversions, not the weight stream, set the pace, and v2's shape won run 1.
      {"v6 1 chunk in flight, 1 row/warp",
       [](const bf16_t* x, const bf16_t* w, bf16_t* o, int m, int n, int k) {
         if (m == 1) return launch_backend_kernel<1, 1, 1>(x, w, o, m, n, k);
         if (m <= 4) return launch_backend_kernel<4, 1, 1>(x, w, o, m, n, k);
         launch_backend_kernel<8, 1, 1>(x, w, o, m, n, k);
       }},
      {"shipped (gemv.cu dispatch)", launch_shipped},
  };
  const Shape shapes[] = {{"o_proj 4096x4096", 4096, 4096},      {"qkv 6144x4096", 6144, 4096},
                          {"gate_up 28672x4096", 28672, 4096},   {"down 4096x14336", 4096, 14336},
                          {"lm_head 128256x4096", 128256, 4096}, {"odd 1000x1000", 1000, 1000}};
  const int ms[] = {1, 4, 8};
  bool all_ok = true;
  for (const Shape& s : shapes) {
    const size_t w_elems = size_t{1} * s.n * s.k;
    const std::vector<bf16_t*> weights = lab::weight_copies(w_elems, -0.05f, 0.05f);
    const int copies = static_cast<int>(weights.size());
    bf16_t* x = lab::device_alloc<bf16_t>(8 * size_t{1} * s.k);
    lab::fill_uniform(x, 8 * size_t{1} * s.k, 7);
    bf16_t* out = lab::device_alloc<bf16_t>(8 * size_t{1} * s.n);
    double* ref_d = lab::device_alloc<double>(8 * size_t{1} * s.n);
    for (int m : ms) {
      if (m > 1 && (s.n == 128256 || s.n == 1000)) continue;
      const std::vector<double> ref = lab::dense_reference(x, weights[0], m, s.n, s.k, ref_d);
      const double bytes = 2.0 * w_elems + 2.0 * m * s.k + 2.0 * m * s.n;
      for (const Version& v : versions) {
        if (s.k % 8 != 0 && v.launch != versions[0].launch) continue;  // vector versions need k % 8 == 0
        lab::poison(out, size_t{1} * m * s.n);
        v.launch(x, weights[0], out, m, s.n, s.k);
        LAB_LAUNCH_CHECK(v.name);
        const lab::Error err = lab::compare(lab::download(out, size_t{1} * m * s.n), ref);
        const double us = lab::time_us([&](int i) { v.launch(x, weights[i % copies], out, m, s.n, s.k); });
        const double gbps = bytes / us / 1e3;
        // bf16 output rounding alone is 2^-9 relative; 8e-3 leaves room for f32 summation order.
        lab::print_row(v.name, std::string(s.name) + " m=" + std::to_string(m), us, gbps, "GB/s",
                       100.0 * gbps / copy_gbps, err, 8e-3);
        all_ok = all_ok && !err.has_nan && err.rel_l2 <= 8e-3;
      }
    }
    lab::free_all(weights);
    LAB_CHECK(cudaFree(x));
    LAB_CHECK(cudaFree(out));
    LAB_CHECK(cudaFree(ref_d));
  }
  std::printf("gemv lab: %s\n", all_ok ? "all versions correct" : "SOME VERSIONS FAILED");
  return all_ok ? 0 : 1;
}
