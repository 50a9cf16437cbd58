// Setting up the IPC all-reduce (ipc_all_reduce.h): rank 0 gathers every rank's buffer handle and
// host name, decides, and shares the table; every rank maps the others' buffers; a second round
// makes sure all of them could before any rank uses it.
#include "backend/cuda/ipc_all_reduce.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend/cuda/cuda_check.h"

namespace ferrum::cuda {
namespace {

using dist::Clock;
using dist::MessageTag;

// What each rank offers: its host, its buffer's handle, and whether it has one.
struct Offer {
  char host[64] = {};
  cudaIpcMemHandle_t handle{};
  uint8_t usable = 0;
};

struct Table {
  uint8_t enabled = 0;
  Offer offers[kIpcMaxRanks];
};

template <class T>
std::span<uint8_t> bytes_of(T& value) {
  return {reinterpret_cast<uint8_t*>(&value), sizeof value};
}

// Rank 0 receives every rank's `mine` (its own first); the others send theirs and get nothing.
template <class T>
Expected<std::vector<T>> gather(dist::RankGroup& group, T mine) {
  if (group.rank() != 0) {
    FERRUM_TRY(group.send(0, MessageTag::kIpcHandles, bytes_of(mine)));
    return std::vector<T>{};
  }
  std::vector<T> all(group.size());
  all[0] = mine;
  for (size_t peer = 1; peer < group.size(); ++peer) {
    FERRUM_TRY(
        group.recv(peer, MessageTag::kIpcHandles, bytes_of(all[peer]), Clock::now() + group.options().join_timeout));
  }
  return all;
}

// Rank 0's `value` to every rank.
template <class T>
Status share(dist::RankGroup& group, T& value) {
  if (group.rank() == 0) return group.send_to_all(MessageTag::kIpcHandles, bytes_of(value));
  return group.recv(0, MessageTag::kIpcHandles, bytes_of(value), Clock::now() + group.options().join_timeout);
}

bool enabled_by_environment(const char* name) {
  const char* text = std::getenv(name);
  return text == nullptr || std::strcmp(text, "0") != 0;
}

}  // namespace

Expected<std::unique_ptr<IpcAllReduce>> IpcAllReduce::create(dist::RankGroup& group) {
  std::unique_ptr<IpcAllReduce> ipc(new IpcAllReduce());
  ipc->rank_ = static_cast<int>(group.rank());
  ipc->ranks_ = static_cast<int>(group.size());
  ipc->fuse_norm_ = enabled_by_environment("FERRUM_TP_FUSED_NORM");
  // Allocation failures only make this rank's offer unusable: the group then falls back together.
  Offer offer;
  (void)gethostname(offer.host, sizeof offer.host - 1);
  const bool allocated =
      ipc->ranks_ <= kIpcMaxRanks && cudaMalloc(&ipc->own_, ipc_buffer_bytes(ipc->ranks_)) == cudaSuccess &&
      static_cast<bool>(launch_ipc_empty(ipc->own_, ipc_buffer_bytes(ipc->ranks_), nullptr)) &&
      cudaMalloc(reinterpret_cast<void**>(&ipc->counters_), kIpcMaxBlocks * sizeof(uint32_t)) == cudaSuccess &&
      cudaMemset(ipc->counters_, 0, kIpcMaxBlocks * sizeof(uint32_t)) == cudaSuccess &&
      cudaHostAlloc(const_cast<int**>(&ipc->abort_), sizeof(int), cudaHostAllocMapped) == cudaSuccess &&
      cudaIpcGetMemHandle(&offer.handle, ipc->own_) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess;
  (void)cudaGetLastError();  // a failure above is reported as "not usable", not left for the next call
  offer.usable = allocated ? 1 : 0;
  if (ipc->abort_ != nullptr) *ipc->abort_ = 0;

  FERRUM_ASSIGN_OR_RETURN(std::vector<Offer> offers, gather(group, offer));
  Table table;
  if (group.rank() == 0) {
    table.enabled = enabled_by_environment("FERRUM_TP_IPC_ALL_REDUCE") &&
                    std::all_of(offers.begin(), offers.end(), [&](const Offer& o) {
                      return o.usable && std::strncmp(o.host, offers[0].host, sizeof o.host) == 0;
                    });
    std::copy(offers.begin(), offers.end(), table.offers);
  }
  FERRUM_TRY(share(group, table));
  uint8_t mapped = 0;
  if (table.enabled) {
    std::vector<cudaIpcMemHandle_t> handles;
    for (int r = 0; r < ipc->ranks_; ++r) handles.push_back(table.offers[r].handle);
    mapped = ipc->map_peers(handles) ? 1 : 0;
  }
  FERRUM_ASSIGN_OR_RETURN(std::vector<uint8_t> all_mapped, gather(group, mapped));
  uint8_t usable = group.rank() == 0 && table.enabled &&
                   std::all_of(all_mapped.begin(), all_mapped.end(), [](uint8_t m) { return m != 0; });
  FERRUM_TRY(share(group, usable));
  if (!usable) return std::unique_ptr<IpcAllReduce>();
  return ipc;
}

bool IpcAllReduce::map_peers(std::span<const cudaIpcMemHandle_t> handles) {
  buffers_[rank_] = own_;
  for (int r = 0; r < ranks_; ++r) {
    if (r == rank_) continue;
    if (cudaIpcOpenMemHandle(&buffers_[r], handles[r], cudaIpcMemLazyEnablePeerAccess) != cudaSuccess) {
      buffers_[r] = nullptr;
      (void)cudaGetLastError();
      return false;
    }
  }
  return true;
}

IpcAllReduce::~IpcAllReduce() {
  for (int r = 0; r < ranks_; ++r) {
    if (r != rank_ && buffers_[r] != nullptr) (void)cudaIpcCloseMemHandle(buffers_[r]);
  }
  if (own_ != nullptr) (void)cudaFree(own_);
  if (counters_ != nullptr) (void)cudaFree(counters_);
  if (abort_ != nullptr) (void)cudaFreeHost(const_cast<int*>(abort_));
}

bool IpcAllReduce::takes(size_t count, DType dtype, ReduceOp op) const {
  return op == ReduceOp::kSum && ipc_all_reduce_takes(count, dtype);
}

IpcAllReduceArgs IpcAllReduce::args(const void* in, void* out, size_t count, DType dtype) const {
  IpcAllReduceArgs args;
  args.in = in;
  args.out = out;
  args.dtype = dtype;
  args.count = count;
  args.rank = rank_;
  args.ranks = ranks_;
  std::copy(buffers_.begin(), buffers_.end(), args.buffers);
  args.counters = counters_;
  args.abort = abort_;
  return args;
}

Status IpcAllReduce::run(void* data, size_t count, DType dtype, cudaStream_t stream) {
  return launch_ipc_all_reduce(args(data, data, count, dtype), stream);
}

Status IpcAllReduce::run_add_rms_norm(const NormArgs& norm, cudaStream_t stream) {
  return launch_ipc_all_reduce_add_rms_norm(args(norm.x, nullptr, norm.rows * norm.dim, norm.act_dtype), norm, stream);
}

}  // namespace ferrum::cuda
