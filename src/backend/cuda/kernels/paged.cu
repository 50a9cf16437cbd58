#include <algorithm>
#include <climits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/flash_attention.cuh"
#include "backend/cuda/kernels/launch_settings.h"
#include "backend/cuda/kernels/paged.h"
#include "backend/cuda/kernels/paged_attention.cuh"
#include "backend/cuda/kernels/paged_decode_mma.cuh"
#include "core/half.h"

namespace ferrum::cuda {
namespace {

// One block per (token, head); threads over the row's width.
template <class TR, class TP>
__global__ void paged_cache_write_kernel(TP* pool, const TR* rows, const int32_t* slot_mapping, int tokens, int heads,
                                         int width, int block_size, long long num_slots) {
  const int t = blockIdx.x, h = blockIdx.y;
  const int slot = slot_mapping[t];
  if (slot < 0 || slot >= num_slots) return;
  const size_t block = static_cast<size_t>(slot) / block_size, row = static_cast<size_t>(slot) % block_size;
  TP* dst = pool + ((block * heads + h) * block_size + row) * width;
  const TR* src = rows + (static_cast<size_t>(h) * tokens + t) * width;
  for (int d = threadIdx.x; d < width; d += blockDim.x) dst[d] = from_f32<TP>(to_f32(src[d]));
}

// f8_e4m3 pools: one warp per (token, head) row. The row's largest magnitude sets its scale
// s = max / 448 (1 for zeros), and each value is stored as e4m3(value / s); the divisions round
// as IEEE f32, so the bytes match the CPU backend's.
template <class TR>
__global__ void paged_cache_write_f8_kernel(f8e4m3_t* pool, float* scales, const TR* rows, const int32_t* slot_mapping,
                                            int tokens, int heads, int width, int block_size, long long num_slots) {
  const int t = blockIdx.x, h = blockIdx.y * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (h >= heads) return;
  const int slot = slot_mapping[t];
  if (slot < 0 || slot >= num_slots) return;
  const size_t row = (static_cast<size_t>(slot) / block_size * heads + h) * block_size + slot % block_size;
  const TR* src = rows + (static_cast<size_t>(h) * tokens + t) * width;
  float largest = 0.0f;
  for (int d = lane; d < width; d += 32) largest = fmaxf(largest, fabsf(to_f32(src[d])));
  largest = warp_max(largest);
  const float scale = largest > 0.0f ? __fdiv_rn(largest, kF8E4M3Max) : 1.0f;
  f8e4m3_t* dst = pool + row * width;
  for (int d = lane; d < width; d += 32) dst[d] = from_f32<f8e4m3_t>(__fdiv_rn(to_f32(src[d]), scale));
  if (lane == 0) scales[row] = scale;
}

// How a paged launch is shaped: rows per block and value dims per lane as the split-KV kernel
// picks them, row blocks for the longest sequence, splits for two waves of blocks (one for the
// decode-only launches decode_one_wave picks).
struct PagedShape {
  int rows_per_block = 8;
  int dv_per_lane = 4;
  int row_blocks = 1;
  int num_splits = 1;
  size_t total_rows = 0;
  bool one_wave = false;  // decode_one_wave: the splits fill one wave (the decode kernels' stages follow)
};

// Decode-only launches whose (sequence, KV head) blocks alone cover half the SMs aim at one wave of
// key splits and take two tile stages where the wave holds them: a tensor-parallel rank's 64
// sequences x 4 KV heads then run as 256 unsplit double-buffered blocks, with no combine pass. Fewer
// blocks keep two waves of one stage: long contexts over few sequences want the bytes in flight of
// more blocks (4 sequences x 32,768 keys: 0.153 ms against 0.162).
bool decode_one_wave(const PagedAttentionProblem& a, int sm_count) {
  return paged_decode_takes(a) && 2 * a.num_seqs * a.kv_heads >= static_cast<size_t>(sm_count);
}

PagedShape paged_shape(const PagedAttentionProblem& a, int sm_count) {
  PagedShape shape;
  shape.dv_per_lane = a.dv <= 128 ? 4 : a.dv <= 256 ? 8 : 16;
  const size_t group = a.heads / a.kv_heads;
  const size_t longest_rows = group * std::max<size_t>(a.max_query_len, 1);
  shape.rows_per_block = shape.dv_per_lane == 16 || longest_rows <= 4 ? 4 : 8;
  shape.row_blocks = static_cast<int>((longest_rows + shape.rows_per_block - 1) / shape.rows_per_block);
  shape.total_rows = a.heads * a.num_tokens;
  // Splitting the keys pays only for decode-like launches with few blocks; a graph captured with
  // max_context_len keeps its split count for every later step.
  const size_t base_blocks = std::max<size_t>(1, a.num_seqs * a.kv_heads * shape.row_blocks);
  shape.one_wave = decode_one_wave(a, sm_count);
  const size_t waves = shape.one_wave ? 1 : 2;
  const size_t wanted = (waves * static_cast<size_t>(sm_count) + base_blocks - 1) / base_blocks;
  const size_t max_by_keys = std::max<size_t>(1, a.max_context_len / 128);
  shape.num_splits = static_cast<int>(std::clamp<size_t>(std::min(wanted, max_by_keys), 1, 64));
  return shape;
}

template <class TQ, class TK, int kRows, int kDvPerLane>
Status launch_paged_kernel(const PagedKernelParams& p, size_t num_seqs, size_t kv_heads, cudaStream_t stream) {
  const size_t shared = sizeof(float) * (static_cast<size_t>(kRows) * p.dk_pad + 2 * kPagedWarps * kRows +
                                         static_cast<size_t>(kPagedWarps) * kRows * p.dv);
  auto kernel = paged_attention_kernel<TQ, TK, kRows, kDvPerLane>;
  if (shared > 48 * 1024) {
    FERRUM_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)),
                    "(paged_attention, ", shared, " bytes of shared memory)");
  }
  const dim3 grid(p.num_splits, static_cast<unsigned>(kv_heads * p.row_blocks), static_cast<unsigned>(num_seqs));
  const dim3 block(kPagedWarps * 32);
  kernel<<<grid, block, shared, stream>>>(p);
  FERRUM_TRY(check_launch("paged_attention", grid, block, shared));
  if (p.num_splits == 1) return ok();
  const dim3 combine_grid(static_cast<unsigned>(p.total_rows));
  split_kv_combine_kernel<TQ>
      <<<combine_grid, 128, 0, stream>>>(p.partials, static_cast<TQ*>(p.out), p.num_splits, p.total_rows, p.dv, 0);
  return check_launch("paged_attention_combine", combine_grid, dim3(128));
}

