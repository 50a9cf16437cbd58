// All-reduce lab: the one-shot IPC kernel (kernels/ipc_all_reduce.cuh, v2: data and epoch in one
// 8-byte line) at several launch shapes and v1 (all_reduce_v1.cuh: flags per block) against NCCL's
// all-reduce on every GPU of this machine, from one process (peer pointers stand in for the IPC mappings that
// tensor-parallel ranks make). Reference: each rank's bf16 values summed on the host in rank order
// in f32 and rounded once, which every rank's result must equal bit for bit. Timing: each size
// summed kCalls times back to back on every GPU; microseconds per call on the slowest GPU.
#include <nccl.h>

#include <vector>

#include "backend/cuda/kernels/ipc_all_reduce.cuh"
#include "backend/cuda/lab/all_reduce_v1.cuh"
#include "backend/cuda/lab/all_reduce_v2.cuh"
#include "backend/cuda/lab/lab_common.cuh"

using ferrum::DType;
namespace cuda = ferrum::cuda;

namespace {

constexpr int kCalls = 200;

#define LAB_NCCL(call)                                                                                     \
  do {                                                                                                     \
    ncclResult_t lab_result_ = (call);                                                                     \
    if (lab_result_ != ncclSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, ncclGetErrorString(lab_result_)); \
      std::exit(1);                                                                                        \
    }                                                                                                      \
  } while (0)

// Each version's buffer and call counters on one rank.
struct Shared {
  void* buffer = nullptr;
  uint32_t* counters = nullptr;
};

struct Rank {
  cudaStream_t stream = nullptr;
  __nv_bfloat16* data = nullptr;
  std::vector<Shared> versions;
  ncclComm_t comm = nullptr;
};

// v1 and v2 start from zeros, v3 from empty values.
Shared alloc_shared(size_t buffer_bytes, bool empty) {
  Shared shared;
  LAB_CHECK(cudaMalloc(&shared.buffer, buffer_bytes));
  LAB_CHECK(cudaMemset(shared.buffer, 0, buffer_bytes));
  if (empty && !cuda::launch_ipc_empty(shared.buffer, buffer_bytes, nullptr)) std::exit(1);
  shared.counters = lab::device_alloc<uint32_t>(cuda::kIpcMaxBlocks);
  LAB_CHECK(cudaMemset(shared.counters, 0, cuda::kIpcMaxBlocks * sizeof(uint32_t)));
  return shared;
}

using Launch = ferrum::Status (*)(const cuda::IpcAllReduceArgs&, cudaStream_t);

ferrum::Status launch_v1(const cuda::IpcAllReduceArgs& args, cudaStream_t stream) {
  return cuda::launch_kernel("all_reduce_v1", lab_v1::all_reduce_v1_kernel<__nv_bfloat16>, dim3(cuda::kIpcBlocks),
                             dim3(lab_v1::kV1Threads), 0, stream, args);
}

template <int kBlocks, int kThreads>
ferrum::Status launch_v2(const cuda::IpcAllReduceArgs& args, cudaStream_t stream) {
  return cuda::launch_kernel("all_reduce_v2", lab_v2::all_reduce_v2_kernel<__nv_bfloat16, kBlocks, kThreads>,
                             dim3(kBlocks), dim3(kThreads), 0, stream, args);
}

template <int kBlocks, int kThreads>
ferrum::Status launch_v3(const cuda::IpcAllReduceArgs& args, cudaStream_t stream) {
  return cuda::launch_kernel("all_reduce_v3", cuda::ipc_all_reduce_kernel<__nv_bfloat16, kBlocks, kThreads>,
                             dim3(kBlocks), dim3(kThreads), 0, stream, args);
}

struct Version {
  const char* name;
  Launch launch;
  size_t (*buffer_bytes)(int ranks);
  bool empty;  // the buffer starts as empty values (v3), else zeros
};

const Version kVersions[] = {
    {"v1 32x512", launch_v1, lab_v1::v1_buffer_bytes, false},
    {"v2 32x512", launch_v2<32, 512>, lab_v2::v2_buffer_bytes, false},
    {"v2 128x256", launch_v2<128, 256>, lab_v2::v2_buffer_bytes, false},
    {"v3 32x512", launch_v3<32, 512>, cuda::ipc_buffer_bytes, true},
    {"v3 64x512", launch_v3<64, 512>, cuda::ipc_buffer_bytes, true},
    {"v3 128x256", launch_v3<128, 256>, cuda::ipc_buffer_bytes, true},
};

