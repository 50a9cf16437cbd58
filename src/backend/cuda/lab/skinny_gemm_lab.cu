// Skinny bf16 GEMM lab: out[m, n] = x[m, k] @ w[n, k]^T for batched decode (m = 32 and 64), the
// Llama-3.1-8B projections and one tensor-parallel rank's halves of them.
//
// Floor: the weight once, n * k * 2 bytes; at m = 64 the product is 64 flop a weight byte, far
// under the tensor cores' ridge, so every version is memory-bound and the table reports the weight
// stream's GB/s against the copy bandwidth. What ships is cuBLASLt (run_dense_gemm), which streams
// the large shapes at 3.2-3.7 TB/s on an H200 but the halved ones (a rank's q / k / v and o) at
// 2.3-2.5 (bench/results/2026-11-28-h200-dense-mma-ipc-push.md). A kernel of our own that matches it
// could also fetch its weights before the kernel it depends on ends (PDL), which cuBLASLt cannot:
// the way to hide a tensor-parallel sum behind the next projection.
//
//   cublaslt  run_dense_gemm, the backend's path.
//   v1        a CTA per 128 weight rows and a range of k (split to fill two CTAs an SM), 4 warps;
//             a ring of 64-deep stages (the 128 weight rows and the 64 x rows, 16-byte chunks
//             swizzled by row) filled by cp.async, ldmatrix + mma.sync m16n8k16; the tile's sums
//             leave through shared memory, 4 outputs a thread; with a split, vector f32 atomic adds
//             (red.global.add.v4.f32) into an accumulator that the tile's last CTA (a counter)
//             converts to bf16 and zeroes.
//   v2        v1 with 6 stages, one CTA an SM (more bytes in flight per CTA, fewer splits).
//   v3        v1 with 3 stages, three CTAs an SM (more splits).
//   v4, v5    v1, v2 launched with PDL: the first stages' weights requested before the wait for the
//             kernel before. Each version is also timed in chains of calls back to back (a call
//             follows another kernel, as in a decode step), where PDL can overlap them.
//   v6, v7    v4, v5 with a tile's splits (at most 8) as one thread-block cluster, summed through
//             distributed shared memory instead of global atomics.
#include <cooperative_groups.h>

#include <string>

#include "backend/cuda/backend_checks.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/launch.cuh"
#include "backend/cuda/kernels/mma_sm80.cuh"
#include "backend/cuda/lab/lab_common.cuh"

using ferrum::DType;
using ferrum::cuda::bf16_t;

namespace {

constexpr int kTileRows = 128;  // weight rows a CTA
constexpr int kMaxM = 64;       // x rows (padded with zeros)
constexpr int kDepth = 64;      // k a stage
constexpr int kThreads = 128;
constexpr int kStageElems = (kTileRows + kMaxM) * kDepth;

// Element offset of 16-byte chunk `chunk` (0..7) of row `row` in a [rows][64] stage: chunks swizzled
// by the row's low 3 bits, so ldmatrix's 8 rows of one chunk column hit 8 different bank groups.
__device__ __forceinline__ int swizzled(int row, int chunk) {
  return row * kDepth + ((chunk ^ (row & 7)) * 8);
}

template <int kStages, bool kCluster>
__global__ void __launch_bounds__(kThreads)
    skinny_gemm_kernel(const bf16_t* __restrict__ x, const bf16_t* __restrict__ w, bf16_t* __restrict__ out,
                       float* __restrict__ partials, int* __restrict__ counters, int m, int n, int k, int splits) {
  extern __shared__ __align__(128) bf16_t stages[];
  const int tile = blockIdx.x, split = blockIdx.y;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int blocks_total = k / kDepth;
  const int kb_begin = split * blocks_total / splits, kb_end = (split + 1) * blocks_total / splits;
  const int count = kb_end - kb_begin;
  const bf16_t* w_tile = w + size_t{1} * tile * kTileRows * k;

  const auto load_weights = [&](int slot, int kb) {
    bf16_t* sw = stages + slot * kStageElems;
    const int k0 = kb * kDepth;
#pragma unroll
    for (int i = 0; i < kTileRows * 8 / kThreads; ++i) {
      const int id = threadIdx.x + i * kThreads, row = id / 8, chunk = id % 8;
      ferrum::cuda::cp_async_16(sw + swizzled(row, chunk), w_tile + size_t{1} * row * k + k0 + chunk * 8, true);
    }
  };
  const auto load_x = [&](int slot, int kb) {
    bf16_t* sx = stages + slot * kStageElems + kTileRows * kDepth;
    const int k0 = kb * kDepth;
#pragma unroll
    for (int i = 0; i < kMaxM * 8 / kThreads; ++i) {
      const int id = threadIdx.x + i * kThreads, row = id / 8, chunk = id % 8;
      const bool valid = row < m;
      ferrum::cuda::cp_async_16(sx + swizzled(row, chunk), x + size_t{1} * (valid ? row : 0) * k + k0 + chunk * 8,
                                valid);
    }
  };

  float acc[2][8][4] = {};
  const auto compute_stage = [&](int slot) {
    const bf16_t* sw = stages + slot * kStageElems;
    const bf16_t* sx = sw + kTileRows * kDepth;
#pragma unroll
    for (int s = 0; s < kDepth / 16; ++s) {
      uint32_t a[2][4];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) {
        const int row = 32 * warp + 16 * mi + lane % 16;
        ferrum::cuda::ldmatrix_x4(a[mi], sw + swizzled(row, 2 * s + lane / 16));
      }
#pragma unroll
      for (int pair = 0; pair < 4; ++pair) {
        uint32_t b[4];
        const int row = 16 * pair + (lane / 16) * 8 + lane % 8;
        ferrum::cuda::ldmatrix_x4(b, sx + swizzled(row, 2 * s + (lane / 8) % 2));
#pragma unroll
        for (int mi = 0; mi < 2; ++mi) {
          ferrum::cuda::mma_16816<bf16_t>(acc[mi][2 * pair], a[mi], b[0], b[1]);
          ferrum::cuda::mma_16816<bf16_t>(acc[mi][2 * pair + 1], a[mi], b[2], b[3]);
        }
      }
    }
  };

