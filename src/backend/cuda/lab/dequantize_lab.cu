// Dequantization lab: GPTQ and AWQ int4 (group 128) and GGUF Q4_K / Q6_K / Q8_0 expanded to bf16, as
// gemm_quant does before cuBLASLt for prefill (m above the tensor-core kernel's rows).
//
// Floor (bytes): the packed words once (k n / 2 bytes), scales and zeros (k n / 64), the bf16 out
// once (2 k n): 2.53 bytes a weight. gate_up 28672x4096: 297 MB, >= 99 us at 3.0 TB/s.
// v1 (packed_dequantize_v1.cuh): a thread per 32 values of a column, its stores in 32 rows a warp.
// v2 (shipped, kernels/dequant.cu): tiles through shared memory, each row written as one run.
// Check: v2's bytes equal v1's, and v1 equals the host's (q - zero) * scale on sampled values.
// GGUF (floor: the blocks once and the bf16 out once): v2 (gguf_dequantize_v2.cuh) a thread per
// 32-value group (64 for Q4_K) storing its own values; v3 (shipped) the same decode, the warp's
// contiguous run stored through shared memory. Check: v3's bytes equal v2's (v2 is the decoder the
// op tests check against ggml).
#include <cuda_fp16.h>

#include <cstring>
#include <vector>

#include "backend/cuda/kernels/dequant.h"
#include "backend/cuda/lab/gguf_dequantize_v2.cuh"
#include "backend/cuda/lab/lab_common.cuh"
#include "backend/cuda/lab/packed_dequantize_v1.cuh"

using ferrum::DType;
namespace cuda = ferrum::cuda;

namespace {

struct Shape {
  const char* name;
  size_t n, k;
};

struct GgufType {
  DType type;
  int block_elems, block_bytes, d_offset, dmin_offset;
};

bool gguf_section() {
  const GgufType types[] = {
      {DType::kQ4_K, 256, 144, 0, 2}, {DType::kQ6_K, 256, 210, 208, -1}, {DType::kQ8_0, 32, 34, 0, -1}};
  const Shape shapes[] = {{"qkv", 6144, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}};
  std::printf("%-8s %-5s %8s %18s %18s\n", "shape", "type", "exact", "v2 us (GB/s)", "v3 us (GB/s)");
  bool all_exact = true;
  for (const GgufType& t : types) {
    for (const Shape& shape : shapes) {
      const size_t blocks = shape.n * shape.k / t.block_elems, bytes = blocks * t.block_bytes;
      auto* w = lab::device_alloc<uint8_t>(bytes);
      lab::fill_gguf_blocks(w, blocks, t.block_bytes, t.d_offset, t.dmin_offset, 21);
      auto* v2_out = lab::device_alloc<__nv_bfloat16>(shape.n * shape.k);
      auto* v3_out = lab::device_alloc<__nv_bfloat16>(shape.n * shape.k);
      const bool chunks = t.type == DType::kQ4_K;
      const size_t tasks = shape.n * shape.k / (chunks ? 64 : 32);
      const unsigned grid = static_cast<unsigned>(std::min<size_t>((tasks + 255) / 256, 65535 * 8));
      const auto v2 = [&](int) {
        if (t.type == DType::kQ4_K) {
          lab_dequant_v2::gguf_dequantize_groups_kernel<DType::kQ4_K, true, __nv_bfloat16>
              <<<grid, 256>>>(w, shape.n, shape.k, t.block_bytes, v2_out);
        } else if (t.type == DType::kQ6_K) {
          lab_dequant_v2::gguf_dequantize_groups_kernel<DType::kQ6_K, false, __nv_bfloat16>
              <<<grid, 256>>>(w, shape.n, shape.k, t.block_bytes, v2_out);
        } else {
          lab_dequant_v2::gguf_dequantize_groups_kernel<DType::kQ8_0, false, __nv_bfloat16>
              <<<grid, 256>>>(w, shape.n, shape.k, t.block_bytes, v2_out);
        }
        LAB_LAUNCH_CHECK("v2");
      };
      const auto v3 = [&](int) {
        if (!cuda::launch_gguf_dequantize(w, t.type, shape.n, shape.k, v3_out, DType::kBF16, nullptr)) {
          std::fprintf(stderr, "v3 launch failed\n");
          std::exit(1);
        }
      };
      v2(0);
      v3(0);
      LAB_CHECK(cudaDeviceSynchronize());
      std::vector<__nv_bfloat16> a(shape.n * shape.k), b(shape.n * shape.k);
      LAB_CHECK(cudaMemcpy(a.data(), v2_out, a.size() * 2, cudaMemcpyDeviceToHost));
      LAB_CHECK(cudaMemcpy(b.data(), v3_out, b.size() * 2, cudaMemcpyDeviceToHost));
      const bool exact = std::memcmp(a.data(), b.data(), a.size() * 2) == 0;
      all_exact = all_exact && exact;
      const double moved = static_cast<double>(bytes) + 2.0 * shape.n * shape.k;
      const double v2_us = lab::time_us(v2), v3_us = lab::time_us(v3);
      std::printf("%-8s %-5s %8s %9.1f (%5.0f) %9.1f (%5.0f)\n", shape.name, ferrum::dtype_name(t.type).data(),
                  exact ? "yes" : "NO", v2_us, moved / v2_us / 1e3, v3_us, moved / v3_us / 1e3);
      for (void* p : {static_cast<void*>(w), static_cast<void*>(v2_out), static_cast<void*>(v3_out)}) {
        LAB_CHECK(cudaFree(p));
      }
    }
  }
  return all_exact;
}

}  // namespace

