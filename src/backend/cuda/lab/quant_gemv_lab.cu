// Quantized decode GEMV lab (issue 7): out[n] = x[k] . dequant(w)[n, k] for GGUF Q8_0 and Q4_K
// weights at batch 1, Llama-3.1-8B shapes, back to back in a CUDA graph over weight copies that
// exceed L2 (as gemv_chain_lab.cu does for bf16).
//
// Floor: the quantized bytes / the copy bandwidth. Q8_0 is 34 bytes per 32 weights (8.5 bits),
// Q4_K 144 per 256 (4.5 bits): a bf16 layer's 436 MB becomes 232 MB (Q8_0) or 123 MB (Q4_K).
//
// Versions:
//   v1  what the backend does today: dequantize the whole matrix to bf16 scratch, then the bf16
//       GEMV (reads 1 byte, writes and reads 2 more per weight: slower than bf16 itself)
//   v2  fused, blocks as stored. Q4_K: a super-block's fields are 16-byte aligned (144 = 9 x 16),
//       so a lane takes a 64-weight chunk of a super-block: one 16-byte load of the header (d, dmin,
//       12 packed scale bytes), two of the 32 nibble bytes, the x values, two dot products
//       (low / high nibbles) scaled once per 32 weights. Q8_0's 34-byte blocks are 2-byte aligned:
//       the warp copies the row into shared memory with 16-byte loads, then a lane decodes whole
//       blocks from there.
//   v3  Q8_0 repacked once at load into two arrays, int8 weights [n, k] and f16 scales [n, k / 32]
//       (the same 34 bytes per block): every load is a coalesced 16-byte load, no staging.
//   dp4a  x quantized once to int8 per 32 values (scale, and the exact sum for Q4_K's minimum term);
//       the dot products become dp4a (four int8 products per instruction) instead of a float
//       conversion and an FMA per weight: Q4_K v3 (blocks in place), Q8_0 v4 (repacked). Their
//       bound is 2e-2 (x's rounding), the float versions' 8e-3.
// Every version's output is f32, checked against an f64 dot over the dequantized weights.
#include <cuda_fp16.h>

#include <cstdio>
#include <string>
#include <vector>

#include "backend/cuda/kernels/dequant.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/gemv.h"
#include "backend/cuda/kernels/gguf_decode.cuh"
#include "lab_common.cuh"

namespace {

using ferrum::DType;
using ferrum::cuda::bf16_t;

constexpr int kWarps = 8;

// ── Reference ──

__global__ void dot_reference(const float* w, const bf16_t* x, double* out, int n, int k) {
  const int row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= n) return;
  double acc = 0;
  for (int i = 0; i < k; ++i) acc += double(w[size_t{1} * row * k + i]) * double(__bfloat162float(x[i]));
  out[row] = acc;
}

// ── v2: Q4_K fused, blocks as stored ──

