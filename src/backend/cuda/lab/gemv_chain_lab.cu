// GEMV lab, steady state: the m = 1 GEMVs of a decode step as they really run, back to back in a
// CUDA graph, each launch on a different weight copy (more bytes than 4x L2, so nothing is served
// from cache). gemv_lab.cu times one launch between events, which charges every small matrix the
// launch latency and a cold ramp; in a decode graph what counts is the time per kernel in a chain,
// where programmatic dependent launch (PDL) can overlap one kernel's ramp with the previous tail.
//
// Floor: bytes of the weights / the measured copy bandwidth (a pure read stream may beat a copy).
// Versions (all 1 weight row per warp, 16-byte loads, f32 accumulation, checked against f64):
//   c1w8   1 chunk (16 B) per lane in flight, 8 warps a block: the shipped shape (gemv.cuh v6)
//   c2w8   2 chunks in flight: twice the bytes in flight per warp
//   c4w8   4 chunks in flight
//   c2w4   2 chunks, 4 warps a block: twice the blocks, finer tail
//   c4w4   4 chunks, 4 warps a block
//   split2 2 warps per row (each half of k) for the long down_proj rows: twice the warps in flight
//   early  the first step's weight loads issued before waiting on the previous kernel (PDL; run 3:
//          no gain, so those versions left the table; the kernel keeps the switch)
//   splitN cM wK  N warps per row, M chunks in flight, K warps a block (run 3 kept split2 c2w8)
// each with and without PDL. The last table chains a whole layer (qkv, o, gate_up, down, with a
// one-block kernel standing in for each norm between them) over 16 layers of distinct weights.
#include <cstdio>
#include <string>
#include <vector>

#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/launch.cuh"
#include "lab_common.cuh"

namespace {

using ferrum::cuda::bf16_t;

// The version under test: kWarps rows per block (one per warp, or one per kSplit warps), kChunks
// 16-byte weight loads per lane issued before any is used.
template <int kWarps, int kChunks, int kSplit, bool kEarly = false>
__global__ void __launch_bounds__(kWarps * 32)
    gemv_chain_kernel(const bf16_t* __restrict__ x, const bf16_t* __restrict__ w, bf16_t* __restrict__ out, int n,
                      int k) {
  ferrum::cuda::pdl_launch_dependents();
  if constexpr (!kEarly) ferrum::cuda::pdl_wait();
  __shared__ float partial[kWarps];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row = blockIdx.x * (kWarps / kSplit) + warp / kSplit;
  const int part = warp % kSplit;
  float acc = 0.0f;
  const int chunks = k / 8;
  const int per_part = chunks / kSplit;
  const int begin = part * per_part, end = part + 1 == kSplit ? chunks : begin + per_part;
  const bf16_t* w_row = w + static_cast<size_t>(row < n ? row : 0) * k;
  ferrum::cuda::Packed8<bf16_t> weights[kChunks];
  // The first step's weight loads do not depend on the previous kernel: with kEarly they are
  // issued before waiting for it, so they are in flight during its tail.
  const auto load_step = [&](int base) {
#pragma unroll
    for (int u = 0; u < kChunks; ++u) {
      const int chunk = base + u * 32 + lane;
      if (chunk < end && row < n) {
        weights[u].load(w_row + chunk * 8);
      } else {
        weights[u].clear();
      }
    }
  };
  load_step(begin);
  if constexpr (kEarly) ferrum::cuda::pdl_wait();
  if (row < n) {
    for (int base = begin; base < end; base += 32 * kChunks) {
      if (base != begin) load_step(base);
#pragma unroll
      for (int u = 0; u < kChunks; ++u) {
        const int chunk = base + u * 32 + lane;
        if (chunk >= end) break;
        float xs[8];
        ferrum::cuda::load8(x + chunk * 8, xs);
#pragma unroll
        for (int i = 0; i < 8; ++i) acc = fmaf(weights[u][i], xs[i], acc);
      }
    }
  }
  acc = ferrum::cuda::warp_sum(acc);
  if constexpr (kSplit == 1) {
    if (lane == 0 && row < n) out[row] = __float2bfloat16_rn(acc);
  } else {
    if (lane == 0) partial[warp] = acc;
    __syncthreads();
    if (lane == 0 && part == 0 && row < n) {
      float total = 0.0f;
      for (int p = 0; p < kSplit; ++p) total += partial[warp + p];
      out[row] = __float2bfloat16_rn(total);
    }
  }
}

// Stands in for a norm between GEMVs: one block, reads the previous output, writes the next input.
__global__ void norm_stand_in_kernel(const bf16_t* in, bf16_t* out, int n) {
  ferrum::cuda::pdl_launch_dependents();
  ferrum::cuda::pdl_wait();
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = in[i % n];
}

__global__ void gemv_reference(const bf16_t* x, const bf16_t* w, double* out, int n, int k) {
  const int row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= n) return;
  double acc = 0;
  for (int i = 0; i < k; ++i) acc += double(__bfloat162float(w[size_t{1} * row * k + i])) * __bfloat162float(x[i]);
  out[row] = acc;
}