int main() {
  lab::print_device_banner("dequantize lab");
  const double copy_gbps = lab::measure_copy_gbps();
  std::printf("copy bandwidth %.0f GB/s\n", copy_gbps);
  const Shape shapes[] = {{"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}};
  std::printf("%-8s %-5s %8s %18s %18s\n", "shape", "kind", "exact", "v1 us (GB/s)", "v2 us (GB/s)");
  bool all_exact = true;
  for (const Shape& shape : shapes) {
    for (bool awq : {false, true}) {
      constexpr size_t kGroup = 128;
      const size_t groups = shape.k / kGroup, words = shape.n * shape.k / 8;
      cuda::PackedIntWeight w;
      auto* qweight = lab::device_alloc<int32_t>(words);
      auto* zeros = lab::device_alloc<int32_t>(groups * shape.n / 8);
      auto* scales = lab::device_alloc<__half>(groups * shape.n);
      lab::fill_bytes_kernel<<<1024, 256>>>(reinterpret_cast<uint8_t*>(qweight), words * 4, 11);
      lab::fill_bytes_kernel<<<1024, 256>>>(reinterpret_cast<uint8_t*>(zeros), groups * shape.n / 8 * 4, 12);
      lab::fill_uniform(scales, groups * shape.n, 13, 0.001f, 0.02f);
      w.qweight = qweight;
      w.zeros = zeros;
      w.scales = scales;
      w.scales_dtype = DType::kF16;
      w.bits = 4;
      w.group_size = kGroup;
      w.n = shape.n;
      w.k = shape.k;
      auto* v1_out = lab::device_alloc<__nv_bfloat16>(shape.n * shape.k);
      auto* v2_out = lab::device_alloc<__nv_bfloat16>(shape.n * shape.k);
      const auto v1 = [&](int) {
        const unsigned blocks =
            static_cast<unsigned>(std::min<size_t>((shape.n * shape.k / 32 + 255) / 256, 65535 * 8));
        if (awq) {
          lab_dequant_v1::packed_dequantize_groups_kernel<true, 4, __half, __nv_bfloat16>
              <<<blocks, 256>>>(w, scales, v1_out);
        } else {
          lab_dequant_v1::packed_dequantize_groups_kernel<false, 4, __half, __nv_bfloat16>
              <<<blocks, 256>>>(w, scales, v1_out);
        }
        LAB_LAUNCH_CHECK("v1");
      };
      const auto v2 = [&](int) {
        const ferrum::Status status = awq ? cuda::launch_awq_dequantize(w, v2_out, DType::kBF16, nullptr)
                                          : cuda::launch_gptq_dequantize(w, v2_out, DType::kBF16, nullptr);
        if (!status) {
          std::fprintf(stderr, "v2 launch failed\n");
          std::exit(1);
        }
      };
      v1(0);
      v2(0);
      LAB_CHECK(cudaDeviceSynchronize());
      std::vector<__nv_bfloat16> a(shape.n * shape.k), b(shape.n * shape.k);
      LAB_CHECK(cudaMemcpy(a.data(), v1_out, a.size() * 2, cudaMemcpyDeviceToHost));
      LAB_CHECK(cudaMemcpy(b.data(), v2_out, b.size() * 2, cudaMemcpyDeviceToHost));
      bool exact = std::memcmp(a.data(), b.data(), a.size() * 2) == 0;
      // v1 against the definition on a few values of GPTQ (column j, depth kk).
      if (!awq) {
        std::vector<int32_t> host_q(words), host_z(groups * shape.n / 8);
        std::vector<__half> host_s(groups * shape.n);
        LAB_CHECK(cudaMemcpy(host_q.data(), qweight, words * 4, cudaMemcpyDeviceToHost));
        LAB_CHECK(cudaMemcpy(host_z.data(), zeros, host_z.size() * 4, cudaMemcpyDeviceToHost));
        LAB_CHECK(cudaMemcpy(host_s.data(), scales, host_s.size() * 2, cudaMemcpyDeviceToHost));
        for (size_t sample = 0; sample < 4096 && exact; ++sample) {
          const size_t j = (sample * 7919) % shape.n, kk = (sample * 104729) % shape.k, g = kk / kGroup;
          const uint32_t q = (static_cast<uint32_t>(host_q[(kk / 8) * shape.n + j]) >> (4 * (kk % 8))) & 15;
          const uint32_t z = ((static_cast<uint32_t>(host_z[g * (shape.n / 8) + j / 8]) >> (4 * (j % 8))) & 15) + 1;
          const float expected =
              (static_cast<float>(q) - static_cast<float>(z)) * __half2float(host_s[g * shape.n + j]);
          exact = __bfloat162float(__float2bfloat16_rn(expected)) == __bfloat162float(a[j * shape.k + kk]);
        }
      }
      all_exact = all_exact && exact;
      const double bytes = shape.n * shape.k * (0.5 + 2.0) + groups * shape.n * (2.0 + 0.5);
      const double v1_us = lab::time_us(v1), v2_us = lab::time_us(v2);
      std::printf("%-8s %-5s %8s %9.1f (%5.0f) %9.1f (%5.0f)\n", shape.name, awq ? "awq" : "gptq", exact ? "yes" : "NO",
                  v1_us, bytes / v1_us / 1e3, v2_us, bytes / v2_us / 1e3);
      for (void* p : {static_cast<void*>(qweight), static_cast<void*>(zeros), static_cast<void*>(scales),
                      static_cast<void*>(v1_out), static_cast<void*>(v2_out)}) {
        LAB_CHECK(cudaFree(p));
      }
    }
  }
  all_exact = gguf_section() && all_exact;
  return all_exact ? 0 : 1;
}
