// A one-shot all-reduce (sum) for the small messages of tensor-parallel decode, over buffers every
// rank of one host maps into its address space (CUDA IPC; ../ipc_all_reduce.h sets them up).
// NCCL takes ~7 us (in a graph) for the 8 KB a batch-1 layer sums twice, this 3.4: each rank
// pushes its input into a slot of every other rank's buffer over NVLink and sums the slots of its
// own buffer in rank order, so every rank gets the same bits. One launch, no fence, no flag.
//
// Slots hold "lines" of 8 bytes: 4 bytes of data and the call's epoch, stored together (an aligned
// 8-byte store is single-copy atomic), so a reader that sees the epoch sees the data with it (the
// low-latency protocol NCCL's LL uses, at twice the bytes). The epoch (calls so far, counted per
// block in `counters`; equal on every rank since all ranks make the same calls, and every call
// runs all kIpcBlocks blocks) also picks one of two halves: a rank writes the half of call e again
// in call e + 2, which it reaches only after its call e + 1 read every peer's data, sent after the
// peer's call e (and its reads of that half) completed.
//
// Buffer of each rank: [2 halves][ranks][kIpcMaxBytes / 4 lines of 8 bytes]. The lab
// (lab/all_reduce_lab.cu) times it against NCCL and against v1, a flag-per-block protocol.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

inline constexpr int kIpcMaxRanks = 8;
inline constexpr int kIpcBlocks = 32;      // the shipped launch shape (lab/NOTES.md)
inline constexpr int kIpcThreads = 512;
inline constexpr int kIpcMaxBlocks = 128;  // counters to allocate: enough for any shape the lab tries
inline constexpr size_t kIpcMaxBytes = size_t{1} << 20;    // larger messages go to NCCL
inline constexpr size_t kIpcSlotBytes = 2 * kIpcMaxBytes;  // lines: data and epoch

inline size_t ipc_buffer_bytes(int ranks) {
  return 2 * static_cast<size_t>(ranks) * kIpcSlotBytes;
}

struct IpcAllReduceArgs {
  const void* in = nullptr;  // count elements; may be `out`
  void* out = nullptr;
  DType dtype = DType::kBF16;  // f32, f16 or bf16
  size_t count = 0;            // count * element size: a multiple of 16, at most kIpcMaxBytes
  int rank = 0, ranks = 0;
  void* buffers[kIpcMaxRanks] = {};     // each rank's buffer (zeroed once), mapped here
  uint32_t* counters = nullptr;         // [kIpcMaxBlocks] calls made per block, this rank's (zeroed once)
  const volatile int* abort = nullptr;  // host-mapped; non-zero makes waiting blocks give up (garbage out)
};

// Whether a message of `count` elements of `dtype` can take this path.
bool ipc_all_reduce_takes(size_t count, DType dtype);
Status launch_ipc_all_reduce(const IpcAllReduceArgs& args, cudaStream_t stream);

}  // namespace ferrum::cuda