template <class TQ, class TK>
Status launch_paged_shaped(const PagedKernelParams& p, const PagedShape& shape, const PagedAttentionProblem& a,
                           cudaStream_t stream) {
  if (shape.dv_per_lane == 16) return launch_paged_kernel<TQ, TK, 4, 16>(p, a.num_seqs, a.kv_heads, stream);
  if (shape.rows_per_block == 4) {
    if (shape.dv_per_lane == 4) return launch_paged_kernel<TQ, TK, 4, 4>(p, a.num_seqs, a.kv_heads, stream);
    return launch_paged_kernel<TQ, TK, 4, 8>(p, a.num_seqs, a.kv_heads, stream);
  }
  if (shape.dv_per_lane == 4) return launch_paged_kernel<TQ, TK, 8, 4>(p, a.num_seqs, a.kv_heads, stream);
  return launch_paged_kernel<TQ, TK, 8, 8>(p, a.num_seqs, a.kv_heads, stream);
}

// Sequences of a batch with at least paged_flash_min_rows() query rows (prefill chunks) run on the
// tensor cores (flash_attention.cuh's paged mode), the others on the CUDA-core kernel, when the
// problem is one the flash kernel takes: q, K, V and out all bf16 or all f16, plain attention with
// a head_dim it has an instance for, 16-byte aligned rows.
bool uses_paged_flash(const PagedAttentionProblem& a) {
  const size_t min_rows = paged_flash_min_rows();
  const bool half = (a.dtype == DType::kBF16 || a.dtype == DType::kF16) && a.kv_dtype == a.dtype;
  const bool dims = a.d2 == 0 && a.dv == a.d1 && (a.d1 == 64 || a.d1 == 80 || a.d1 == 96 || a.d1 == 128 || a.d1 == 256);
  const bool aligned = is_aligned(a.q, 16) && is_aligned(a.k1, 16) && is_aligned(a.v, 16) && is_aligned(a.out, 16);
  const bool any = std::min(a.flash_seq_end, a.num_seqs) > a.flash_seq_begin;
  return min_rows > 0 && a.max_query_len >= min_rows && any && half && dims && aligned;
}

}  // namespace