// A lane per 64-weight chunk (4 per super-block): q = nibbles, sub-block 2c (low) and 2c + 1 (high).
__global__ void __launch_bounds__(kWarps * 32)
    q4k_fused_kernel(const uint8_t* __restrict__ w, const bf16_t* __restrict__ x, float* __restrict__ out, int n,
                     int k) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= n) return;
  const int blocks = k / 256;
  const uint8_t* w_row = w + static_cast<size_t>(row) * blocks * 144;
  float acc = 0.0f;
  for (int item = lane; item < blocks * 4; item += 32) {
    const int block = item / 4, chunk = item % 4;
    const uint8_t* b = w_row + block * 144;
    const uint4 header = __ldg(reinterpret_cast<const uint4*>(b));
    const uint4 q_lo = __ldg(reinterpret_cast<const uint4*>(b + 16 + chunk * 32));
    const uint4 q_hi = __ldg(reinterpret_cast<const uint4*>(b + 16 + chunk * 32 + 16));
    const uint8_t* head = reinterpret_cast<const uint8_t*>(&header);
    const float d = __half2float(__ushort_as_half(static_cast<unsigned short>(head[0] | (head[1] << 8))));
    const float dmin = __half2float(__ushort_as_half(static_cast<unsigned short>(head[2] | (head[3] << 8))));
    int scale_lo, min_lo, scale_hi, min_hi;
    ferrum::cuda::k4_scale_min(head + 4, chunk * 2, scale_lo, min_lo);
    ferrum::cuda::k4_scale_min(head + 4, chunk * 2 + 1, scale_hi, min_hi);
    const uint8_t* qs[2] = {reinterpret_cast<const uint8_t*>(&q_lo), reinterpret_cast<const uint8_t*>(&q_hi)};
    const bf16_t* xs = x + block * 256 + chunk * 64;
    float dot_lo = 0.0f, dot_hi = 0.0f, sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float x_lo[16], x_hi[16];
      ferrum::cuda::load8(xs + half * 16, *reinterpret_cast<float(*)[8]>(x_lo));
      ferrum::cuda::load8(xs + half * 16 + 8, *reinterpret_cast<float(*)[8]>(x_lo + 8));
      ferrum::cuda::load8(xs + 32 + half * 16, *reinterpret_cast<float(*)[8]>(x_hi));
      ferrum::cuda::load8(xs + 32 + half * 16 + 8, *reinterpret_cast<float(*)[8]>(x_hi + 8));
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        const uint8_t byte = qs[half][i];
        dot_lo = fmaf(static_cast<float>(byte & 0xF), x_lo[i], dot_lo);
        dot_hi = fmaf(static_cast<float>(byte >> 4), x_hi[i], dot_hi);
        sum_lo += x_lo[i];
        sum_hi += x_hi[i];
      }
    }
    acc += d * (scale_lo * dot_lo + scale_hi * dot_hi) - dmin * (min_lo * sum_lo + min_hi * sum_hi);
  }
  acc = ferrum::cuda::warp_sum(acc);
  if (lane == 0) out[row] = acc;
}

// ── v2: Q8_0 fused, blocks as stored, row staged in shared memory ──

__global__ void __launch_bounds__(kWarps * 32)
    q80_staged_kernel(const uint8_t* __restrict__ w, const bf16_t* __restrict__ x, float* __restrict__ out, int n,
                      int k) {
  extern __shared__ uint4 staged[];  // kWarps rows of k / 32 * 34 bytes, each padded to 16
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row = blockIdx.x * kWarps + warp;
  const int blocks = k / 32;
  const int row_bytes = blocks * 34;
  const int row_vectors = (row_bytes + 15) / 16;
  uint4* mine = staged + warp * row_vectors;
  if (row >= n) return;
  const uint4* src = reinterpret_cast<const uint4*>(w + static_cast<size_t>(row) * row_bytes);
  for (int i = lane; i < row_vectors; i += 32) mine[i] = __ldg(src + i);
  __syncwarp();
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(mine);
  float acc = 0.0f;
  for (int block = lane; block < blocks; block += 32) {
    const uint8_t* b = bytes + block * 34;
    const float d = __half2float(__ushort_as_half(*reinterpret_cast<const unsigned short*>(b)));
    const bf16_t* xs = x + block * 32;
    float dot = 0.0f;
#pragma unroll
    for (int j = 0; j < 32; j += 8) {
      float xv[8];
      ferrum::cuda::load8(xs + j, xv);
#pragma unroll
      for (int i = 0; i < 8; ++i) dot = fmaf(static_cast<float>(static_cast<int8_t>(b[2 + j + i])), xv[i], dot);
    }
    acc = fmaf(d, dot, acc);
  }
  acc = ferrum::cuda::warp_sum(acc);
  if (lane == 0) out[row] = acc;
}

// ── v3: Q8_0 repacked: int8 [n, k] and f16 scales [n, k / 32] ──

