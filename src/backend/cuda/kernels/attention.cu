#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention.h"
#include "backend/cuda/kernels/attention_split_kv.cuh"
#include "backend/cuda/kernels/flash_attention.cuh"

namespace ferrum::cuda {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

// How the split-KV launch is shaped for one problem.
struct SplitKvShape {
  int rows_per_block = 8;
  int dv_per_lane = 4;
  int row_blocks = 1;
  int num_splits = 1;
  size_t total_rows = 0;
};

SplitKvShape split_kv_shape(const AttentionProblem& a, int sm_count) {
  SplitKvShape shape;
  shape.dv_per_lane = a.dv <= 128 ? 4 : a.dv <= 256 ? 8 : 16;
  shape.rows_per_block = shape.dv_per_lane == 16 ? 4 : 8;
  const size_t group = a.heads / a.kv_heads;
  shape.row_blocks = static_cast<int>((group * a.q_len + shape.rows_per_block - 1) / shape.rows_per_block);
  shape.total_rows = a.batch * a.heads * a.q_len;
  // Enough blocks for two waves; each split keeps at least 256 keys so the combine stays cheap.
  // In device-state mode kv_len grows after capture, so size for the whole cache.
  const size_t keys = a.dyn_state != nullptr ? a.kv_stride : a.kv_len;
  const size_t base_blocks = a.batch * a.kv_heads * shape.row_blocks;
  const size_t wanted = (2 * static_cast<size_t>(sm_count) + base_blocks - 1) / base_blocks;
  const size_t max_by_keys = std::max<size_t>(1, keys / 256);
  shape.num_splits = static_cast<int>(std::clamp<size_t>(std::min(wanted, max_by_keys), 1, 64));
  return shape;
}

template <class T, int kRows, int kDvPerLane>
Status launch_split_kv_typed(const AttentionProblem& a, const SplitKvShape& shape, void* scratch,
                             cudaStream_t stream) {
  SplitKvParams p{};
  p.q = a.q;
  p.k1 = a.k1;
  p.k2 = a.k2;
  p.v = a.v;
  p.out = a.out;
  p.partials = static_cast<float*>(scratch);
  p.d1 = static_cast<int>(a.d1);
  p.d2 = static_cast<int>(a.d2);
  p.dv = static_cast<int>(a.dv);
  p.dk_pad = static_cast<int>((a.d1 + a.d2 + 3) / 4 * 4);
  p.heads = static_cast<int>(a.heads);
  p.kv_heads = static_cast<int>(a.kv_heads);
  p.group = static_cast<int>(a.heads / a.kv_heads);
  p.q_len = static_cast<int>(a.q_len);
  p.kv_len = static_cast<int>(a.kv_len);
  p.kv_stride = static_cast<int>(a.kv_stride);
  p.pos_offset = static_cast<int>(a.pos_offset);
  p.kv_minus_pos = static_cast<int>(a.kv_len) - static_cast<int>(a.pos_offset);
  p.causal = a.causal;
  p.window = static_cast<int>(a.window);
  p.scale_log2 = a.scale * kLog2e;
  p.dyn_state = a.dyn_state;
  p.num_splits = shape.num_splits;
  p.row_blocks = shape.row_blocks;
  p.total_rows = static_cast<int>(shape.total_rows);
  const size_t elem = sizeof(T);
  p.vec_keys = a.d1 % 8 == 0 && a.d2 % 8 == 0 && is_aligned(a.k1, 16) && (a.d2 == 0 || is_aligned(a.k2, 16));
  (void)elem;

  const size_t shared = sizeof(float) * (static_cast<size_t>(kRows) * p.dk_pad + 2 * kSplitKvWarps * kRows +
                                         static_cast<size_t>(kSplitKvWarps) * kRows * a.dv);
  auto kernel = split_kv_attention_kernel<T, kRows, kDvPerLane>;
  if (shared > 48 * 1024) {
    FERRUM_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)),
                    "(split_kv_attention, ", shared, " bytes of shared memory)");
  }
  const dim3 grid(shape.num_splits, static_cast<unsigned>(a.kv_heads * shape.row_blocks),
                  static_cast<unsigned>(a.batch));
  const dim3 block(kSplitKvWarps * 32);
  kernel<<<grid, block, shared, stream>>>(p);
  FERRUM_TRY(check_launch("split_kv_attention", grid, block, shared));
  if (shape.num_splits == 1) return ok();
  const dim3 combine_grid(static_cast<unsigned>(shape.total_rows));
  split_kv_combine_kernel<T><<<combine_grid, 128, 0, stream>>>(p.partials, static_cast<T*>(a.out), shape.num_splits,
                                                               p.total_rows, p.dv);
  return check_launch("split_kv_combine", combine_grid, dim3(128));
}