// Decode-only batches (one query row per sequence) over bf16 / f16 pools take the tiled decode
// kernels (paged_decode_mma.cuh, paged_decode.cuh) when their head_dim and GQA group fit them.
bool paged_decode_takes(const PagedAttentionProblem& a) {
  const bool half = (a.dtype == DType::kBF16 || a.dtype == DType::kF16) && a.kv_dtype == a.dtype;
  const bool dims = a.d2 == 0 && a.dv == a.d1 && (a.d1 == 64 || a.d1 == 128);
  const bool aligned = is_aligned(a.k1, 16) && is_aligned(a.v, 16);
  // Their tile copies index pool rows in 32 bits.
  const bool rows_fit = a.num_blocks * a.kv_heads * a.block_size <= UINT32_MAX;
  return paged_decode_version() != 0 && a.max_query_len == 1 && half && dims && aligned && rows_fit &&
         a.heads / a.kv_heads <= kDecodeMaxGroup;
}

namespace {

// Blocks of the two-stage tensor-core decode kernel an SM holds (0 where the query fails).
template <class T, int kHeadDim>
int two_stage_blocks_per_sm() {
  static const int blocks = [] {
    const auto kernel = paged_decode_mma_kernel<T, kHeadDim, 2>;
    const size_t shared = paged_decode_mma_shared_bytes(kHeadDim, sizeof(T), 2);
    int n = 0;
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)) !=
            cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, kDecodeThreads, shared) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return blocks;
}

// `one_wave`: the launch's PagedShape::one_wave.
template <class T, int kHeadDim>
Status launch_paged_decode_kernel(const PagedKernelParams& p, size_t num_seqs, size_t kv_heads, int sm_count,
                                  bool one_wave, cudaStream_t stream) {
  const bool mma = paged_decode_version() == 4;
  const size_t blocks = static_cast<size_t>(p.num_splits) * kv_heads * num_seqs;
  // Two stages where the one-wave launch still fits one wave with them (they double a block's tiles).
  const int asked = paged_decode_stages();
  const bool two =
      mma && (asked == 2 || (asked == 0 && one_wave &&
                             blocks <= static_cast<size_t>(sm_count) * two_stage_blocks_per_sm<T, kHeadDim>()));
  const size_t shared = mma ? paged_decode_mma_shared_bytes(kHeadDim, sizeof(T), two ? 2 : 1)
                            : decode_attention_shared_bytes(kHeadDim, sizeof(T));
  auto kernel = !mma  ? paged_decode_kernel<T, kHeadDim>
                : two ? paged_decode_mma_kernel<T, kHeadDim, 2>
                      : paged_decode_mma_kernel<T, kHeadDim, 1>;
  if (shared > 48 * 1024) {
    FERRUM_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)),
                    "(paged_decode, ", shared, " bytes of shared memory)");
  }
  const dim3 grid(p.num_splits, static_cast<unsigned>(kv_heads), static_cast<unsigned>(num_seqs));
  kernel<<<grid, kDecodeThreads, shared, stream>>>(p);
  FERRUM_TRY(check_launch("paged_attention (decode)", grid, dim3(kDecodeThreads), shared));
  if (p.num_splits == 1) return ok();
  const dim3 combine_grid(static_cast<unsigned>(p.total_rows));
  split_kv_combine_kernel<T><<<combine_grid, 128, 0, stream>>>(p.partials, static_cast<T*>(p.out), p.num_splits,
                                                               p.total_rows, p.dv, p.token_major ? p.heads : 0);
  return check_launch("paged_attention_combine", combine_grid, dim3(128));
}

