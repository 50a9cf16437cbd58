// Quantized GEMM lab for batches (issue 7): out[m, n] = x[m, k] @ decode(w)[n, k]^T with GGUF
// weights, bf16 x and out, m from 1 (decode) to 512 (prefill), Llama-3.1-8B shapes, weight copies
// rotated beyond L2.
//
// Floor: the quantized bytes / the copy bandwidth while memory-bound; 2 m n k / the tensor-core
// peak above that.
//
// Versions:
//   v0  gemm_quant's path above quant_mma_max_rows(): dequantize the whole matrix to bf16 scratch
//       (launch_gguf_dequantize, a thread per 32-value group with v2's decoders), then cuBLASLt
//       (reads the blocks, writes and reads 2 bytes per weight, whatever m is).
//   v1  kernels/quant_mma.cu: a block of 8 warps owns 128 weight rows and 16 or 64 tokens; per
//       128-deep slice it decodes its weight tile to bf16 in shared memory (one thread per 32
//       values, scales read once per group), copies x beside it, then mma.sync m16n8k16; k is
//       split over blocks when the tiles alone leave SMs idle.
//   v2  v1 with decoders per type for Q4_K (a thread per 64 values: one 16-byte header load, two
//       16-byte nibble loads, scales decoded once), Q6_K and Q8_0 (16-bit loads of the 2-byte aligned
//       blocks); integers become floats through 2^23 + v, not I2F (quarter rate). Other types as v1.
//       Since 757e730 both take x through cp.async while the weights decode, and the Q4_K bytes of
//       the next slice are fetched a slice ahead (the other types: an L2 prefetch two ahead).
//   v3  v2 with blocks of 4 warps (64 weight rows): twice the blocks per SM, so one block's
//       barriers leave the others running (x is read from L2 twice as often).
//   v4  Q4_K only: no weight tile in shared memory; each warp decodes its 32 rows straight into
//       mma fragments, k permuted within each 64-value chunk so a lane's 8 contiguous nibble bytes
//       fill its slots; the next super-block's bytes held in registers; x's tile double-buffered per
//       256-deep super-block, one barrier each.
//   v5  v4 with each warp's rows streamed through a ring of 4 super-blocks in shared memory by
//       cp.async (no registers held). v6: v5 plus an L2 prefetch of 4 super-blocks of each row at a
//       time (no change). Both at one block per SM (the common 50% carveout): 2 warps a scheduler.
//   v7  kernels/quant_mma_fragments.cu: v5 with 8 warps of 16 rows, the full carveout and, at 64
//       tokens, one x buffer and a shallower ring, so two blocks fit an SM; v7x2 keeps two x buffers
//       at 64 tokens (one block); v7f1 / v7f4 split k for 1 / 4 blocks per SM (v7: 2, or none when
//       the tiles give every SM a block, since the lab's v7f1 won there). Q4_K, Q6_K (whose 210-byte
//       super-blocks are staged as 16-byte aligned 224-byte windows) and Q8_0 (8 blocks a stage).
//       v4-v6 and their figures: bench/results/2026-11-27-h100-q4k-fragments.md.
//   v8  kernels/quant_mma_wgmma.cu (sm_90a, 64-token tiles): v7's warps and decode, x in 128-byte
//       swizzled shared memory multiplied by wgmma m64n64k16 (a warpgroup's 64 rows per
//       instruction, A fragments from registers, double-buffered by group); Q4_K with two x slices
//       and a 2-deep ring (v8x1: one slice, 3 deep), Q6_K and Q8_0 one slice, 2 deep. Unswizzled,
//       the first try ran 1.2-1.35x v7's time (bank conflicts).
//   gemv  the fused dp4a GEMV (kernels/quant_gemv.h) where it exists (Q8_0 / Q4_K / Q6_K, m <= 8),
//       for the crossover.
// Checked against f64 sums over the weights the backend's decoder (checked against ggml) expands,
// on the first 256 rows.
#include <cuda_fp16.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/cuda/backend_checks.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/dequant.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/quant_gemv.h"
#include "backend/cuda/kernels/quant_mma.h"
#include "backend/cuda/kernels/rounded_rows.cuh"
#include "lab_common.cuh"