  // The weights depend on no kernel: with PDL the first stages' weights are requested before the
  // wait for the kernel before (which may still be writing x or reading out), the x parts after.
  ferrum::cuda::pdl_launch_dependents();
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) {
    if (i < count) load_weights(i, kb_begin + i);
  }
  ferrum::cuda::pdl_wait();
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) {
    if (i < count) load_x(i, kb_begin + i);
    ferrum::cuda::cp_async_commit();
  }
  for (int i = 0; i < count; ++i) {
    ferrum::cuda::cp_async_wait<kStages - 2>();
    __syncthreads();
    const int next = i + kStages - 1;
    if (next < count) {
      load_weights(next % kStages, kb_begin + next);
      load_x(next % kStages, kb_begin + next);
    }
    ferrum::cuda::cp_async_commit();
    compute_stage(i % kStages);
  }

  // The tile's sums through shared memory (the stages are free now), [x row][weight row], so that
  // each thread then moves 4 consecutive outputs: c0, c1 of the C fragment at (weight row g, x rows
  // 2t, 2t + 1), c2, c3 at weight row g + 8.
  ferrum::cuda::cp_async_wait<0>();
  __syncthreads();
  constexpr int kPitch = kTileRows + 4;
  float* sums = reinterpret_cast<float*>(stages);
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int mi = 0; mi < 2; ++mi) {
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = 32 * warp + 16 * mi + g + (e >= 2 ? 8 : 0), col = 8 * nt + 2 * t + (e & 1);
        sums[col * kPitch + row] = acc[mi][nt][e];
      }
    }
  }
  __syncthreads();
  const int tile_row = tile * kTileRows;
  const auto store_bf16 = [&](int col, int row, float4 v) {
    __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
    uint2 packed;
    packed.x = *reinterpret_cast<uint32_t*>(&lo);
    packed.y = *reinterpret_cast<uint32_t*>(&hi);
    *reinterpret_cast<uint2*>(out + size_t{1} * col * n + tile_row + row) = packed;
  };
  if (splits == 1) {
    for (int i = 4 * threadIdx.x; i < m * kTileRows; i += 4 * kThreads) {
      const int col = i / kTileRows, row = i % kTileRows;
      store_bf16(col, row, *reinterpret_cast<const float4*>(sums + col * kPitch + row));
    }
    return;
  }
  if constexpr (kCluster) {
    // The splits of a tile are one cluster: each CTA sums its share of the tile over every CTA's
    // shared memory (distributed shared memory), and no CTA leaves before all have read.
    namespace cg = cooperative_groups;
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();
    const int share = (m * kTileRows / 4 + splits - 1) / splits * 4;
    const int begin = static_cast<int>(cluster.block_rank()) * share;
    const int end = min(m * kTileRows, begin + share);
    for (int i = begin + 4 * threadIdx.x; i < end; i += 4 * kThreads) {
      const int col = i / kTileRows, row = i % kTileRows;
      float4 total = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      for (int r = 0; r < splits; ++r) {
        const float4 v = *reinterpret_cast<const float4*>(cluster.map_shared_rank(sums, r) + col * kPitch + row);
        total.x += v.x, total.y += v.y, total.z += v.z, total.w += v.w;
      }
      store_bf16(col, row, total);
    }
    cluster.sync();
  } else {
    // Split: add into the f32 accumulator (zero between calls), then the tile's last CTA converts it
    // to bf16 and zeroes it again.
    for (int i = 4 * threadIdx.x; i < m * kTileRows; i += 4 * kThreads) {
      const int col = i / kTileRows, row = i % kTileRows;
      const float4 v = *reinterpret_cast<const float4*>(sums + col * kPitch + row);
      float* target = partials + size_t{1} * col * n + tile_row + row;
      asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(target), "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w)
                   : "memory");
    }
    __threadfence();
    __shared__ int last;
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(counters + tile, 1) == splits - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    for (int i = 4 * threadIdx.x; i < m * kTileRows; i += 4 * kThreads) {
      const int col = i / kTileRows, row = i % kTileRows;
      float4* source = reinterpret_cast<float4*>(partials + size_t{1} * col * n + tile_row + row);
      store_bf16(col, row, __ldcg(source));
      __stcg(source, make_float4(0.0f, 0.0f, 0.0f, 0.0f));
    }
    if (threadIdx.x == 0) counters[tile] = 0;
  }
}