template <class T>
Status launch_paged_decode(const PagedKernelParams& p, const PagedAttentionProblem& a, const PagedShape& shape,
                           int sm_count, cudaStream_t stream) {
  if (a.d1 == 64) {
    return launch_paged_decode_kernel<T, 64>(p, a.num_seqs, a.kv_heads, sm_count, shape.one_wave, stream);
  }
  return launch_paged_decode_kernel<T, 128>(p, a.num_seqs, a.kv_heads, sm_count, shape.one_wave, stream);
}

// The sequences the flash kernel's grid covers.
size_t paged_flash_seqs(const PagedAttentionProblem& a) {
  return std::min(a.flash_seq_end, a.num_seqs) - a.flash_seq_begin;
}

constexpr int kPagedFlashRows = 16 * kFlashWarps;

// Key splits of the flash kernel: about two waves of blocks, each split at least 4 key tiles.
int paged_flash_splits(const PagedAttentionProblem& a, int sm_count) {
  const size_t q_tiles = (a.max_query_len + kPagedFlashRows - 1) / kPagedFlashRows;
  const size_t blocks = std::max<size_t>(1, q_tiles * a.heads * paged_flash_seqs(a));
  const size_t wanted = (2 * static_cast<size_t>(sm_count) + blocks - 1) / blocks;
  const size_t max_by_keys = std::max<size_t>(1, a.max_context_len / 256);
  return static_cast<int>(std::clamp<size_t>(std::min(wanted, max_by_keys), 1, 16));
}

// How the CUDA-core kernel is launched (the scratch and the launch must agree). Beside the flash
// kernel its rows stop below paged_flash_min_rows(), and it takes the flash kernel's split count:
// the combine pass then merges every row of the batch, whichever kernel wrote its partials.
PagedShape cuda_core_shape(const PagedAttentionProblem& a, int sm_count) {
  if (!uses_paged_flash(a)) return paged_shape(a, sm_count);
  PagedAttentionProblem core = a;
  core.max_query_len = std::min(a.max_query_len, paged_flash_min_rows() - 1);
  PagedShape shape = paged_shape(core, sm_count);
  shape.num_splits = paged_flash_splits(a, sm_count);
  return shape;
}

// The batch metadata both paged kernels read (FlashParams and PagedKernelParams name it alike).
template <class Params>
void set_paged_tables(Params& p, const PagedAttentionProblem& a) {
  p.query_start = a.query_start;
  p.context_lens = a.context_lens;
  p.block_tables = a.block_tables;
  p.num_tokens = static_cast<int>(a.num_tokens);
  p.max_blocks_per_seq = static_cast<int>(a.max_blocks_per_seq);
  p.block_size = static_cast<int>(a.block_size);
  p.num_blocks = static_cast<int>(a.num_blocks);
}

template <class T, int kD, int kBc>
Status launch_paged_flash_kernel(const PagedAttentionProblem& a, const PagedShape& shape, void* partials,
                                 cudaStream_t stream) {
  FlashParams p = flash_common_params(a);
  set_paged_tables(p, a);
  p.min_query_len = static_cast<int>(paged_flash_min_rows());
  p.seq_offset = static_cast<int>(a.flash_seq_begin);
  p.partials = static_cast<float*>(partials);
  p.num_splits = shape.num_splits;
  p.total_rows = static_cast<int>(shape.total_rows);
  const dim3 grid(ceil_div(a.max_query_len, kPagedFlashRows) * static_cast<unsigned>(shape.num_splits),
                  static_cast<unsigned>(a.heads), static_cast<unsigned>(paged_flash_seqs(a)));
  return launch_flash_instance<T, kD, kBc, kFlashWarps, true>(p, grid, "paged_attention (flash)", stream);
}