__global__ void q80_repack_kernel(const uint8_t* w, int8_t* qs, __half* scales, size_t blocks) {
  for (size_t b = blockIdx.x * size_t{blockDim.x} + threadIdx.x; b < blocks; b += size_t{gridDim.x} * blockDim.x) {
    const uint8_t* block = w + b * 34;
    scales[b] = __ushort_as_half(static_cast<unsigned short>(block[0] | (block[1] << 8)));
    for (int i = 0; i < 32; ++i) qs[b * 32 + i] = static_cast<int8_t>(block[2 + i]);
  }
}

// A lane per 16 weights (one 16-byte load), half a block.
__global__ void __launch_bounds__(kWarps * 32)
    q80_repacked_kernel(const int8_t* __restrict__ qs, const __half* __restrict__ scales, const bf16_t* __restrict__ x,
                        float* __restrict__ out, int n, int k) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= n) return;
  const int8_t* q_row = qs + static_cast<size_t>(row) * k;
  const __half* s_row = scales + static_cast<size_t>(row) * (k / 32);
  float acc = 0.0f;
  for (int c = lane; c < k / 16; c += 32) {
    const uint4 raw = __ldg(reinterpret_cast<const uint4*>(q_row + c * 16));
    const int8_t* q = reinterpret_cast<const int8_t*>(&raw);
    float xv[16];
    ferrum::cuda::load8(x + c * 16, *reinterpret_cast<float(*)[8]>(xv));
    ferrum::cuda::load8(x + c * 16 + 8, *reinterpret_cast<float(*)[8]>(xv + 8));
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < 16; ++i) dot = fmaf(static_cast<float>(q[i]), xv[i], dot);
    acc = fmaf(__half2float(s_row[c / 2]), dot, acc);
  }
  acc = ferrum::cuda::warp_sum(acc);
  if (lane == 0) out[row] = acc;
}

// ── v3 / v4: integer dot products against x quantized once to int8 per 32 values ──

// x [k] -> xq int8 [k], per 32 values the scale (max |x| / 127) and the exact sum of x (the Q4_K
// minimum term multiplies it). One warp per 32 values. The backend would fold this into the kernel
// that produces x (the norm or the activation), so the lab times the GEMV alone.
__global__ void quantize_x_kernel(const bf16_t* __restrict__ x, int8_t* __restrict__ xq, float* __restrict__ scale,
                                  float* __restrict__ sum, int k) {
  const int group = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (group * 32 >= k) return;
  const float v = __bfloat162float(x[group * 32 + lane]);
  const float amax = ferrum::cuda::warp_max(fabsf(v));
  const float s = amax > 0.0f ? amax / 127.0f : 1.0f;
  xq[group * 32 + lane] = static_cast<int8_t>(__float2int_rn(v / s));
  const float total = ferrum::cuda::warp_sum(v);
  if (lane == 0) {
    scale[group] = s;
    sum[group] = total;
  }
}