namespace {

using ferrum::DType;
using ferrum::cuda::bf16_t;

constexpr int kCheckedRows = 256;

struct TypeLayout {
  DType type;
  int block_elems, block_bytes, d_offset, dmin_offset;
};

constexpr TypeLayout kTypes[] = {{DType::kQ4_K, 256, 144, 0, 2},
                                 {DType::kQ6_K, 256, 210, 208, -1},
                                 {DType::kQ8_0, 32, 34, 0, -1},
                                 {DType::kQ5_K, 256, 176, 0, 2},
                                 {DType::kQ4_0, 32, 18, 0, -1}};

// ref[t, r] = sum_k x[t, k] w[r, k] in f64, r < rows.
__global__ void reference_kernel(const float* w, const bf16_t* x, double* ref, int m, int rows, int k) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x, t = blockIdx.y;
  if (r >= rows) return;
  double acc = 0;
  for (int i = 0; i < k; ++i)
    acc += double(w[size_t{1} * r * k + i]) * double(__bfloat162float(x[size_t{1} * t * k + i]));
  ref[size_t{1} * t * rows + r] = acc;
}

struct Shape {
  const char* name;
  int n, k;
};

// One (type, shape, m): checks a version's first kCheckedRows outputs against the f64 reference,
// times it and prints its row.
struct Measure {
  std::string type_name;
  const char* shape;
  int m;
  int n, k;
  size_t bytes;
  double copy_gbps;
  cudaStream_t stream;
  bf16_t* out;
  const std::vector<double>* ref_all;

  bool report(const char* version, const std::function<void(int)>& launch) const {
    lab::poison(out, size_t{1} * m * n);
    launch(0);
    LAB_CHECK(cudaStreamSynchronize(stream));
    const std::vector<float> all = lab::download(out, size_t{1} * m * n);
    std::vector<float> got(size_t{1} * m * kCheckedRows);
    std::vector<double> ref(got.size());
    for (int tok = 0; tok < m; ++tok) {
      for (int r = 0; r < kCheckedRows; ++r) {
        got[size_t{1} * tok * kCheckedRows + r] = all[size_t{1} * tok * n + r];
        ref[size_t{1} * tok * kCheckedRows + r] = (*ref_all)[size_t{1} * tok * kCheckedRows + r];
      }
    }
    const lab::Error err = lab::compare(got, ref);
    const bool ok = !err.has_nan && err.rel_l2 <= 1e-2;
    const double us = lab::time_us(launch, 3, 15, stream);
    const double gbps = static_cast<double>(bytes) / us / 1e3;
    const double tflops = 2.0 * m * n * k / us / 1e6;
    std::printf("%-6s %-20s %4d %-8s %10.1f %9.0f %6.1f%% %9.1f %9.2e%s\n", type_name.c_str(), shape, m, version, us,
                gbps, 100 * gbps / copy_gbps, tflops, err.rel_l2, ok ? "" : "  FAIL");
    return ok;
  }
};

// Random GPTQ words (any bits are valid), zeros, and small positive f16 scales.
__global__ void fill_words_kernel(int32_t* p, size_t n, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    p[i] = static_cast<int32_t>(lab::hash32(seed * 0x9e3779b97f4a7c15ull + i));
  }
}

}  // namespace