struct Plan {
  int splits;
  dim3 grid;
  size_t shared;
};

template <int kStages>
Plan plan_for(int n, int k, int sms, int ctas_per_sm, int max_splits = 1 << 20) {
  const int tiles = n / kTileRows, blocks_total = k / kDepth;
  int splits = (ctas_per_sm * sms + tiles / 2) / tiles;
  splits = std::max(1, std::min({splits, blocks_total / 2, max_splits}));
  return {splits, dim3(tiles, splits), size_t{kStages} * kStageElems * sizeof(bf16_t)};
}

// With `pdl`, the launch lets the kernel start while the one before it finishes (its weight loads
// then overlap that kernel's tail).
// kCluster: the splits of a tile form one thread-block cluster (at most 8: the portable size).
template <int kStages, bool kCluster = false>
void launch(const bf16_t* x, const bf16_t* w, bf16_t* out, float* partials, int* counters, int m, int n, int k,
            const Plan& p, cudaStream_t stream, bool pdl = false) {
  cudaLaunchConfig_t config{};
  config.gridDim = p.grid;
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = p.shared;
  config.stream = stream;
  cudaLaunchAttribute attributes[2];
  int count = 0;
  if (pdl) {
    attributes[count].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attributes[count++].val.programmaticStreamSerializationAllowed = 1;
  }
  if (kCluster) {
    attributes[count].id = cudaLaunchAttributeClusterDimension;
    attributes[count++].val.clusterDim = {1, static_cast<unsigned>(p.splits), 1};
  }
  config.attrs = attributes;
  config.numAttrs = count;
  LAB_CHECK(cudaLaunchKernelEx(&config, skinny_gemm_kernel<kStages, kCluster>, x, w, out, partials, counters, m, n, k,
                               p.splits));
}

}  // namespace