// Q4_K, blocks as stored, dp4a: a lane per 64-weight chunk; the 32 nibble bytes give the low
// sub-block (byte & 0x0F) and the high one (byte >> 4) as packed int8 words.
__global__ void __launch_bounds__(kWarps * 32)
    q4k_dp4a_kernel(const uint8_t* __restrict__ w, const int8_t* __restrict__ xq, const float* __restrict__ xs,
                    const float* __restrict__ xsum, float* __restrict__ out, int n, int k) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= n) return;
  const int blocks = k / 256;
  const uint8_t* w_row = w + static_cast<size_t>(row) * blocks * 144;
  float acc = 0.0f;
  for (int item = lane; item < blocks * 4; item += 32) {
    const int block = item / 4, chunk = item % 4;
    const uint8_t* b = w_row + block * 144;
    const uint4 header = __ldg(reinterpret_cast<const uint4*>(b));
    const uint4 q0 = __ldg(reinterpret_cast<const uint4*>(b + 16 + chunk * 32));
    const uint4 q1 = __ldg(reinterpret_cast<const uint4*>(b + 16 + chunk * 32 + 16));
    const int sub = block * 8 + chunk * 2;  // x's 32-value group of the low sub-block
    const int4* x4 = reinterpret_cast<const int4*>(xq + sub * 32);
    const int4 l0 = x4[0], l1 = x4[1], h0 = x4[2], h1 = x4[3];  // low sub-block, then high
    const uint32_t words[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
    const int x_low[8] = {l0.x, l0.y, l0.z, l0.w, l1.x, l1.y, l1.z, l1.w};
    const int x_high[8] = {h0.x, h0.y, h0.z, h0.w, h1.x, h1.y, h1.z, h1.w};
    int dot_lo = 0, dot_hi = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      dot_lo = __dp4a(static_cast<int>(words[j] & 0x0F0F0F0Fu), x_low[j], dot_lo);
      dot_hi = __dp4a(static_cast<int>((words[j] >> 4) & 0x0F0F0F0Fu), x_high[j], dot_hi);
    }
    const uint8_t* head = reinterpret_cast<const uint8_t*>(&header);
    const float d = __half2float(__ushort_as_half(static_cast<unsigned short>(head[0] | (head[1] << 8))));
    const float dmin = __half2float(__ushort_as_half(static_cast<unsigned short>(head[2] | (head[3] << 8))));
    int scale_lo, min_lo, scale_hi, min_hi;
    ferrum::cuda::k4_scale_min(head + 4, chunk * 2, scale_lo, min_lo);
    ferrum::cuda::k4_scale_min(head + 4, chunk * 2 + 1, scale_hi, min_hi);
    acc += d * (scale_lo * xs[sub] * dot_lo + scale_hi * xs[sub + 1] * dot_hi) -
           dmin * (min_lo * xsum[sub] + min_hi * xsum[sub + 1]);
  }
  acc = ferrum::cuda::warp_sum(acc);
  if (lane == 0) out[row] = acc;
}

// Q8_0 repacked, dp4a: a lane per 32-weight block (two 16-byte loads of weights and of xq).
__global__ void __launch_bounds__(kWarps * 32)
    q80_dp4a_kernel(const int8_t* __restrict__ qs, const __half* __restrict__ scales, const int8_t* __restrict__ xq,
                    const float* __restrict__ xs, float* __restrict__ out, int n, int k) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= n) return;
  const int8_t* q_row = qs + static_cast<size_t>(row) * k;
  const __half* s_row = scales + static_cast<size_t>(row) * (k / 32);
  float acc = 0.0f;
  for (int b = lane; b < k / 32; b += 32) {
    const int4 w0 = __ldg(reinterpret_cast<const int4*>(q_row + b * 32));
    const int4 w1 = __ldg(reinterpret_cast<const int4*>(q_row + b * 32 + 16));
    const int4 x0 = *reinterpret_cast<const int4*>(xq + b * 32);
    const int4 x1 = *reinterpret_cast<const int4*>(xq + b * 32 + 16);
    int dot = __dp4a(w0.x, x0.x, 0);
    dot = __dp4a(w0.y, x0.y, dot);
    dot = __dp4a(w0.z, x0.z, dot);
    dot = __dp4a(w0.w, x0.w, dot);
    dot = __dp4a(w1.x, x1.x, dot);
    dot = __dp4a(w1.y, x1.y, dot);
    dot = __dp4a(w1.z, x1.z, dot);
    dot = __dp4a(w1.w, x1.w, dot);
    acc = fmaf(__half2float(s_row[b]) * xs[b], static_cast<float>(dot), acc);
  }
  acc = ferrum::cuda::warp_sum(acc);
  if (lane == 0) out[row] = acc;
}

struct Shape {
  const char* name;
  int n, k;
};