void run_ipc(std::vector<Rank>& ranks, size_t count, const volatile int* abort, size_t version) {
  for (size_t r = 0; r < ranks.size(); ++r) {
    LAB_CHECK(cudaSetDevice(static_cast<int>(r)));
    cuda::IpcAllReduceArgs args;
    args.in = args.out = ranks[r].data;
    args.dtype = DType::kBF16;
    args.count = count;
    args.rank = static_cast<int>(r);
    args.ranks = static_cast<int>(ranks.size());
    for (size_t p = 0; p < ranks.size(); ++p) args.buffers[p] = ranks[p].versions[version].buffer;
    args.counters = ranks[r].versions[version].counters;
    args.abort = abort;
    if (!kVersions[version].launch(args, ranks[r].stream)) {
      std::fprintf(stderr, "%s launch failed\n", kVersions[version].name);
      std::exit(1);
    }
  }
}

void run_nccl(std::vector<Rank>& ranks, size_t count) {
  LAB_NCCL(ncclGroupStart());
  for (Rank& rank : ranks) {
    LAB_NCCL(ncclAllReduce(rank.data, rank.data, count, ncclBfloat16, ncclSum, rank.comm, rank.stream));
  }
  LAB_NCCL(ncclGroupEnd());
}

// Microseconds per call on the slowest GPU over kCalls calls of `step`.
double time_calls(std::vector<Rank>& ranks, const std::function<void()>& step) {
  step();  // warm-up
  std::vector<cudaEvent_t> start(ranks.size()), stop(ranks.size());
  for (size_t r = 0; r < ranks.size(); ++r) {
    LAB_CHECK(cudaSetDevice(static_cast<int>(r)));
    LAB_CHECK(cudaEventCreate(&start[r]));
    LAB_CHECK(cudaEventCreate(&stop[r]));
    LAB_CHECK(cudaStreamSynchronize(ranks[r].stream));
    LAB_CHECK(cudaEventRecord(start[r], ranks[r].stream));
  }
  for (int i = 0; i < kCalls; ++i) step();
  double slowest = 0;
  for (size_t r = 0; r < ranks.size(); ++r) {
    LAB_CHECK(cudaSetDevice(static_cast<int>(r)));
    LAB_CHECK(cudaEventRecord(stop[r], ranks[r].stream));
    LAB_CHECK(cudaEventSynchronize(stop[r]));
    float ms = 0;
    LAB_CHECK(cudaEventElapsedTime(&ms, start[r], stop[r]));
    slowest = std::max(slowest, 1000.0 * ms / kCalls);
  }
  return slowest;
}

// The same, with the kCalls calls captured as one CUDA graph per GPU and replayed: no host launch
// cost between calls, as in a captured decode step.
double time_graph(std::vector<Rank>& ranks, const std::function<void()>& step) {
  std::vector<cudaGraph_t> graphs(ranks.size());
  std::vector<cudaGraphExec_t> execs(ranks.size());
  for (size_t r = 0; r < ranks.size(); ++r) {
    LAB_CHECK(cudaSetDevice(static_cast<int>(r)));
    LAB_CHECK(cudaStreamBeginCapture(ranks[r].stream, cudaStreamCaptureModeRelaxed));
  }
  for (int i = 0; i < kCalls; ++i) step();
  for (size_t r = 0; r < ranks.size(); ++r) {
    LAB_CHECK(cudaSetDevice(static_cast<int>(r)));
    LAB_CHECK(cudaStreamEndCapture(ranks[r].stream, &graphs[r]));
    LAB_CHECK(cudaGraphInstantiate(&execs[r], graphs[r], 0));
  }
  const auto replay = [&] {
    for (size_t r = 0; r < ranks.size(); ++r) {
      LAB_CHECK(cudaSetDevice(static_cast<int>(r)));
      LAB_CHECK(cudaGraphLaunch(execs[r], ranks[r].stream));
    }
  };
  const double us = time_calls(ranks, replay) / kCalls;  // time_calls replays kCalls graphs of kCalls calls
  for (size_t r = 0; r < ranks.size(); ++r) {
    LAB_CHECK(cudaSetDevice(static_cast<int>(r)));
    LAB_CHECK(cudaStreamSynchronize(ranks[r].stream));
    LAB_CHECK(cudaGraphExecDestroy(execs[r]));
    LAB_CHECK(cudaGraphDestroy(graphs[r]));
  }
  return us;
}

}  // namespace

