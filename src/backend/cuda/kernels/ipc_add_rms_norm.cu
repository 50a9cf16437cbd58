// The IPC all-reduce fused with the decoder's residual add and RMS norm (ipc_all_reduce.h): a
// tensor-parallel layer's output projection leaves each rank a partial sum, which the plain path
// sums (one kernel) and then adds into the residual stream and normalises (a second kernel, a
// second pass over the rows). Here a block owns whole rows: it pushes its rows' units to the
// peers, then sums each row in rank order and normalises it as rms_norm_vec_kernel would, with the
// same block size, so the bits equal the two ops'.
#include "backend/cuda/kernels/ipc_all_reduce.cuh"
#include "backend/cuda/kernels/rms_norm.cuh"

namespace ferrum::cuda {
namespace {

// Rows beyond this many share blocks (a row loop); no more blocks than epoch slots (ipc_end_call).
// A block waits only for its own rows from the other ranks, whose blocks the GPUs start in the same
// order, so a block not yet resident never holds up one that is (the shapes decode takes fit at
// once anyway: 64 rows of 4096 are 64 blocks).
constexpr size_t kMaxNormBlocks = kIpcMaxBlocks;
// The block size rms_norm_vec_threads gives must not pass this (it does for rows of over 16384).
constexpr unsigned kMaxNormThreads = 512;

// A (bf16 or f16) activations, W the norm weight's dtype. Needs dim % 8 == 0, dim / 8 at most
// blockDim.x * kNormMaxChunks, and 16-byte-aligned rows; `rounded` is out's rounding (kRound).
template <class A, class W, bool kRound>
__global__ void __launch_bounds__(kMaxNormThreads, 1)
    ipc_add_rms_norm_kernel(IpcAllReduceArgs a, NormArgs n, QuantizedX rounded) {
  __shared__ float reduce_scratch[32];
  static_assert(sizeof(A) == 2, "a chunk of 8 values is one 16-byte unit");
  const int dim = static_cast<int>(n.dim), chunks = dim / 8;
  // As rms_norm_vec_kernel: the next kernel may start its prologue, and the weights (which no
  // kernel writes) are fetched before waiting for the one before.
  pdl_launch_dependents();
  float weights[kNormMaxChunks][8];
#pragma unroll
  for (int c = 0; c < kNormMaxChunks; ++c) {
    const int chunk = threadIdx.x + c * blockDim.x;
    if (chunk < chunks) load8(static_cast<const W*>(n.weight) + chunk * 8, weights[c]);
  }
  pdl_wait();
  const auto* x = static_cast<const A*>(a.in);
  auto* residuals = static_cast<A*>(n.residual);
  // Chunk `chunk` of row `row` (8 values): its unit's index in the message, and this rank's data.
  const auto unit_of = [&](size_t row, int chunk) { return (row * dim) / 8 + chunk; };
  const auto own_unit = [&](size_t row, int chunk) {
    return *reinterpret_cast<const uint4*>(x + row * dim + chunk * 8);
  };
  const auto residual_unit = [&](size_t row, int chunk) {
    return *reinterpret_cast<const uint4*>(residuals + row * dim + chunk * 8);
  };
  // The thread's first chunk of its block's first row (the only one at decode shapes: rows of up
  // to 8 x the block size, one row a block), this rank's part and the residual, read at once with
  // the epoch and before the wait on the peers, whose data arrive last: after that wait only the
  // sum and the norm remain (the other rank's wait ends that much sooner too).
  const size_t first_row = blockIdx.x;
  const int first_chunk = static_cast<int>(threadIdx.x);
  const bool has_first = first_row < n.rows && first_chunk < chunks;
  const uint4 own_first = has_first ? own_unit(first_row, first_chunk) : uint4{};
  const uint4 residual_first = has_first ? residual_unit(first_row, first_chunk) : uint4{};
  const uint32_t epoch = ipc_begin_call(a.counters);

  for (size_t row = blockIdx.x; row < n.rows; row += gridDim.x) {
    for (int chunk = threadIdx.x; chunk < chunks; chunk += blockDim.x) {
      const bool first = row == first_row && chunk == first_chunk;
      ipc_push_unit(a, epoch, unit_of(row, chunk), first ? own_first : own_unit(row, chunk));
    }
  }

  bool gave_up = false;
  for (size_t row = blockIdx.x; row < n.rows; row += gridDim.x) {
    A* residual = residuals + row * dim;
    float values[kNormMaxChunks][8];
    float sum_sq = 0.0f;
#pragma unroll
    for (int c = 0; c < kNormMaxChunks; ++c) {
      const int chunk = threadIdx.x + c * blockDim.x;
      if (chunk >= chunks) continue;
      const bool preloaded = row == first_row && c == 0;  // own_first and residual_first hold it
      float sum[8] = {};
      for (int r = 0; r < a.ranks; ++r) {
        if (r != a.rank) {
          ipc_accumulate<A>(sum, ipc_fetch_unit(a, epoch, r, unit_of(row, chunk), gave_up));
        } else {
          ipc_accumulate<A>(sum, preloaded ? own_first : own_unit(row, chunk));
        }
      }
      float res[8];
      ipc_unpack<A>(preloaded ? residual_first : residual_unit(row, chunk), res);
      // The sum as all_reduce stores it, then residual += it as fused_add_rms_norm rounds it.
#pragma unroll
      for (int i = 0; i < 8; ++i) values[c][i] = to_f32(from_f32<A>(to_f32(from_f32<A>(sum[i])) + res[i]));
      store8(residual + chunk * 8, values[c]);
#pragma unroll
      for (int i = 0; i < 8; ++i) sum_sq += values[c][i] * values[c][i];
    }
    const float inv_rms = rsqrtf(block_sum(sum_sq, reduce_scratch) / dim + n.eps);
    rms_norm_store_row<A, kRound>(values, weights, inv_rms, static_cast<A*>(n.out), row, dim, rounded);
  }
  ipc_end_call(a.counters, epoch);
}

}  // namespace

bool ipc_add_rms_norm_takes(size_t rows, size_t dim, DType dtype) {
  return rows > 0 && dim % 8 == 0 && rms_norm_vec_threads(rows, dim) <= kMaxNormThreads &&
         ipc_all_reduce_takes(rows * dim, dtype);
}

Status launch_ipc_all_reduce_add_rms_norm(const IpcAllReduceArgs& a, const NormArgs& n, cudaStream_t stream) {
  FERRUM_CHECK(ipc_add_rms_norm_takes(n.rows, n.dim, a.dtype) && a.count == n.rows * n.dim && a.ranks >= 1 &&
                   a.ranks <= kIpcMaxRanks && (n.rounded == nullptr || n.dim % kRoundGroup == 0),
               ErrorCode::kInternal, "ipc all_reduce_add_rms_norm: ", n.rows, " rows of ", n.dim, " ", a.dtype,
               " over ", a.ranks, " ranks do not fit it");
  FERRUM_CHECK(is_aligned(a.in, 16) && is_aligned(n.residual, 16) && is_aligned(n.out, 16) &&
                   is_aligned(n.weight, 16) && (n.rounded == nullptr || is_aligned(n.rounded, 16)),
               ErrorCode::kInvalidArgument, "ipc all_reduce_add_rms_norm: the data must be 16-byte aligned");
  const dim3 grid(static_cast<unsigned>(std::min(n.rows, kMaxNormBlocks)));
  const dim3 block(rms_norm_vec_threads(n.rows, n.dim));
  const QuantizedX rounded = n.rounded != nullptr ? rounded_rows_layout(n.rounded, n.rows, n.dim) : QuantizedX{};
  const char* name = "ipc_all_reduce_add_rms_norm";
  const auto launch = [&]<class A>(A*) -> Status {
    FERRUM_DISPATCH_FLOAT(n.weight_dtype, W, name, {
      const auto kernel =
          n.rounded != nullptr ? ipc_add_rms_norm_kernel<A, W, true> : ipc_add_rms_norm_kernel<A, W, false>;
      FERRUM_TRY(launch_kernel(name, kernel, grid, block, 0, stream, a, n, rounded));
    });
    return ok();
  };
  return a.dtype == DType::kF16 ? launch(static_cast<__half*>(nullptr)) : launch(static_cast<__nv_bfloat16*>(nullptr));
}

}  // namespace ferrum::cuda