// Median time of one replay of `graph`, in microseconds.
double time_graph_us(cudaGraphExec_t graph, cudaStream_t stream) {
  return lab::time_us([&](int) { LAB_CHECK(cudaGraphLaunch(graph, stream)); }, 3, 15);
}

template <class Launch>
double time_chain_us(int copies, cudaStream_t stream, Launch launch) {
  cudaGraph_t graph;
  LAB_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  for (int c = 0; c < copies; ++c) launch(c);
  LAB_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec;
  LAB_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  const double us = time_graph_us(exec, stream) / copies;
  LAB_CHECK(cudaGraphExecDestroy(exec));
  LAB_CHECK(cudaGraphDestroy(graph));
  return us;
}

}  // namespace

int main() {
  lab::print_device_banner("quantized GEMV lab (GGUF Q8_0 / Q4_K, m = 1, CUDA graphs)");
  const double copy_gbps = lab::measure_copy_gbps();
  std::printf("measured device copy bandwidth: %.0f GB/s (read + write)\n", copy_gbps);
  cudaStream_t stream;
  LAB_CHECK(cudaStreamCreate(&stream));
  const Shape shapes[] = {{"qkv 6144x4096", 6144, 4096},
                          {"o_proj 4096x4096", 4096, 4096},
                          {"gate_up 28672x4096", 28672, 4096},
                          {"down 4096x14336", 4096, 14336}};
  bf16_t* x = lab::device_alloc<bf16_t>(14336);
  lab::fill_uniform(x, 14336, 7);
  float* out = lab::device_alloc<float>(28672);
  double* ref_d = lab::device_alloc<double>(28672);
  bf16_t* dense = lab::device_alloc<bf16_t>(size_t{28672} * 4096);
  float* dense_f32 = lab::device_alloc<float>(size_t{28672} * 4096);
  // x quantized once (the int8 versions' input); its rounding (1/254 of each 32-group's max) is
  // why those versions get a looser bound below.
  int8_t* xq = lab::device_alloc<int8_t>(14336);
  float* xs = lab::device_alloc<float>(14336 / 32);
  float* xsum = lab::device_alloc<float>(14336 / 32);
  quantize_x_kernel<<<(14336 / 32 + 7) / 8, 256>>>(x, xq, xs, xsum, 14336);
  LAB_LAUNCH_CHECK("quantize_x");
  bool all_ok = true;
  std::printf("\n%-28s %-22s %10s %10s %8s %10s\n", "version", "shape (chain)", "us/kernel", "GB/s", "% copy",
              "rel err");
  for (DType type : {DType::kQ8_0, DType::kQ4_K}) {
    const bool q8 = type == DType::kQ8_0;
    const size_t block_elems = q8 ? 32 : 256, block_bytes = q8 ? 34 : 144;
    for (const Shape& s : shapes) {
      const size_t elems = size_t{1} * s.n * s.k;
      const size_t bytes = elems / block_elems * block_bytes;
      const int copies = static_cast<int>(std::max<size_t>(4, (size_t{1000} << 20) / bytes));
      std::vector<uint8_t*> weights(copies);
      for (int c = 0; c < copies; ++c) {
        weights[c] = lab::device_alloc<uint8_t>(bytes);
        lab::fill_gguf_blocks(weights[c], bytes / block_bytes, static_cast<int>(block_bytes), 0, q8 ? -1 : 2, 100 + c);
      }
      // Reference: dequantized to f32 by the backend's decoder (checked against ggml), f64 dots.
      ferrum::Status status =
          ferrum::cuda::launch_gguf_dequantize(weights[0], type, s.n, s.k, dense_f32, DType::kF32, nullptr);
      if (!status) std::printf("dequantize: %s\n", status.error().to_string().c_str());
      dot_reference<<<(s.n + 255) / 256, 256>>>(dense_f32, x, ref_d, s.n, s.k);
      std::vector<double> ref(s.n);
      LAB_CHECK(cudaMemcpy(ref.data(), ref_d, ref.size() * 8, cudaMemcpyDeviceToHost));
      const std::string type_name = q8 ? "q8_0 " : "q4_k ";
      const auto report = [&](const std::string& name, const std::function<void(int)>& launch) {
        lab::poison(out, s.n);
        launch(0);
        LAB_CHECK(cudaStreamSynchronize(stream));
        const lab::Error err = lab::compare(lab::download(out, s.n), ref);
        const double bound = name.find("dp4a") != std::string::npos ? 2e-2 : 8e-3;
        const bool ok = !err.has_nan && err.rel_l2 <= bound;
        all_ok = all_ok && ok;
        const double us = time_chain_us(copies, stream, launch);
        const double gbps = static_cast<double>(bytes) / us / 1e3;
        std::printf("%-28s %-22s %10.2f %10.0f %7.1f%% %10.2e%s\n", (type_name + name).c_str(), s.name, us, gbps,
                    100 * gbps / copy_gbps, err.rel_l2, ok ? "" : "  FAIL");
      };
      report("v1 dequant + bf16 gemv", [&](int c) {
        ferrum::Status st =
            ferrum::cuda::launch_gguf_dequantize(weights[c], type, s.n, s.k, dense, DType::kBF16, stream);
        const ferrum::cuda::GemvArgs args{x, DType::kBF16, dense,      DType::kBF16, out, DType::kF32,
                                          1, size_t(s.n),  size_t(s.k)};
        const ferrum::Status gemv = st ? ferrum::cuda::launch_gemv(args, stream) : ferrum::ok();
        if (!st || !gemv) std::printf("v1: %s\n", (!st ? st : gemv).error().to_string().c_str());
      });
      const dim3 grid((s.n + kWarps - 1) / kWarps), block(kWarps * 32);
      if (q8) {
        const size_t staged = size_t{kWarps} * ((s.k / 32 * 34 + 15) / 16) * 16;
        LAB_CHECK(cudaFuncSetAttribute(q80_staged_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(staged)));
        report("v2 fused, staged in smem",
               [&](int c) { q80_staged_kernel<<<grid, block, staged, stream>>>(weights[c], x, out, s.n, s.k); });
        std::vector<int8_t*> qs(copies);
        std::vector<__half*> scales(copies);
        for (int c = 0; c < copies; ++c) {
          qs[c] = lab::device_alloc<int8_t>(elems);
          scales[c] = lab::device_alloc<__half>(elems / 32);
          q80_repack_kernel<<<1024, 256>>>(weights[c], qs[c], scales[c], elems / 32);
          LAB_LAUNCH_CHECK("q80_repack");
        }
        report("v3 repacked int8 + scales",
               [&](int c) { q80_repacked_kernel<<<grid, block, 0, stream>>>(qs[c], scales[c], x, out, s.n, s.k); });
        report("v4 repacked, dp4a on int8 x",
               [&](int c) { q80_dp4a_kernel<<<grid, block, 0, stream>>>(qs[c], scales[c], xq, xs, out, s.n, s.k); });
        for (int c = 0; c < copies; ++c) {
          LAB_CHECK(cudaFree(qs[c]));
          LAB_CHECK(cudaFree(scales[c]));
        }
      } else {
        report("v2 fused, blocks in place",
               [&](int c) { q4k_fused_kernel<<<grid, block, 0, stream>>>(weights[c], x, out, s.n, s.k); });
        report("v3 in place, dp4a on int8 x",
               [&](int c) { q4k_dp4a_kernel<<<grid, block, 0, stream>>>(weights[c], xq, xs, xsum, out, s.n, s.k); });
      }
      for (uint8_t* w : weights) LAB_CHECK(cudaFree(w));
    }
  }
  std::printf("quant gemv lab: %s\n", all_ok ? "all versions correct" : "SOME VERSIONS FAILED");
  return all_ok ? 0 : 1;
}