template <class T>
Status launch_paged_flash(const PagedAttentionProblem& a, const PagedShape& shape, void* partials,
                          cudaStream_t stream) {
  switch (a.d1) {
    case 64: return launch_paged_flash_kernel<T, 64, 64>(a, shape, partials, stream);
    case 80: return launch_paged_flash_kernel<T, 80, 64>(a, shape, partials, stream);
    case 96: return launch_paged_flash_kernel<T, 96, 64>(a, shape, partials, stream);
    case 128: return launch_paged_flash_kernel<T, 128, 64>(a, shape, partials, stream);
    default: return launch_paged_flash_kernel<T, 256, 32>(a, shape, partials, stream);
  }
}

PagedKernelParams make_paged_params(const PagedAttentionProblem& a, const PagedShape& shape, void* partials) {
  PagedKernelParams p{};
  p.q = a.q;
  p.k1 = a.k1;
  p.k2 = a.k2;
  p.v = a.v;
  p.k1_scales = a.k1_scales;
  p.k2_scales = a.k2_scales;
  p.v_scales = a.v_scales;
  p.out = a.out;
  p.partials = static_cast<float*>(partials);
  set_paged_tables(p, a);
  p.block_divisor = FastDivisor::of(static_cast<int32_t>(a.block_size));
  p.d1 = static_cast<int>(a.d1);
  p.d2 = static_cast<int>(a.d2);
  p.dv = static_cast<int>(a.dv);
  p.dk_pad = static_cast<int>((a.d1 + a.d2 + 3) / 4 * 4);
  p.heads = static_cast<int>(a.heads);
  p.kv_heads = static_cast<int>(a.kv_heads);
  p.group = static_cast<int>(a.heads / a.kv_heads);
  p.causal = a.causal;
  p.window = static_cast<int>(a.window);
  p.scale_log2 = a.scale * 1.4426950408889634f;
  p.num_splits = shape.num_splits;
  p.row_blocks = shape.row_blocks;
  p.total_rows = static_cast<int>(shape.total_rows);
  p.vec_keys = a.d1 % 8 == 0 && a.d2 % 8 == 0 && is_aligned(a.k1, 32) && (a.d2 == 0 || is_aligned(a.k2, 32));
  p.flash_min_query_len = uses_paged_flash(a) ? static_cast<int>(paged_flash_min_rows()) : INT_MAX;
  p.token_major = a.token_major_out ? 1 : 0;
  return p;
}

}  // namespace

Status launch_paged_cache_write(const PagedCacheWriteArgs& a, cudaStream_t stream) {
  if (a.tokens == 0) return ok();
  FERRUM_CHECK(a.tokens < (size_t{1} << 31) && a.heads < 65536, ErrorCode::kUnsupported,
               "paged_cache_write: ", a.tokens, " tokens x ", a.heads, " heads exceed the launch grid");
  const auto num_slots = static_cast<long long>(a.num_blocks * a.block_size);
  if (a.pool_dtype == DType::kF8E4M3) {
    constexpr unsigned kWarps = 4;  // rows (heads) per block
    const dim3 grid(static_cast<unsigned>(a.tokens), ceil_div(a.heads, kWarps));
    const size_t values = a.num_blocks * a.heads * a.block_size * a.width;
    auto* pool = static_cast<f8e4m3_t*>(a.pool);
    auto* scales = reinterpret_cast<float*>(pool + values);
    FERRUM_DISPATCH_FLOAT(a.rows_dtype, TR, "paged_cache_write rows", {
      paged_cache_write_f8_kernel<TR><<<grid, kWarps * 32, 0, stream>>>(
          pool, scales, static_cast<const TR*>(a.rows), a.slot_mapping, static_cast<int>(a.tokens),
          static_cast<int>(a.heads), static_cast<int>(a.width), static_cast<int>(a.block_size), num_slots);
    });
    return check_launch("paged_cache_write", grid, dim3(kWarps * 32));
  }
  const dim3 grid(static_cast<unsigned>(a.tokens), static_cast<unsigned>(a.heads));
  const dim3 block(static_cast<unsigned>(std::min<size_t>(256, (a.width + 31) / 32 * 32)));
  FERRUM_DISPATCH_FLOAT(a.rows_dtype, TR, "paged_cache_write rows", {
    FERRUM_DISPATCH_FLOAT(a.pool_dtype, TP, "paged_cache_write pool", {
      paged_cache_write_kernel<TR, TP><<<grid, block, 0, stream>>>(
          static_cast<TP*>(a.pool), static_cast<const TR*>(a.rows), a.slot_mapping, static_cast<int>(a.tokens),
          static_cast<int>(a.heads), static_cast<int>(a.width), static_cast<int>(a.block_size), num_slots);
    });
  });
  return check_launch("paged_cache_write", grid, block);
}

