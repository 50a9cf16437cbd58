// A one-shot all-reduce (sum) for the small messages of tensor-parallel decode, over buffers every
// rank of one host maps into its address space (CUDA IPC; ../ipc_all_reduce.h sets them up).
// NCCL takes ~7 us (in a graph) for the 8 KB a batch-1 layer sums twice, this ~3.4: each rank
// pushes its input into a slot of every other rank's buffer over NVLink and sums the slots of its
// own buffer in rank order, so every rank gets the same bits. One launch, no fence, no flag.
//
// 16-bit values (bf16, f16) only. A slot holds the data as sent, and a value nobody has written
// holds -0.0 (kIpcEmpty, the same bits in both types): a reader polls a 16-byte unit until none of
// its values is -0.0, takes it and writes -0.0 back, so the slot is empty again for a later call.
// Senders send -0.0 as +0.0, which changes no sum (sums start from +0.0). 2-byte stores are
// single-copy atomic, so a value is seen either empty or whole, and the data cross NVLink once
// (v2, NCCL's LL idea of a flag beside every 4 bytes, sent twice the bytes: lab/NOTES.md; the
// empty-value idea is the "Lamport" one-shot all-reduce of TensorRT-LLM). The call's epoch
// (calls so far, equal on every rank since all ranks make the same calls) picks one of two halves:
// a rank writes the half of call e again in call e + 2, which it reaches only after its call e + 1
// read every peer's data, sent after the peer's call e (which emptied that half) completed. Each
// of the kIpcMaxBlocks slots of `counters` holds it: a block reads its own slot and, when done,
// writes its share of all of them, so calls of different launch shapes (the plain sum, the sum
// fused with the norm: a block per row) may follow each other on the same buffers and no block
// waits on another's count (grids of at most kIpcMaxBlocks blocks).
//
// Buffer of each rank: [2 halves][ranks][kIpcMaxBytes], emptied once (launch_ipc_empty). The lab
// (lab/all_reduce_lab.cu) times it against NCCL, v1 (a flag per block) and v2.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/cuda/kernels/norm.h"
#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

inline constexpr int kIpcMaxRanks = 8;
inline constexpr int kIpcBlocks = 32;  // the shipped launch shape (lab/NOTES.md)
inline constexpr int kIpcThreads = 512;
// Epoch slots to allocate (one per block of a call at most; the lab's v1 uses them as flags).
inline constexpr int kIpcMaxBlocks = 128;
inline constexpr size_t kIpcMaxBytes = size_t{1} << 20;  // larger messages go to NCCL
inline constexpr uint32_t kIpcEmpty = 0x8000;            // -0.0 in bf16 and in f16

inline size_t ipc_buffer_bytes(int ranks) {
  return 2 * static_cast<size_t>(ranks) * kIpcMaxBytes;
}

// Fills `bytes` (a multiple of 4) of a buffer with empty values.
Status launch_ipc_empty(void* buffer, size_t bytes, cudaStream_t stream);

struct IpcAllReduceArgs {
  const void* in = nullptr;  // count elements; may be `out`
  void* out = nullptr;
  DType dtype = DType::kBF16;  // bf16 or f16
  size_t count = 0;            // count * element size: a multiple of 16, at most kIpcMaxBytes
  int rank = 0, ranks = 0;
  void* buffers[kIpcMaxRanks] = {};     // each rank's buffer (emptied once), mapped here
  uint32_t* counters = nullptr;         // [kIpcMaxBlocks], this rank's (zeroed once): the epoch per slot
  const volatile int* abort = nullptr;  // host-mapped; non-zero makes waiting blocks give up (garbage out)
};

// Whether a message of `count` elements of `dtype` can take this path.
bool ipc_all_reduce_takes(size_t count, DType dtype);
Status launch_ipc_all_reduce(const IpcAllReduceArgs& args, cudaStream_t stream);

// The sum fused with what a decoder does next (all_reduce, then fused_add_rms_norm; one launch and
// one pass over the rows instead of two). `norm` is fused_add_rms_norm's (with `rounded`: its
// *_rounded form's): norm.x [rows, dim] is this rank's part (`sum`'s in, left as it was; `sum`'s
// out unused); residual += the sum over ranks of x, rounded to the activation dtype first as
// all_reduce leaves it, and out = rms_norm(residual) * weight, bit for bit what the two ops give.
// Whether rows x dim of `dtype` (the activations) fit the fused kernel: a 16-byte-vector row (the
// norm kernel's vector path) and a message this path takes.
bool ipc_add_rms_norm_takes(size_t rows, size_t dim, DType dtype);
Status launch_ipc_all_reduce_add_rms_norm(const IpcAllReduceArgs& sum, const NormArgs& norm, cudaStream_t stream);

}  // namespace ferrum::cuda