// argv[1], if given, names the one type to run (q4_K, q6_K, q8_0, q5_K, q4_0 or gptq4); argv[2] and
// argv[3] the one shape (its name's first word) and m (for profiling one launch).
int main(int argc, char** argv) {
  const std::string only = argc > 1 ? argv[1] : "";
  const std::string only_shape = argc > 2 ? argv[2] : "";
  const int only_m = argc > 3 ? std::atoi(argv[3]) : 0;
  lab::print_device_banner("quantized GEMM lab (GGUF, bf16 x, m = 1 .. 512)");
  const double copy_gbps = lab::measure_copy_gbps();
  std::printf("measured device copy bandwidth: %.0f GB/s (read + write)\n", copy_gbps);
  using ferrum::CudaBackend;
  auto ctx = CudaBackend::new_context();
  const cudaStream_t stream = ctx.stream();
  const int sms = ctx.state().sm_count;
  const Shape shapes[] = {{"qkv 6144x4096", 6144, 4096},
                          {"o 4096x4096", 4096, 4096},
                          {"gate_up 28672x4096", 28672, 4096},
                          {"down 4096x14336", 4096, 14336}};
  constexpr int kMaxM = 512;
  const int batches[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  auto x_buffer = CudaBackend::alloc(size_t{kMaxM} * 14336, DType::kBF16);
  auto out_buffer = CudaBackend::alloc(size_t{kMaxM} * 28672, DType::kBF16);
  auto dense_buffer = CudaBackend::alloc(size_t{28672} * 4096, DType::kBF16);
  if (!x_buffer || !out_buffer || !dense_buffer) return 1;
  bf16_t* x = static_cast<bf16_t*>(x_buffer->data());
  lab::fill_uniform(x, size_t{kMaxM} * 14336, 7);
  float* dense_f32 = lab::device_alloc<float>(size_t{kCheckedRows} * 14336);
  double* ref_d = lab::device_alloc<double>(size_t{kMaxM} * kCheckedRows);
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  const auto ensure_scratch = [&](size_t need) {
    if (need <= scratch_bytes) return;
    if (scratch != nullptr) LAB_CHECK(cudaFree(scratch));
    scratch = lab::device_alloc<char>(need);
    scratch_bytes = need;
  };
  // The arguments every launch here shares: bf16 x and out, the current scratch.
  const auto base_args = [&](int m, int n, int k) {
    ferrum::cuda::QuantMmaArgs a;
    a.x = x;
    a.out = out_buffer->data();
    a.m = m;
    a.n = n;
    a.k = k;
    a.num_sms = sms;
    a.compute_capability = ctx.state().compute_capability;
    a.scratch = scratch;
    return a;
  };
  bool all_ok = true;
  std::printf("\n%-6s %-20s %4s %-8s %10s %9s %7s %9s %9s\n", "type", "shape", "m", "version", "us", "GB/s", "% copy",
              "TFLOP/s", "rel err");
  for (const TypeLayout& t : kTypes) {
    if (!only.empty() && only != ferrum::dtype_name(t.type)) continue;
    for (const Shape& s : shapes) {
      if (!only_shape.empty() && std::string(s.name).rfind(only_shape + " ", 0) != 0) continue;
      const size_t blocks = size_t{1} * s.n * s.k / t.block_elems;
      const size_t bytes = blocks * t.block_bytes;
      const int copies = static_cast<int>(std::max<size_t>(2, (size_t{400} << 20) / bytes));
      std::vector<uint8_t*> weights(copies);
      for (int c = 0; c < copies; ++c) {
        weights[c] = lab::device_alloc<uint8_t>(bytes);
        lab::fill_gguf_blocks(weights[c], blocks, t.block_bytes, t.d_offset, t.dmin_offset, 100 + c);
      }
      // The checked rows, dequantized to f32 by the backend's decoder.
      lab::die_on(
          ferrum::cuda::launch_gguf_dequantize(weights[0], t.type, kCheckedRows, s.k, dense_f32, DType::kF32, nullptr),
          "dequantize");
      reference_kernel<<<dim3(1, kMaxM), kCheckedRows>>>(dense_f32, x, ref_d, kMaxM, kCheckedRows, s.k);
      LAB_LAUNCH_CHECK("reference");
      std::vector<double> ref_all(size_t{kMaxM} * kCheckedRows);
      LAB_CHECK(cudaMemcpy(ref_all.data(), ref_d, ref_all.size() * 8, cudaMemcpyDeviceToHost));
      const std::string type_name(ferrum::dtype_name(t.type));
      for (int m : batches) {
        if (only_m > 0 && m != only_m) continue;
        ensure_scratch(std::max({ferrum::cuda::quant_mma_scratch_bytes(m, s.n, s.k, sms, 4, 4),
                                 ferrum::cuda::quant_mma_scratch_bytes(m, s.n, s.k, sms, 8, 4)}));
        const Measure measure{
            type_name, s.name, m, s.n, s.k, bytes, copy_gbps, stream, static_cast<bf16_t*>(out_buffer->data()),
            &ref_all};
        const auto report = [&](const char* version, const std::function<void(int)>& launch) {
          all_ok = measure.report(version, launch) && all_ok;
        };
        const auto args = [&](int c, bool generic, int warps = 8) {
          ferrum::cuda::QuantMmaArgs a = base_args(m, s.n, s.k);
          a.w = weights[c % copies];
          a.w_dtype = t.type;
          a.generic_decode = generic;
          a.warps = warps;
          a.kernel = ferrum::cuda::QuantMmaKernel::kSharedTiles;
          return a;
        };
        const auto fragment_args = [&](int c, int fill, int x_buffers) {
          ferrum::cuda::QuantMmaArgs a = args(c, false);
          a.kernel = ferrum::cuda::QuantMmaKernel::kFragments;
          a.fill = fill;
          a.x_buffers = x_buffers;
          return a;
        };
        if (m >= 8) {
          report("v0", [&](int c) {
            lab::die_on(ferrum::cuda::launch_gguf_dequantize(weights[c % copies], t.type, s.n, s.k,
                                                             dense_buffer->data(), DType::kBF16, stream),
                        "v0 dequantize");
            lab::die_on(ferrum::cuda::run_dense_gemm(
                            ctx, {x, DType::kBF16, dense_buffer->data(), DType::kBF16, out_buffer->data(), DType::kBF16,
                                  size_t(m), size_t(s.n), size_t(s.k)}),
                        "v0 gemm");
          });
        }
        report("v1", [&](int c) { lab::die_on(ferrum::cuda::launch_quant_mma(args(c, true), stream), "v1"); });
        report("v2", [&](int c) { lab::die_on(ferrum::cuda::launch_quant_mma(args(c, false), stream), "v2"); });
        report("v3", [&](int c) { lab::die_on(ferrum::cuda::launch_quant_mma(args(c, false, 4), stream), "v3"); });
        {
          const auto v7 = [&](const char* name, int fill, int x_buffers) {
            report(name, [&](int c) {
              lab::die_on(ferrum::cuda::launch_quant_mma(fragment_args(c, fill, x_buffers), stream), name);
            });
          };
          v7("v7", 0, 1);
          v7("v7x2", 0, 2);
          v7("v7f1", 1, 1);
          v7("v7f4", 4, 1);
          if (m > 16) {  // wgmma takes 64-token tiles
            const auto v8 = [&](const char* name, int x_buffers) {
              report(name, [&](int c) {
                ferrum::cuda::QuantMmaArgs a = fragment_args(c, 0, x_buffers);
                a.kernel = ferrum::cuda::QuantMmaKernel::kWgmma;
                lab::die_on(ferrum::cuda::launch_quant_mma(a, stream), name);
              });
            };
            v8("v8", 0);
            if (t.type == DType::kQ4_K) v8("v8x1", 1);
          }
        }
        if (m <= 8 && ferrum::cuda::quant_gemv_supports(t.type, m, weights[0])) {
          const size_t gemv_bytes = ferrum::cuda::quant_gemv_scratch_bytes(m, s.k);
          void* gemv_scratch = lab::device_alloc<char>(gemv_bytes);
          report("gemv", [&](int c) {
            const ferrum::cuda::QuantGemvArgs gemv{
                x,         DType::kBF16, weights[c % copies], t.type,      out_buffer->data(), DType::kBF16,
                size_t(m), size_t(s.n),  size_t(s.k),         gemv_scratch};
            lab::die_on(ferrum::cuda::launch_quant_gemv(gemv, stream), "gemv");
          });
          LAB_CHECK(cudaFree(gemv_scratch));
        }
      }
      for (uint8_t* w : weights) LAB_CHECK(cudaFree(w));
    }
  }
  // GPTQ int4, group 128 (as AutoGPTQ packs it), f16 scales: v0 expands it and runs cuBLASLt, v2 is
  // the shared-tile tensor-core kernel over the packed words, v7 / v8 the fragment kernels (mma.sync /
  // wgmma; GptqWords in quant_mma_formats.cuh), gemv* the batch-1 GEMV (quant_mma_packed.cu).
  int* gemv_counters = lab::device_alloc<int>(ferrum::cuda::kPackedGemvCounters);
  LAB_CHECK(cudaMemset(gemv_counters, 0, sizeof(int) * ferrum::cuda::kPackedGemvCounters));
  void* x_rounded = lab::device_alloc<char>(ferrum::cuda::rounded_rows_bytes(1, 14336));
  for (const Shape& s : shapes) {
    if (!only.empty() && only != "gptq4") continue;
    const size_t groups = s.k / 128;
    const int copies = 3;
    std::vector<int32_t*> qweight(copies), zeros(copies);
    std::vector<__half*> scales(copies);
    for (int c = 0; c < copies; ++c) {
      qweight[c] = lab::device_alloc<int32_t>(size_t{1} * s.k / 8 * s.n);
      zeros[c] = lab::device_alloc<int32_t>(groups * s.n / 8);
      scales[c] = lab::device_alloc<__half>(groups * s.n);
      fill_words_kernel<<<1024, 256>>>(qweight[c], size_t{1} * s.k / 8 * s.n, 300 + c);
      fill_words_kernel<<<1024, 256>>>(zeros[c], groups * s.n / 8, 400 + c);
      lab::fill_uniform(scales[c], groups * s.n, 500 + c, 0.001f, 0.002f);
      LAB_LAUNCH_CHECK("fill_gptq");
    }
    const auto packed = [&](int c) {
      ferrum::cuda::PackedIntWeight w;
      w.qweight = qweight[c % copies];
      w.scales = scales[c % copies];
      w.scales_dtype = DType::kF16;
      w.zeros = zeros[c % copies];
      w.bits = 4;
      w.group_size = 128;
      w.k = s.k;
      w.n = s.n;
      return w;
    };
    float* dense_all = lab::device_alloc<float>(size_t{1} * s.n * s.k);
    lab::die_on(ferrum::cuda::launch_gptq_dequantize(packed(0), dense_all, DType::kF32, nullptr), "gptq dequantize");
    reference_kernel<<<dim3(1, kMaxM), kCheckedRows>>>(dense_all, x, ref_d, kMaxM, kCheckedRows, s.k);
    LAB_LAUNCH_CHECK("reference");
    LAB_CHECK(cudaFree(dense_all));
    std::vector<double> ref_all(size_t{kMaxM} * kCheckedRows);
    LAB_CHECK(cudaMemcpy(ref_all.data(), ref_d, ref_all.size() * 8, cudaMemcpyDeviceToHost));
    const size_t bytes = size_t{1} * s.n * s.k / 2 + groups * s.n * (2 + 0.5);
    for (int m : {1, 8, 16, 64, 128, 512}) {
      ensure_scratch(ferrum::cuda::quant_mma_scratch_bytes(m, s.n, s.k, sms));
      const Measure measure{
          "gptq4", s.name, m, s.n, s.k, bytes, copy_gbps, stream, static_cast<bf16_t*>(out_buffer->data()), &ref_all};
      all_ok = measure.report("v0", [&](int c) {
        lab::die_on(ferrum::cuda::launch_gptq_dequantize(packed(c), dense_buffer->data(), DType::kBF16, stream),
                    "v0 dequantize");
        lab::die_on(
            ferrum::cuda::run_dense_gemm(ctx, {x, DType::kBF16, dense_buffer->data(), DType::kBF16, out_buffer->data(),
                                               DType::kBF16, size_t(m), size_t(s.n), size_t(s.k)}),
            "v0 gemm");
      }) && all_ok;
      const auto packed_gemm = [&](const char* name, ferrum::cuda::QuantMmaKernel kernel) {
        all_ok = measure.report(name, [&](int c) {
          ferrum::cuda::QuantMmaArgs a = base_args(m, s.n, s.k);
          a.kernel = kernel;
          lab::die_on(ferrum::cuda::launch_quant_mma_packed(a, packed(c), false, stream), name);
        }) && all_ok;
      };
      packed_gemm("v2", ferrum::cuda::QuantMmaKernel::kSharedTiles);
      packed_gemm("v7", ferrum::cuda::QuantMmaKernel::kFragments);
      if (m > 16) packed_gemm("v8", ferrum::cuda::QuantMmaKernel::kWgmma);
      if (m == 1) {
        // gemv: x rounded in its own launch; gemv-r: x rounded ahead (as a norm writes it), so the GEMV
        // is the only launch. (A gemv2, two chunks per warp step, lost 2-17%: lab/NOTES.md.)
        ensure_scratch(ferrum::cuda::packed_gemv_scratch_bytes(packed(0), false, sms));
        LAB_CHECK(cudaMemset(x_rounded, 0, ferrum::cuda::rounded_rows_bytes(1, s.k)));
        lab::die_on(ferrum::cuda::launch_round_rows(x, DType::kBF16, 1, s.k, x_rounded, stream), "round x");
        for (const bool ahead : {false, true}) {
          all_ok = measure.report(ahead ? "gemv-r" : "gemv", [&](int c) {
            ferrum::cuda::QuantMmaArgs a = base_args(1, s.n, s.k);
            a.x_rounded = ahead ? x_rounded : nullptr;
            lab::die_on(ferrum::cuda::launch_packed_gemv(a, packed(c), false, stream, gemv_counters), "gptq gemv");
          }) && all_ok;
        }
      }
    }
    for (int c = 0; c < copies; ++c) {
      LAB_CHECK(cudaFree(qweight[c]));
      LAB_CHECK(cudaFree(zeros[c]));
      LAB_CHECK(cudaFree(scales[c]));
    }
  }
  LAB_CHECK(cudaFree(gemv_counters));
  LAB_CHECK(cudaFree(x_rounded));
  std::printf("quant mma lab: %s\n", all_ok ? "all versions correct" : "SOME VERSIONS FAILED");
  return all_ok ? 0 : 1;
}