size_t paged_attention_scratch_bytes(const PagedAttentionProblem& problem, int sm_count) {
  const PagedShape shape = cuda_core_shape(problem, sm_count);
  if (shape.num_splits == 1) return 0;
  return sizeof(float) * static_cast<size_t>(shape.num_splits) * shape.total_rows * (problem.dv + 2);
}

Status launch_paged_attention(const PagedAttentionProblem& a, int sm_count, void* scratch, cudaStream_t stream) {
  if (a.num_tokens == 0 || a.num_seqs == 0 || a.dv == 0) return ok();
  FERRUM_CHECK(a.dv <= 512, ErrorCode::kUnsupported, "paged_attention: value dim ", a.dv,
               " exceeds the CUDA kernel's 512");
  FERRUM_CHECK(
      a.num_seqs < 65536 && a.heads * a.num_tokens < (size_t{1} << 31) && a.max_context_len < (size_t{1} << 30),
      ErrorCode::kUnsupported, "paged_attention: sizes exceed the kernel's 31-bit indices and grid");
  const PagedShape shape = cuda_core_shape(a, sm_count);
  if (uses_paged_flash(a)) {
    FERRUM_TRY(a.dtype == DType::kBF16 ? launch_paged_flash<bf16_t>(a, shape, scratch, stream)
                                       : launch_paged_flash<f16_t>(a, shape, scratch, stream));
  }
  FERRUM_CHECK(!a.token_major_out || paged_decode_takes(a), ErrorCode::kInternal,
               "paged_attention: a token-major output needs the decode kernels (paged_decode_takes)");
  const PagedKernelParams p = make_paged_params(a, shape, scratch);
  if (paged_decode_takes(a)) {
    return a.dtype == DType::kBF16 ? launch_paged_decode<bf16_t>(p, a, shape, sm_count, stream)
                                   : launch_paged_decode<f16_t>(p, a, shape, sm_count, stream);
  }
  if (a.kv_dtype == DType::kF8E4M3) {
    FERRUM_DISPATCH_FLOAT(a.dtype, T, "paged_attention",
                          { return launch_paged_shaped<T, f8e4m3_t>(p, shape, a, stream); });
  } else if (a.kv_dtype == a.dtype) {
    FERRUM_DISPATCH_FLOAT(a.dtype, T, "paged_attention", { return launch_paged_shaped<T, T>(p, shape, a, stream); });
  } else if (a.dtype == DType::kF32 && a.kv_dtype == DType::kBF16) {
    return launch_paged_shaped<float, bf16_t>(p, shape, a, stream);
  } else if (a.dtype == DType::kF32 && a.kv_dtype == DType::kF16) {
    return launch_paged_shaped<float, f16_t>(p, shape, a, stream);
  }
  return make_error(ErrorCode::kUnsupported, "paged_attention: q/out ", a.dtype, " with K/V ", a.kv_dtype,
                    " (the CUDA backend takes equal dtypes, f32 q/out over a bf16/f16 cache, or an f8_e4m3 cache)");
}

}  // namespace ferrum::cuda