int main() {
  int devices = 0;
  LAB_CHECK(cudaGetDeviceCount(&devices));
  if (devices < 2) {
    std::printf("all-reduce lab: %d GPU(s); it needs 2 or more\n", devices);
    return 0;
  }
  devices = std::min(devices, cuda::kIpcMaxRanks);
  const size_t max_count = cuda::kIpcMaxBytes / 2;
  std::vector<Rank> ranks(static_cast<size_t>(devices));
  std::vector<int> ordinals(ranks.size());
  int* abort = nullptr;
  LAB_CHECK(cudaHostAlloc(&abort, sizeof(int), cudaHostAllocMapped | cudaHostAllocPortable));
  *abort = 0;
  for (int r = 0; r < devices; ++r) {
    ordinals[r] = r;
    LAB_CHECK(cudaSetDevice(r));
    for (int p = 0; p < devices; ++p) {
      if (p != r) LAB_CHECK(cudaDeviceEnablePeerAccess(p, 0));
    }
    LAB_CHECK(cudaStreamCreateWithFlags(&ranks[r].stream, cudaStreamNonBlocking));
    ranks[r].data = lab::device_alloc<__nv_bfloat16>(max_count);
    for (const Version& version : kVersions) {
      ranks[r].versions.push_back(alloc_shared(version.buffer_bytes(devices), version.empty));
    }
  }
  std::vector<ncclComm_t> comms(ranks.size());
  LAB_NCCL(ncclCommInitAll(comms.data(), devices, ordinals.data()));
  for (size_t r = 0; r < ranks.size(); ++r) ranks[r].comm = comms[r];

  std::printf("%d GPUs, bf16 sums, %d calls per timing\n", devices, kCalls);
  std::printf("us per call: launched one by one / replayed from a graph\n");
  std::printf("%10s %-12s %6s %10s %10s\n", "bytes", "version", "exact", "launched", "graph");
  bool all_exact = true;
  for (size_t count : {size_t{4096}, size_t{32768}, size_t{262144}, size_t{524288}}) {
    for (size_t version = 0; version < std::size(kVersions); ++version) {
      std::vector<std::vector<__nv_bfloat16>> inputs(ranks.size(), std::vector<__nv_bfloat16>(count));
      for (size_t r = 0; r < ranks.size(); ++r) {
        LAB_CHECK(cudaSetDevice(static_cast<int>(r)));
        lab::fill_uniform(ranks[r].data, count, 17 + r + count);
        LAB_CHECK(cudaDeviceSynchronize());
        LAB_CHECK(cudaMemcpy(inputs[r].data(), ranks[r].data, count * 2, cudaMemcpyDeviceToHost));
      }
      run_ipc(ranks, count, abort, version);
      bool exact = true;
      for (size_t r = 0; r < ranks.size(); ++r) {
        LAB_CHECK(cudaSetDevice(static_cast<int>(r)));
        LAB_CHECK(cudaStreamSynchronize(ranks[r].stream));
        std::vector<__nv_bfloat16> got(count);
        LAB_CHECK(cudaMemcpy(got.data(), ranks[r].data, count * 2, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < count && exact; ++i) {
          float sum = 0.0f;
          for (size_t p = 0; p < ranks.size(); ++p) sum += __bfloat162float(inputs[p][i]);
          exact = __bfloat162float(__float2bfloat16_rn(sum)) == __bfloat162float(got[i]);
        }
      }
      all_exact = all_exact && exact;
      const auto step = [&] { run_ipc(ranks, count, abort, version); };
      std::printf("%10zu %-12s %6s %10.2f %10.2f\n", count * 2, kVersions[version].name, exact ? "yes" : "NO",
                  time_calls(ranks, step), time_graph(ranks, step));
    }
    const auto nccl = [&] { run_nccl(ranks, count); };
    std::printf("%10zu %-12s %6s %10.2f %10.2f\n", count * 2, "nccl", "-", time_calls(ranks, nccl),
                time_graph(ranks, nccl));
  }
  for (Rank& rank : ranks) LAB_NCCL(ncclCommDestroy(rank.comm));
  return all_exact ? 0 : 1;
}
