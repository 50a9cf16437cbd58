// GPTQ GEMV at batch 1 (see packed_gemv.h).
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/launch.cuh"
#include "backend/cuda/kernels/packed_gemv.h"

namespace ferrum::cuda {
namespace {

constexpr int kWarps = 8;     // split k
constexpr int kColumns = 32;  // a lane per output column

// x[k0 .. k0 + kCount) as floats; the same addresses for every lane, so each load is a broadcast.
template <int kCount, class X>
__device__ __forceinline__ void load_x(const X* x, int k0, float (&values)[kCount]) {
  if constexpr (kCount % 8 == 0) {
#pragma unroll
    for (int i = 0; i < kCount; i += 8) load8(x + k0 + i, *reinterpret_cast<float(*)[8]>(values + i));
  } else {
#pragma unroll
    for (int i = 0; i < kCount; ++i) values[i] = to_f32(x[k0 + i]);
  }
}

template <int kBits, class Scale, class X>
__global__ void __launch_bounds__(kWarps * 32)
    gptq_gemv_kernel(PackedIntWeight w, const Scale* __restrict__ scales, const X* __restrict__ x,
                     void* __restrict__ out, DType out_dtype) {
  constexpr int kPerWord = 32 / kBits;
  constexpr uint32_t kMask = (1u << kBits) - 1;
  __shared__ float partial[kWarps][kColumns];
  pdl_launch_dependents();
  pdl_wait();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int n = static_cast<int>(w.n), column = blockIdx.x * kColumns + lane;
  const int words = static_cast<int>(w.k) / kPerWord;
  const int per_warp = (words + kWarps - 1) / kWarps;
  const int begin = warp * per_warp, end = min(begin + per_warp, words);
  float total = 0.0f;
  if (column < n) {
    for (int row = begin; row < end; ++row) {
      const int k0 = row * kPerWord;
      const size_t g = static_cast<size_t>(k0) / w.group_size;
      const uint32_t word = static_cast<uint32_t>(w.qweight[static_cast<size_t>(row) * n + column]);
      const uint32_t zero_word = static_cast<uint32_t>(w.zeros[g * (n / kPerWord) + column / kPerWord]);
      // GPTQ v1 checkpoints store each zero minus one.
      const float zero = static_cast<float>(((zero_word >> (kBits * (column % kPerWord))) & kMask) + 1);
      float xs[kPerWord];
      load_x<kPerWord>(x, k0, xs);
      float dot = 0.0f;  // sum of (q - zero) x over the word: exact integers times x
#pragma unroll
      for (int e = 0; e < kPerWord; ++e) {
        dot = fmaf(small_int_to_float((word >> (kBits * e)) & kMask) - zero, xs[e], dot);
      }
      total = fmaf(to_f32(scales[g * n + column]), dot, total);
    }
  }
  partial[warp][lane] = total;
  __syncthreads();
  if (warp != 0 || column >= n) return;
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < kWarps; ++i) sum += partial[i][lane];
  switch (out_dtype) {
    case DType::kF16: static_cast<f16_t*>(out)[column] = __float2half_rn(sum); break;
    case DType::kBF16: static_cast<bf16_t*>(out)[column] = __float2bfloat16_rn(sum); break;
    default: static_cast<float*>(out)[column] = sum; break;
  }
}

template <class Scale, class X>
Status launch_bits(const PackedIntWeight& w, const X* x, void* out, DType out_dtype, cudaStream_t stream) {
  const dim3 grid(ceil_div(w.n, kColumns)), block(kWarps * 32);
  const auto* scales = static_cast<const Scale*>(w.scales);
  switch (w.bits) {
    case 2:
      return launch_kernel("gemm_quant(gptq gemv)", gptq_gemv_kernel<2, Scale, X>, grid, block, 0, stream, w, scales, x,
                           out, out_dtype);
    case 4:
      return launch_kernel("gemm_quant(gptq gemv)", gptq_gemv_kernel<4, Scale, X>, grid, block, 0, stream, w, scales, x,
                           out, out_dtype);
    default:
      return launch_kernel("gemm_quant(gptq gemv)", gptq_gemv_kernel<8, Scale, X>, grid, block, 0, stream, w, scales, x,
                           out, out_dtype);
  }
}

}  // namespace

bool packed_gemv_supports(const PackedIntWeight& w, DType x_dtype, const void* x) {
  const bool float_x = x_dtype == DType::kF32 || x_dtype == DType::kBF16 || x_dtype == DType::kF16;
  const bool float_scales =
      w.scales_dtype == DType::kF32 || w.scales_dtype == DType::kBF16 || w.scales_dtype == DType::kF16;
  return (w.bits == 2 || w.bits == 4 || w.bits == 8) && w.g_idx == nullptr && w.group_size > 0 &&
         w.group_size % 32 == 0 && w.k % 32 == 0 && w.n % (32 / w.bits) == 0 && w.n > 0 && w.n < (size_t{1} << 30) &&
         w.k < (size_t{1} << 30) && float_x && float_scales && is_aligned(x, 16);
}

Status launch_packed_gemv(const PackedIntWeight& w, const void* x, DType x_dtype, void* out, DType out_dtype,
                          cudaStream_t stream) {
  FERRUM_CHECK(packed_gemv_supports(w, x_dtype, x), ErrorCode::kInternal, "gptq gemv: unsupported weight or x");
  FERRUM_DISPATCH_FLOAT(w.scales_dtype, Scale, "gptq gemv (scales)",
                        FERRUM_DISPATCH_FLOAT(x_dtype, X, "gptq gemv (x)", {
                          FERRUM_TRY((launch_bits<Scale, X>(w, static_cast<const X*>(x), out, out_dtype, stream)));
                        }));
  return ok();
}

}  // namespace ferrum::cuda
