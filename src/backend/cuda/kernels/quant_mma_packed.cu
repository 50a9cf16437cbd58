// The tensor-core GEMM (quant_mma_kernel.cuh) over GPTQ and AWQ weights as their checkpoints pack
// them: no repacking at load. A thread decodes 32 consecutive k of one output column per task;
// consecutive threads take consecutive columns, so GPTQ's words ([k / per_word, n]), the scales and
// the zeros ([groups, n]) are read coalesced. AWQ ([k, n / 8]) reads one word per k, shared by eight
// neighbouring columns.
#include "backend/cuda/kernels/launch_settings.h"
#include "backend/cuda/kernels/packed_int.cuh"
#include "backend/cuda/kernels/quant_mma_kernel.cuh"

namespace ferrum::cuda {
namespace {

using namespace quant_mma;  // NOLINT(google-build-using-namespace): the kernel's building blocks

template <bool kAwq, int kBits, class Scale, int kWarps>
struct PackedTiles {
  static constexpr int kThreads = kWarps * 32, kTileRows = kWarps * 16;
  struct Raw {};

  const int32_t* __restrict__ qweight;
  const Scale* __restrict__ scales;
  const int32_t* __restrict__ zeros;
  int group_size, n, k, row0;

  __device__ __forceinline__ Raw fetch(int) const { return {}; }
  __device__ __forceinline__ void prefetch(int) const {}

  __device__ __forceinline__ void store(const Raw&, int slice, bf16_t* tile) const {
#pragma unroll
    for (int i = 0; i < kTileRows * kSliceGroups / kThreads; ++i) {
      const int task = threadIdx.x + i * kThreads;
      const int r = task % kTileRows, group = task / kTileRows;
      const int column = row0 + r, depth = slice * kSlice + group * 32;
      float v[32];
      if (column < n && depth < k) {
        decode(column, depth, v);
      } else {
#pragma unroll
        for (int j = 0; j < 32; ++j) v[j] = 0.0f;
      }
      store_group(v, tile + r * kPitch + group * 32);
    }
  }

  __device__ __forceinline__ void decode(int column, int depth, float (&v)[32]) const {
    decode_packed_group<kAwq, kBits>(qweight, scales, zeros, group_size, n, column, depth, v);
  }
};

template <bool kAwq, int kBits, class Scale>
Status launch_packed(const QuantMmaArgs& args, const PackedIntWeight& packed, const SplitPlan& plan,
                     cudaStream_t stream) {
  const auto tiles_for = [&]<int kWarps>() {
    return PackedTiles<kAwq, kBits, Scale, kWarps>{packed.qweight,
                                                   static_cast<const Scale*>(packed.scales),
                                                   packed.zeros,
                                                   static_cast<int>(packed.group_size),
                                                   static_cast<int>(args.n),
                                                   static_cast<int>(args.k),
                                                   0};
  };
  if (plan.tokens == kSmallTokens && plan.warps == 4) {
    return launch_mma_tiles<PackedTiles<kAwq, kBits, Scale, 4>, kSmallTokens, 4>(
        args, tiles_for.template operator()<4>(), plan, stream);
  }
  FERRUM_CHECK(plan.tokens == kLargeTokens && plan.warps == 8, ErrorCode::kUnsupported,
               "quant_mma (GPTQ / AWQ): ", plan.warps, " warps with ", plan.tokens, " tokens is not built");
  return launch_mma_tiles<PackedTiles<kAwq, kBits, Scale, 8>, kLargeTokens, 8>(args, tiles_for.template operator()<8>(),
                                                                               plan, stream);
}

template <class Scale>
Status launch_bits(const QuantMmaArgs& args, const PackedIntWeight& packed, bool awq, const SplitPlan& plan,
                   cudaStream_t stream) {
  if (awq) return launch_packed<true, 4, Scale>(args, packed, plan, stream);
  switch (packed.bits) {
    case 2: return launch_packed<false, 2, Scale>(args, packed, plan, stream);
    case 4: return launch_packed<false, 4, Scale>(args, packed, plan, stream);
    default: return launch_packed<false, 8, Scale>(args, packed, plan, stream);
  }
}

}  // namespace

bool quant_mma_supports_packed(const PackedIntWeight& packed, bool awq, DType x_dtype, const void* x, size_t m) {
  if (awq && !awq_mma_enabled()) return false;
  const bool bits_ok = awq ? packed.bits == 4 : packed.bits == 2 || packed.bits == 4 || packed.bits == 8;
  const bool scales_ok =
      packed.scales_dtype == DType::kF32 || packed.scales_dtype == DType::kF16 || packed.scales_dtype == DType::kBF16;
  return bits_ok && scales_ok && packed.g_idx == nullptr && packed.group_size > 0 && packed.group_size % 32 == 0 &&
         packed.n % 8 == 0 && quant_mma::takes_shape(x_dtype, x, m, packed.n, packed.k);
}

Status launch_quant_mma_packed(const QuantMmaArgs& args, const PackedIntWeight& packed, bool awq, cudaStream_t stream) {
  FERRUM_CHECK(
      quant_mma_supports_packed(packed, awq, args.x_dtype, args.x, args.m) && args.n == packed.n && args.k == packed.k,
      ErrorCode::kInternal, "quant_mma: this GPTQ / AWQ weight has no tensor-core path");
  SplitPlan plan = plan_split(args.m, args.n, args.k, args.num_sms, 0);
  FERRUM_TRY(check_split_scratch(args, plan));
  FERRUM_DISPATCH_FLOAT(packed.scales_dtype, Scale, "quant_mma (scales)",
                        FERRUM_TRY(launch_bits<Scale>(args, packed, awq, plan, stream)));
  return finish_split(args, plan, stream);
}

}  // namespace ferrum::cuda
