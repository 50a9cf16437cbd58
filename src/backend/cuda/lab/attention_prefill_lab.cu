// Prefill attention lab: many query rows per head, bf16, causal / sliding window / GQA / chunked
// prefill (pos_offset > 0).
//
// Floor by flops: 4 * head_dim flops per visible (query, key) pair (QK^T and PV), counted exactly
// for the mask; at ~800 TFLOP/s of dense bf16 (cuBLAS on this H100; mma.sync kernels top out
// lower) Llama-8B attention over 2048 causal tokens (32 heads, 0.28 TFLOP) takes >= 0.35 ms. Bytes (Q, K, V, O once)
// are a few MB: compute-bound.
#include <string>

#include "backend/cuda/kernels/attention.h"
#include "backend/cuda/kernels/flash_attention.cuh"
#include "backend/cuda/lab/attention_reference.cuh"
#include "backend/cuda/lab/lab_common.cuh"

using ferrum::cuda::bf16_t;

namespace {

struct Case {
  const char* name;
  int batch, heads, kv_heads, head_dim, q_len, kv_len, pos_offset;
  bool causal;
  int window;
};

double visible_pairs(const Case& c) {
  double pairs = 0;
  for (int i = 0; i < c.q_len; ++i) {
    const long pos = c.pos_offset + i;
    long hi = c.causal ? std::min<long>(c.kv_len - 1, pos) : c.kv_len - 1;
    long lo = c.window > 0 ? std::max<long>(0, pos - c.window + 1) : 0;
    pairs += std::max<long>(0, hi - lo + 1);
  }
  return pairs * c.batch * c.heads;
}

// v2: the flash kernel with 4 warps (64 query rows per block).
ferrum::Status launch_flash_4_warps(const ferrum::cuda::AttentionProblem& a) {
  using ferrum::cuda::launch_flash_kernel;
  switch (a.d1) {
    case 64: return launch_flash_kernel<bf16_t, 64, 64, 4>(a, nullptr);
    case 80: return launch_flash_kernel<bf16_t, 80, 64, 4>(a, nullptr);
    case 96: return launch_flash_kernel<bf16_t, 96, 64, 4>(a, nullptr);
    case 128: return launch_flash_kernel<bf16_t, 128, 64, 4>(a, nullptr);
    default: return launch_flash_kernel<bf16_t, 256, 32, 4>(a, nullptr);
  }
}

}  // namespace