int main() {
  lab::print_device_banner("skinny GEMM lab (bf16, m = 32, 64)");
  const double copy_gbps = lab::measure_copy_gbps();
  std::printf("measured device copy bandwidth: %.0f GB/s (read + write)\n", copy_gbps);
  auto ctx = ferrum::CudaBackend::new_context();
  const cudaStream_t stream = ctx.stream();
  const int sms = ctx.state().sm_count;
  using Kernel = void (*)(const bf16_t*, const bf16_t*, bf16_t*, float*, int*, int, int, int, int);
  const auto allow_shared = [](Kernel kernel, int stages) {
    LAB_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   stages * kStageElems * static_cast<int>(sizeof(bf16_t))));
  };
  allow_shared(skinny_gemm_kernel<3, false>, 3);
  allow_shared(skinny_gemm_kernel<4, false>, 4);
  allow_shared(skinny_gemm_kernel<6, false>, 6);
  allow_shared(skinny_gemm_kernel<4, true>, 4);
  allow_shared(skinny_gemm_kernel<6, true>, 6);
  const int ms[] = {64, 32};
  float* partials = lab::device_alloc<float>(size_t{kMaxM} * 28672);  // the split accumulator
  LAB_CHECK(cudaMemset(partials, 0, size_t{kMaxM} * 28672 * sizeof(float)));
  int* counters = lab::device_alloc<int>(4096);
  LAB_CHECK(cudaMemset(counters, 0, 4096 * sizeof(int)));
  bool all_ok = true;
  for (const lab::DecodeGemmShape& s : lab::kDecodeGemmShapes) {
    const size_t w_elems = size_t{1} * s.n * s.k;
    const lab::DecodeGemmOperands ops(s, kMaxM);
    bf16_t* x = ops.x;
    bf16_t* out = ops.out;
    for (int m : ms) {
      const std::vector<double> ref = lab::dense_reference(x, ops.weight(0), m, s.n, s.k, ops.ref_scratch);
      const double bytes = 2.0 * w_elems;
      const auto report = [&](const std::string& name, const std::function<void(int)>& call) {
        lab::poison(out, size_t{1} * m * s.n);
        call(0);
        LAB_CHECK(cudaStreamSynchronize(stream));
        LAB_LAUNCH_CHECK(name.c_str());
        const lab::Error err = lab::compare(lab::download(out, size_t{1} * m * s.n), ref);
        const double us = lab::time_us(call, 10, 50, stream);
        const double gbps = bytes / us / 1e3;
        lab::print_row(name, std::string(s.name) + " m=" + std::to_string(m), us, gbps, "GB/s",
                       100.0 * gbps / copy_gbps, err, 8e-3);
        const double chained = lab::chained_us(call, stream);
        std::printf("%-34s %-30s %9.2f us a call back to back (%.1f GB/s)\n", name.c_str(),
                    (std::string(s.name) + " m=" + std::to_string(m)).c_str(), chained, bytes / chained / 1e3);
        all_ok = all_ok && !err.has_nan && err.rel_l2 <= 8e-3;
      };
      report("cublaslt", [&](int i) {
        lab::die_on(ferrum::cuda::run_dense_gemm(ctx, {x, DType::kBF16, ops.weight(i), DType::kBF16, out, DType::kBF16,
                                                       size_t(m), size_t(s.n), size_t(s.k)}),
                    "cublaslt");
      });
      const Plan p4 = plan_for<4>(s.n, s.k, sms, 2);
      report("v1 4 stages, " + std::to_string(p4.splits) + " splits",
             [&](int i) { launch<4>(x, ops.weight(i), out, partials, counters, m, s.n, s.k, p4, stream); });
      const Plan p6 = plan_for<6>(s.n, s.k, sms, 1);
      report("v2 6 stages, " + std::to_string(p6.splits) + " splits",
             [&](int i) { launch<6>(x, ops.weight(i), out, partials, counters, m, s.n, s.k, p6, stream); });
      const Plan p3 = plan_for<3>(s.n, s.k, sms, 3);
      report("v3 3 stages, " + std::to_string(p3.splits) + " splits",
             [&](int i) { launch<3>(x, ops.weight(i), out, partials, counters, m, s.n, s.k, p3, stream); });
      report("v4 = v1 with PDL",
             [&](int i) { launch<4>(x, ops.weight(i), out, partials, counters, m, s.n, s.k, p4, stream, true); });
      report("v5 = v2 with PDL",
             [&](int i) { launch<6>(x, ops.weight(i), out, partials, counters, m, s.n, s.k, p6, stream, true); });
      const Plan p4c = plan_for<4>(s.n, s.k, sms, 2, 8);
      report("v6 v4, cluster sums, " + std::to_string(p4c.splits) + " splits", [&](int i) {
        launch<4, true>(x, ops.weight(i), out, partials, counters, m, s.n, s.k, p4c, stream, true);
      });
      const Plan p6c = plan_for<6>(s.n, s.k, sms, 1, 8);
      report("v7 v5, cluster sums, " + std::to_string(p6c.splits) + " splits", [&](int i) {
        launch<6, true>(x, ops.weight(i), out, partials, counters, m, s.n, s.k, p6c, stream, true);
      });
    }
  }
  std::printf("skinny gemm lab: %s\n", all_ok ? "all versions correct" : "SOME VERSIONS FAILED");
  return all_ok ? 0 : 1;
}