using Launch = void (*)(const bf16_t*, const bf16_t*, bf16_t*, int, int, cudaStream_t, bool);

template <int kWarps, int kChunks, int kSplit, bool kEarly = false>
void launch(const bf16_t* x, const bf16_t* w, bf16_t* out, int n, int k, cudaStream_t stream, bool pdl) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3((n + kWarps / kSplit - 1) / (kWarps / kSplit));
  config.blockDim = dim3(kWarps * 32);
  config.stream = stream;
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = pdl ? 1 : 0;
  LAB_CHECK(cudaLaunchKernelEx(&config, gemv_chain_kernel<kWarps, kChunks, kSplit, kEarly>, x, w, out, n, k));
}

void launch_norm(const bf16_t* in, bf16_t* out, int n, cudaStream_t stream, bool pdl) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(1);
  config.blockDim = dim3(512);
  config.stream = stream;
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = pdl ? 1 : 0;
  LAB_CHECK(cudaLaunchKernelEx(&config, norm_stand_in_kernel, in, out, n));
}

struct Version {
  const char* name;
  Launch launch;
};

const Version kVersions[] = {
    {"c1w8", launch<8, 1, 1>},        {"c2w8", launch<8, 2, 1>},        {"c4w8", launch<8, 4, 1>},
    {"c2w4", launch<4, 2, 1>},        {"c4w4", launch<4, 4, 1>},        {"split2 c2w8", launch<8, 2, 2>},
    {"split2 c1w8", launch<8, 1, 2>}, {"split2 c4w8", launch<8, 4, 2>}, {"split4 c1w8", launch<8, 1, 4>},
    {"split4 c2w8", launch<8, 2, 4>}, {"split2 c2w4", launch<4, 2, 2>}, {"split4 c2w16", launch<16, 2, 4>},
};

struct Shape {
  const char* name;
  int n, k;
};

// Median time of one replay of `graph`, in microseconds.
double time_graph_us(cudaGraphExec_t graph, cudaStream_t stream) {
  return lab::time_us([&](int) { LAB_CHECK(cudaGraphLaunch(graph, stream)); }, 3, 15);
}

}  // namespace