int main() {
  lab::print_device_banner("prefill attention lab (bf16)");
  int sm_count = 0;
  LAB_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, 0));
  constexpr double kPeakTflops = 800.0;  // dense bf16 measured through cuBLAS on this card (KINDS.md)
  const Case cases[] = {
      {"llama8b causal 2048", 1, 32, 8, 128, 2048, 2048, 0, true, 0},
      {"llama8b causal 8192", 1, 32, 8, 128, 8192, 8192, 0, true, 0},
      {"chunk 512 at pos 2048", 1, 32, 8, 128, 512, 2560, 2048, true, 0},
      {"mistral swa4096 8192", 1, 32, 8, 128, 8192, 8192, 0, true, 4096},
      {"d64 causal 4096", 1, 16, 16, 64, 4096, 4096, 0, true, 0},
      {"d80 causal 1000 (odd)", 1, 12, 4, 80, 1000, 1000, 0, true, 0},
      {"d96 causal 2048", 1, 32, 32, 96, 2048, 2048, 0, true, 0},
      {"gemma d256 causal 2048", 1, 8, 4, 256, 2048, 2048, 0, true, 0},
      {"bert d64 bidirectional 512 b8", 8, 12, 12, 64, 512, 512, 0, false, 0},
  };
  void* scratch = lab::device_alloc<char>(size_t{64} << 20);
  bool all_ok = true;
  for (const Case& c : cases) {
    const size_t q_elems = size_t{1} * c.batch * c.heads * c.q_len * c.head_dim;
    const size_t kv_elems = size_t{1} * c.batch * c.kv_heads * c.kv_len * c.head_dim;
    bf16_t* q = lab::device_alloc<bf16_t>(q_elems);
    bf16_t* k = lab::device_alloc<bf16_t>(kv_elems);
    bf16_t* v = lab::device_alloc<bf16_t>(kv_elems);
    bf16_t* out = lab::device_alloc<bf16_t>(q_elems);
    lab::fill_uniform(q, q_elems, 1, -2.0f, 2.0f);
    lab::fill_uniform(k, kv_elems, 2, -2.0f, 2.0f);
    lab::fill_uniform(v, kv_elems, 3);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    lab::RefProblem rp{c.batch,    c.heads, c.kv_heads, c.q_len,  c.kv_len, c.kv_len, c.pos_offset,
                       c.head_dim, 0,       c.head_dim, c.causal, c.window, scale};
    size_t row_step = 1;
    const std::vector<double> ref =
        lab::attention_reference(rp, q, k, static_cast<const bf16_t*>(nullptr), v, 3000, row_step);

    ferrum::cuda::AttentionProblem a;
    a.q = q, a.k1 = k, a.v = v, a.out = out, a.dtype = a.kv_dtype = ferrum::DType::kBF16;
    a.d1 = a.dv = c.head_dim, a.batch = c.batch, a.heads = c.heads, a.kv_heads = c.kv_heads;
    a.q_len = c.q_len, a.kv_len = c.kv_len, a.kv_stride = c.kv_len, a.pos_offset = c.pos_offset;
    a.causal = c.causal, a.window = c.window, a.scale = scale;
    struct Version {
      const char* name;
      std::function<void(int)> run;
    };
    const Version versions[] = {
        // v1: the CUDA-core split-KV kernel (the backend's fallback for f32 and odd head dims).
        {"v1 split-KV on CUDA cores",
         [&](int) {
           const ferrum::Status s = ferrum::cuda::launch_split_kv_attention(a, sm_count, scratch, nullptr);
           if (!s) std::printf("error: %s\n", s.error().to_string().c_str());
         }},
        // v2: tensor cores (mma.sync m16n8k16), cp.async double buffering, 4 warps x 16 rows.
        {"v2 flash mma.sync, 64-row blocks",
         [&](int) {
           const ferrum::Status s = launch_flash_4_warps(a);
           if (!s) std::printf("error: %s\n", s.error().to_string().c_str());
         }},
        // v3: 8 warps x 16 rows: each K/V tile serves 128 query rows; twice the warps per SM (shipped).
        {"v3 flash, 128-row blocks (shipped)",
         [&](int) {
           const ferrum::Status s = ferrum::cuda::launch_flash_attention(a, nullptr);
           if (!s) std::printf("error: %s\n", s.error().to_string().c_str());
         }},
    };
    const double flops = 4.0 * c.head_dim * visible_pairs(c);
    for (const Version& v : versions) {
      const bool slow = v.name[1] == '1' && flops > 2e11;  // v1 on the big cases would take seconds
      if (slow) continue;
      lab::poison(out, q_elems);
      v.run(0);
      LAB_LAUNCH_CHECK(v.name);
      const lab::Error err = lab::compare(lab::sampled_rows(lab::download(out, q_elems), c.head_dim, row_step), ref);
      const double us = lab::time_us(v.run, 3, 10);
      const double tflops = flops / us / 1e6;
      // P is rounded to bf16 before PV and the output to bf16: ~2^-9 each, so 1e-2 relative.
      lab::print_row(v.name, c.name, us, tflops, "TFLOP/s", 100.0 * tflops / kPeakTflops, err, 1e-2);
      all_ok = all_ok && !err.has_nan && err.rel_l2 <= 1e-2;
    }
    for (void* p : {static_cast<void*>(q), static_cast<void*>(k), static_cast<void*>(v), static_cast<void*>(out)}) {
      LAB_CHECK(cudaFree(p));
    }
  }
  std::printf("prefill attention lab: %s\n", all_ok ? "all versions correct" : "SOME VERSIONS FAILED");
  return all_ok ? 0 : 1;
}
