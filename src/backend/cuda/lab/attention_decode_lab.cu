// Decode attention lab: a few query rows per head (q_len 1) against a long KV cache, bf16, GQA.
//
// Floor: K and V are read once, 2 * batch * kv_heads * kv_len * head_dim * 2 bytes (Llama-8B at
// 4096 tokens: 16.8 MB, >= 5.6 us at 3 TB/s); flops are 4 * heads * kv_len * head_dim, about one
// flop per byte, so memory-bound. Short caches are launch- and latency-bound.
#include <string>

#include "backend/cuda/kernels/attention.h"
#include "backend/cuda/kernels/attention_split_kv.cuh"
#include "backend/cuda/lab/attention_reference.cuh"
#include "backend/cuda/lab/lab_common.cuh"

using ferrum::cuda::bf16_t;

namespace {

struct Case {
  const char* name;
  int batch, heads, kv_heads, kv_len, d1, d2;  // d2 > 0: MLA (kv_heads 1, value = k1)
};

// Versions 1 and 2 run the split-KV kernel with kBatched = false: K rows loaded 4 chunks at a time
// and V rows one key at a time (one memory round trip per key per warp).
//   v1: one split, i.e. one block per (KV head, row block): a Llama-8B decode launches 8 blocks on
//       132 SMs, so a handful of SMs' bandwidth caps it.
//   v2: split over the keys for two waves of blocks (at least 256 keys per split) + combine kernel.
//   v3: the shipped kernel: kBatched (8 K chunks and 8 V rows in flight per warp) and 4-row blocks
//       when the GQA group has at most 4 rows.
void launch_unbatched(const ferrum::cuda::AttentionProblem& a, int sm_count, bool split, void* scratch) {
  const int rows = a.dv <= 256 ? 8 : 4;
  const int group_rows = static_cast<int>(a.heads / a.kv_heads * a.q_len);
  const int base_blocks = static_cast<int>(a.batch * a.kv_heads) * ((group_rows + rows - 1) / rows);
  const int splits = split ? std::clamp(std::min((2 * sm_count + base_blocks - 1) / base_blocks,
                                                 std::max(1, static_cast<int>(a.kv_len) / 256)),
                                        1, 64)
                           : 1;
  const ferrum::cuda::SplitKvParams p = ferrum::cuda::make_split_kv_params(a, splits, rows, scratch);
  const ferrum::Status s =
      a.dv <= 128 ? ferrum::cuda::launch_split_kv_kernel<bf16_t, bf16_t, 8, 4, false>(p, a.batch, a.kv_heads, nullptr)
      : a.dv <= 256
          ? ferrum::cuda::launch_split_kv_kernel<bf16_t, bf16_t, 8, 8, false>(p, a.batch, a.kv_heads, nullptr)
          : ferrum::cuda::launch_split_kv_kernel<bf16_t, bf16_t, 4, 16, false>(p, a.batch, a.kv_heads, nullptr);
  if (!s) std::printf("error: %s\n", s.error().to_string().c_str());
}

}  // namespace