template <class T, int kD, int kBc>
Status launch_flash_typed(const AttentionProblem& a, cudaStream_t stream) {
  FlashParams p{};
  p.q = a.q;
  p.k = a.k1;
  p.v = a.v;
  p.out = a.out;
  p.heads = static_cast<int>(a.heads);
  p.kv_heads = static_cast<int>(a.kv_heads);
  p.q_len = static_cast<int>(a.q_len);
  p.kv_len = static_cast<int>(a.kv_len);
  p.kv_stride = static_cast<int>(a.kv_stride);
  p.pos_offset = static_cast<int>(a.pos_offset);
  p.causal = a.causal;
  p.window = static_cast<int>(a.window);
  p.scale_log2 = a.scale * kLog2e;
  constexpr size_t kShared = flash_shared_bytes<kD, kBc>();
  auto kernel = flash_attention_kernel<T, kD, kBc>;
  FERRUM_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kShared)),
                  "(flash_attention, ", kShared, " bytes of shared memory)");
  const dim3 grid(ceil_div(a.q_len, kFlashRows), static_cast<unsigned>(a.heads), static_cast<unsigned>(a.batch));
  const dim3 block(kFlashWarps * 32);
  kernel<<<grid, block, kShared, stream>>>(p);
  return check_launch("flash_attention", grid, block, kShared);
}

template <class T>
Status launch_flash_for_type(const AttentionProblem& a, cudaStream_t stream) {
  switch (a.d1) {
    case 64: return launch_flash_typed<T, 64, 64>(a, stream);
    case 80: return launch_flash_typed<T, 80, 64>(a, stream);
    case 96: return launch_flash_typed<T, 96, 64>(a, stream);
    case 128: return launch_flash_typed<T, 128, 64>(a, stream);
    case 256: return launch_flash_typed<T, 256, 32>(a, stream);
    default: return make_error(ErrorCode::kInternal, "flash_attention: head_dim ", a.d1, " has no kernel");
  }
}

}  // namespace

size_t split_kv_scratch_bytes(const AttentionProblem& problem, int sm_count) {
  const SplitKvShape shape = split_kv_shape(problem, sm_count);
  if (shape.num_splits == 1) return 0;
  return sizeof(float) * static_cast<size_t>(shape.num_splits) * shape.total_rows * (problem.dv + 2);
}

Status launch_split_kv_attention(const AttentionProblem& a, int sm_count, void* scratch, cudaStream_t stream) {
  if (a.batch * a.heads * a.q_len == 0 || a.dv == 0) return ok();
  FERRUM_CHECK(a.dv <= 512, ErrorCode::kUnsupported, "attention: value dim ", a.dv,
               " exceeds the CUDA kernel's 512");
  FERRUM_CHECK(a.kv_stride < (size_t{1} << 31) / 2 && a.q_len < (size_t{1} << 31) / 2, ErrorCode::kUnsupported,
               "attention: sizes exceed the kernel's 31-bit indices");
  const SplitKvShape shape = split_kv_shape(a, sm_count);
  FERRUM_DISPATCH_FLOAT(a.dtype, T, "attention", {
    switch (shape.dv_per_lane) {
      case 4: return launch_split_kv_typed<T, 8, 4>(a, shape, scratch, stream);
      case 8: return launch_split_kv_typed<T, 8, 8>(a, shape, scratch, stream);
      default: return launch_split_kv_typed<T, 4, 16>(a, shape, scratch, stream);
    }
  });
  return ok();
}

bool flash_attention_supports(const AttentionProblem& a) {
  const bool half_type = a.dtype == DType::kBF16 || a.dtype == DType::kF16;
  const bool dims = a.d2 == 0 && a.dv == a.d1 &&
                    (a.d1 == 64 || a.d1 == 80 || a.d1 == 96 || a.d1 == 128 || a.d1 == 256);
  const bool aligned = is_aligned(a.q, 16) && is_aligned(a.k1, 16) && is_aligned(a.v, 16) && is_aligned(a.out, 16);
  return half_type && dims && aligned && a.dyn_state == nullptr;
}

Status launch_flash_attention(const AttentionProblem& a, cudaStream_t stream) {
  if (a.batch * a.heads * a.q_len == 0) return ok();
  if (a.dtype == DType::kBF16) return launch_flash_for_type<bf16_t>(a, stream);
  return launch_flash_for_type<f16_t>(a, stream);
}

}  // namespace ferrum::cuda
