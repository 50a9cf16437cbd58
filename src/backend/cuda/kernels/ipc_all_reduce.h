// A one-shot all-reduce (sum) for the small messages of tensor-parallel decode, over buffers every
// rank of one host maps into its address space (CUDA IPC; ipc_all_reduce.h one level up sets them
// up). NCCL's ring all-reduce costs ~12 us for the 8 KB a batch-1 layer sums, twice a layer; here
// each rank pushes its input into a slot of every rank's buffer over NVLink, raises a flag in each,
// waits for every rank's flag in its own buffer and sums the slots in rank order, so every rank
// gets the same bits. One launch, one flag round trip.
//
// Buffer of each rank: flags [kIpcBlocks][kIpcMaxRanks] u32, then data [2][ranks][kIpcMaxBytes].
// A call's epoch (the count of calls so far, kept per block in `counters`, equal on every rank
// since all ranks make the same calls) picks the data half: a rank can start call e + 2, which
// writes the half call e read, only after every rank's blocks signalled in call e + 1, which they
// do after finishing call e. Flags only grow, so a wait is for flag >= epoch.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ferrum::cuda {

inline constexpr int kIpcMaxRanks = 8;
inline constexpr int kIpcBlocks = 32;                    // every call runs all of them (one epoch per call)
inline constexpr size_t kIpcMaxBytes = size_t{1} << 20;  // larger messages go to NCCL
inline constexpr size_t kIpcFlagBytes = 4096;

inline size_t ipc_buffer_bytes(int ranks) {
  return kIpcFlagBytes + 2 * static_cast<size_t>(ranks) * kIpcMaxBytes;
}

struct IpcAllReduceArgs {
  const void* in = nullptr;  // count elements; may be `out`
  void* out = nullptr;
  DType dtype = DType::kBF16;  // f32, f16 or bf16
  size_t count = 0;            // count * element size: a multiple of 16, at most kIpcMaxBytes
  int rank = 0, ranks = 0;
  void* buffers[kIpcMaxRanks] = {};     // each rank's buffer, mapped here
  uint32_t* counters = nullptr;         // [kIpcBlocks] calls made, this rank's device memory
  const volatile int* abort = nullptr;  // host-mapped; non-zero makes waiting blocks give up (garbage out)
};

// Whether a message of `count` elements of `dtype` can take this path.
bool ipc_all_reduce_takes(size_t count, DType dtype);
Status launch_ipc_all_reduce(const IpcAllReduceArgs& args, cudaStream_t stream);

}  // namespace ferrum::cuda
