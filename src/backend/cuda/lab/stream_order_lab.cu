// Stream-order lab: two facts about when a kernel may start that the tensor-parallel sums depend
// on (kernels/ipc_all_reduce.h, side pushes), measured rather than read from the programming guide.
//
//   1. Transitivity. A (long, lets dependents start at once), then B launched with programmatic
//      dependent launch (PDL) that never waits for A, then C launched plainly. Does C wait only
//      for B, or for A as well? If only for B, a kernel could hand its slow tail to a PDL
//      neighbour on the same stream; if for both, that tail must go to another stream.
//   2. Remote stores. A kernel that writes 512 KB from 64 blocks, then a plain kernel: how long
//      after the writer's last instruction does the next kernel start, with the bytes going to
//      device memory and to host memory over PCIe (a stand-in for a peer GPU over NVLink, which a
//      single-GPU machine lacks)? A kernel completes only when its stores have landed.
//
// Stamps are %globaltimer (ns) read by the kernels themselves; medians over repetitions.
#include <vector>

#include "backend/cuda/lab/lab_common.cuh"

namespace {

__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// Spins for `ns`; stamps[0] its start, stamps[1] its end. `trigger`: lets dependents launch at
// once; `wait`: waits for the kernel before (PDL) first.
__global__ void spin_kernel(unsigned long long ns, unsigned long long* stamps, bool trigger, bool wait) {
  const unsigned long long start = global_ns();
  if (trigger) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  if (wait) asm volatile("griddepcontrol.wait;" ::: "memory");
  while (global_ns() - start < ns) {
  }
  if (threadIdx.x == 0) stamps[0] = start, stamps[1] = global_ns();
}

// Every block writes its share of `units` 16-byte units to `dst`; stamps[1] after the last store.
__global__ void writer_kernel(uint4* dst, int units, unsigned long long* stamps) {
  for (int u = threadIdx.x + blockIdx.x * blockDim.x; u < units; u += blockDim.x * gridDim.x) {
    dst[u] = make_uint4(u, 1, 2, 3);
  }
  __syncthreads();
  if (threadIdx.x == 0 && blockIdx.x == 0) stamps[1] = global_ns();
}

template <class Kernel, class... Args>
void launch(Kernel kernel, bool pdl, cudaStream_t stream, int blocks, int threads, Args... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(blocks);
  config.blockDim = dim3(threads);
  config.stream = stream;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attribute;
  config.numAttrs = pdl ? 1 : 0;
  LAB_CHECK(cudaLaunchKernelEx(&config, kernel, args...));
}

double us_between(unsigned long long from, unsigned long long to) {
  return (static_cast<double>(to) - static_cast<double>(from)) / 1e3;
}

}  // namespace

int main() {
  lab::print_device_banner("stream-order lab (PDL transitivity, remote-store completion)");
  cudaStream_t stream = nullptr;
  LAB_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  unsigned long long* stamps = nullptr;
  LAB_CHECK(cudaMallocManaged(&stamps, 8 * sizeof(unsigned long long)));

  std::printf("1. A (50 us, triggers at once); B (PDL, 5 us); C (plain). Medians of 18 runs:\n");
  for (bool graph : {false, true}) {
    for (bool b_waits : {false, true}) {
      std::vector<double> after_a, after_b;
      for (int rep = 0; rep < 20; ++rep) {
        cudaGraph_t captured = nullptr;
        cudaGraphExec_t exec = nullptr;
        if (graph) LAB_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
        launch(spin_kernel, false, stream, 1, 32, 50000ull, stamps + 0, true, false);
        launch(spin_kernel, true, stream, 1, 32, 5000ull, stamps + 2, true, b_waits);
        launch(spin_kernel, false, stream, 1, 32, 1000ull, stamps + 4, false, false);
        if (graph) {
          LAB_CHECK(cudaStreamEndCapture(stream, &captured));
          LAB_CHECK(cudaGraphInstantiate(&exec, captured, 0));
          LAB_CHECK(cudaGraphLaunch(exec, stream));
        }
        LAB_CHECK(cudaStreamSynchronize(stream));
        if (rep >= 2) {
          after_a.push_back(us_between(stamps[1], stamps[4]));
          after_b.push_back(us_between(stamps[3], stamps[4]));
        }
        if (graph) {
          LAB_CHECK(cudaGraphExecDestroy(exec));
          LAB_CHECK(cudaGraphDestroy(captured));
        }
      }
      std::printf("   %-6s B %-14s C starts %7.2f us after A ends, %7.2f us after B ends\n",
                  graph ? "graph," : "stream,", b_waits ? "waits for A:" : "never waits:", lab::median(after_a),
                  lab::median(after_b));
    }
  }

  std::printf("2. 512 KB written by 64 blocks of 512, then a plain kernel (one graph, 195 replays):\n");
  const int units = (512 << 10) / 16;
  uint4* device_memory = lab::device_alloc<uint4>(units);
  uint4* host_memory = nullptr;
  LAB_CHECK(cudaHostAlloc(&host_memory, units * sizeof(uint4), cudaHostAllocMapped));
  uint4* host_mapped = nullptr;
  LAB_CHECK(cudaHostGetDevicePointer(&host_mapped, host_memory, 0));
  for (uint4* target : {device_memory, host_mapped}) {
    cudaGraph_t captured = nullptr;
    cudaGraphExec_t exec = nullptr;
    LAB_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    launch(writer_kernel, false, stream, 64, 512, target, units, stamps);
    launch(spin_kernel, false, stream, 1, 32, 100ull, stamps + 4, false, false);
    LAB_CHECK(cudaStreamEndCapture(stream, &captured));
    LAB_CHECK(cudaGraphInstantiate(&exec, captured, 0));
    std::vector<double> gaps;
    for (int rep = 0; rep < 200; ++rep) {
      LAB_CHECK(cudaGraphLaunch(exec, stream));
      LAB_CHECK(cudaStreamSynchronize(stream));
      if (rep >= 5) gaps.push_back(us_between(stamps[1], stamps[4]));
    }
    std::printf("   to %-18s the next kernel starts %.2f us after the writer's last store\n",
                target == device_memory ? "device memory:" : "host memory (PCIe):", lab::median(gaps));
    LAB_CHECK(cudaGraphExecDestroy(exec));
    LAB_CHECK(cudaGraphDestroy(captured));
  }
  LAB_CHECK(cudaFreeHost(host_memory));
  LAB_CHECK(cudaFree(device_memory));
  LAB_CHECK(cudaFree(stamps));
  return 0;
}