int main() {
  lab::print_device_banner("gemv chain lab (bf16, m = 1, CUDA graphs)");
  const double copy_gbps = lab::measure_copy_gbps();
  std::printf("measured device copy bandwidth: %.0f GB/s (read + write)\n", copy_gbps);
  cudaStream_t stream;
  // Blocking, so the timing events recorded on the legacy stream order with it.
  LAB_CHECK(cudaStreamCreate(&stream));
  const Shape shapes[] = {{"qkv 6144x4096", 6144, 4096},
                          {"o_proj 4096x4096", 4096, 4096},
                          {"gate_up 28672x4096", 28672, 4096},
                          {"down 4096x14336", 4096, 14336},
                          {"lm_head 128256x4096", 128256, 4096}};
  bf16_t* x = lab::device_alloc<bf16_t>(14336);
  lab::fill_uniform(x, 14336, 7);
  bf16_t* out = lab::device_alloc<bf16_t>(128256);
  double* ref_d = lab::device_alloc<double>(128256);
  bool all_ok = true;

  std::printf("\n%-14s %-22s %10s %10s %8s %10s\n", "version", "shape (chain of copies)", "us/kernel", "GB/s", "% copy",
              "rel err");
  for (const Shape& s : shapes) {
    const size_t elems = size_t{1} * s.n * s.k;
    const int copies = static_cast<int>(std::max<size_t>(4, (size_t{1600} << 20) / (elems * 2)));
    std::vector<bf16_t*> weights(copies);
    for (int c = 0; c < copies; ++c) {
      weights[c] = lab::device_alloc<bf16_t>(elems);
      lab::fill_uniform(weights[c], elems, 100 + c, -0.05f, 0.05f);
    }
    gemv_reference<<<(s.n + 255) / 256, 256>>>(x, weights[0], ref_d, s.n, s.k);
    std::vector<double> ref(s.n);
    LAB_CHECK(cudaMemcpy(ref.data(), ref_d, ref.size() * 8, cudaMemcpyDeviceToHost));
    for (const Version& v : kVersions) {
      for (bool pdl : {false, true}) {
        lab::poison(out, s.n);
        v.launch(x, weights[0], out, s.n, s.k, stream, pdl);
        LAB_CHECK(cudaStreamSynchronize(stream));
        const lab::Error err = lab::compare(lab::download(out, s.n), ref);
        all_ok = all_ok && !err.has_nan && err.rel_l2 <= 8e-3;
        cudaGraph_t graph;
        LAB_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
        for (int c = 0; c < copies; ++c) v.launch(x, weights[c], out, s.n, s.k, stream, pdl);
        LAB_CHECK(cudaStreamEndCapture(stream, &graph));
        cudaGraphExec_t exec;
        LAB_CHECK(cudaGraphInstantiate(&exec, graph, 0));
        const double us = time_graph_us(exec, stream) / copies;
        const double gbps = 2.0 * elems / us / 1e3;
        std::printf("%-14s %-22s %10.2f %10.0f %7.1f%% %10.2e%s\n", (std::string(v.name) + (pdl ? " pdl" : "")).c_str(),
                    s.name, us, gbps, 100 * gbps / copy_gbps, err.rel_l2, err.rel_l2 <= 8e-3 ? "" : "  FAIL");
        LAB_CHECK(cudaGraphExecDestroy(exec));
        LAB_CHECK(cudaGraphDestroy(graph));
      }
    }
    for (bf16_t* w : weights) LAB_CHECK(cudaFree(w));
  }

  // A whole layer: qkv, norm stand-in, o, norm, gate_up, down, norm; 16 layers of distinct weights.
  const int layers = 16;
  const Shape layer_shapes[] = {
      {"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}};
  std::vector<std::vector<bf16_t*>> layer_weights(layers);
  double layer_bytes = 0;
  for (const Shape& s : layer_shapes) layer_bytes += 2.0 * s.n * s.k;
  for (int l = 0; l < layers; ++l) {
    for (const Shape& s : layer_shapes) {
      bf16_t* w = lab::device_alloc<bf16_t>(size_t{1} * s.n * s.k);
      lab::fill_uniform(w, size_t{1} * s.n * s.k, 1000 + l, -0.05f, 0.05f);
      layer_weights[l].push_back(w);
    }
  }
  bf16_t* act = lab::device_alloc<bf16_t>(28672);
  lab::fill_uniform(act, 28672, 9);
  std::printf("\n%-14s %-22s %10s %10s %8s\n", "version", "layer (16 in a graph)", "us/layer", "GB/s", "% copy");
  for (const Version& v : kVersions) {
    for (bool pdl : {false, true}) {
      cudaGraph_t graph;
      LAB_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
      for (int l = 0; l < layers; ++l) {
        v.launch(x, layer_weights[l][0], out, 6144, 4096, stream, pdl);
        launch_norm(out, act, 4096, stream, pdl);
        v.launch(act, layer_weights[l][1], out, 4096, 4096, stream, pdl);
        launch_norm(out, act, 4096, stream, pdl);
        v.launch(act, layer_weights[l][2], out, 28672, 4096, stream, pdl);
        v.launch(act, layer_weights[l][3], out, 4096, 14336, stream, pdl);
        launch_norm(out, x, 4096, stream, pdl);
      }
      LAB_CHECK(cudaStreamEndCapture(stream, &graph));
      cudaGraphExec_t exec;
      LAB_CHECK(cudaGraphInstantiate(&exec, graph, 0));
      const double us = time_graph_us(exec, stream) / layers;
      const double gbps = layer_bytes / us / 1e3;
      std::printf("%-14s %-22s %10.2f %10.0f %7.1f%%\n", (std::string(v.name) + (pdl ? " pdl" : "")).c_str(),
                  "qkv,o,gate_up,down", us, gbps, 100 * gbps / copy_gbps);
      LAB_CHECK(cudaGraphExecDestroy(exec));
      LAB_CHECK(cudaGraphDestroy(graph));
    }
  }
  std::printf("floor per layer at the copy bandwidth: %.1f us\n", layer_bytes / copy_gbps / 1e3);
  std::printf("gemv chain lab: %s\n", all_ok ? "all versions correct" : "SOME VERSIONS FAILED");
  return all_ok ? 0 : 1;
}