int main() {
  lab::print_device_banner("decode attention lab (bf16)");
  const double copy_gbps = lab::measure_copy_gbps();
  std::printf("measured device copy bandwidth: %.0f GB/s (read + write)\n", copy_gbps);
  int sm_count = 0;
  LAB_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, 0));
  const Case cases[] = {
      {"llama8b kv512", 1, 32, 8, 512, 128, 0},           {"llama8b kv4096", 1, 32, 8, 4096, 128, 0},
      {"llama8b kv32768", 1, 32, 8, 32768, 128, 0},       {"llama8b b8 kv4096", 8, 32, 8, 4096, 128, 0},
      {"qwen g8 d128 kv8192", 1, 16, 2, 8192, 128, 0},    {"gemma d256 kv4096", 1, 8, 4, 4096, 256, 0},
      {"mla h16 512+64 kv4096", 1, 16, 1, 4096, 512, 64},
  };
  void* scratch = lab::device_alloc<char>(size_t{256} << 20);
  bool all_ok = true;
  for (const Case& c : cases) {
    const bool mla = c.d2 > 0;
    const int dv = c.d1, dk = c.d1 + c.d2;
    const size_t q_elems = size_t{1} * c.batch * c.heads * dk, out_elems = size_t{1} * c.batch * c.heads * dv;
    const size_t k1_elems = size_t{1} * c.batch * c.kv_heads * c.kv_len * c.d1;
    const size_t k2_elems = size_t{1} * c.batch * c.kv_len * c.d2;
    const size_t kv_bytes = 2 * (mla ? k1_elems + k2_elems : 2 * k1_elems);
    const int copies = static_cast<int>(std::max<size_t>(1, (size_t{200} << 20) / kv_bytes + 1));
    std::vector<bf16_t*> k1s(copies), k2s(copies), vs(copies);
    for (int i = 0; i < copies; ++i) {
      k1s[i] = lab::device_alloc<bf16_t>(k1_elems);
      lab::fill_uniform(k1s[i], k1_elems, 30 + i);
      k2s[i] = mla ? lab::device_alloc<bf16_t>(k2_elems) : nullptr;
      if (mla) lab::fill_uniform(k2s[i], k2_elems, 60 + i);
      vs[i] = mla ? k1s[i] : lab::device_alloc<bf16_t>(k1_elems);
      if (!mla) lab::fill_uniform(vs[i], k1_elems, 90 + i);
    }
    bf16_t* q = lab::device_alloc<bf16_t>(q_elems);
    lab::fill_uniform(q, q_elems, 3);
    bf16_t* out = lab::device_alloc<bf16_t>(out_elems);
    const float scale = 1.0f / std::sqrt(static_cast<float>(dk));
    lab::RefProblem rp{c.batch, c.heads, c.kv_heads, 1,    c.kv_len, c.kv_len, c.kv_len - 1,
                       c.d1,    c.d2,    dv,         true, 0,        scale};
    size_t row_step = 1;
    const std::vector<double> ref = lab::attention_reference(rp, q, k1s[0], k2s[0], vs[0], 4096, row_step);

    ferrum::cuda::AttentionProblem a;
    a.q = q, a.out = out, a.dtype = a.kv_dtype = ferrum::DType::kBF16, a.d1 = c.d1, a.d2 = c.d2, a.dv = dv;
    a.batch = c.batch, a.heads = c.heads, a.kv_heads = c.kv_heads, a.q_len = 1, a.kv_len = c.kv_len;
    a.kv_stride = c.kv_len, a.pos_offset = c.kv_len - 1, a.causal = true, a.scale = scale;
    auto with_copy = [&](int i) {
      ferrum::cuda::AttentionProblem b = a;
      b.k1 = k1s[i % copies], b.k2 = k2s[i % copies], b.v = vs[i % copies];
      return b;
    };
    struct Version {
      const char* name;
      std::function<void(int)> run;
    };
    const Version versions[] = {
        {"v1 split-KV kernel, 1 split", [&](int i) { launch_unbatched(with_copy(i), sm_count, false, scratch); }},
        {"v2 split over keys", [&](int i) { launch_unbatched(with_copy(i), sm_count, true, scratch); }},
        {"v3 batched loads (shipped)",
         [&](int i) {
           const ferrum::Status s = ferrum::cuda::launch_split_kv_attention(with_copy(i), sm_count, scratch, nullptr);
           if (!s) std::printf("error: %s\n", s.error().to_string().c_str());
         }},
    };
    for (const Version& v : versions) {
      lab::poison(out, out_elems);
      v.run(0);
      LAB_LAUNCH_CHECK(v.name);
      const lab::Error err = lab::compare(lab::sampled_rows(lab::download(out, out_elems), dv, row_step), ref);
      const double us = lab::time_us(v.run);
      const double gbps = kv_bytes / us / 1e3;
      // bf16 output rounding (2^-9) dominates; scores and softmax are f32.
      lab::print_row(v.name, c.name, us, gbps, "GB/s", 100.0 * gbps / copy_gbps, err, 6e-3);
      all_ok = all_ok && !err.has_nan && err.rel_l2 <= 6e-3;
    }
    for (int i = 0; i < copies; ++i) {
      LAB_CHECK(cudaFree(k1s[i]));
      if (mla) LAB_CHECK(cudaFree(k2s[i]));
      if (!mla) LAB_CHECK(cudaFree(vs[i]));
    }
    LAB_CHECK(cudaFree(q));
    LAB_CHECK(cudaFree(out));
  }
  std::printf("decode attention lab: %s\n", all_ok ? "all versions correct" : "SOME VERSIONS FAILED");
  return all_ok ? 0 : 1;
}
