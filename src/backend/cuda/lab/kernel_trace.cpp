// A kernel timeline for machines without Nsight Systems: a CUPTI injection library. Any CUDA
// program run with
//   CUDA_INJECTION64_PATH=<build>/src/backend/cuda/lab/libferrum-kernel-trace.so
//   FERRUM_KERNEL_TRACE=trace.tsv
// writes one line per kernel it ran (graph replays included, PDL overlap kept: the concurrent
// kernel records do not serialize launches): start and end in ns, the graph and node ids (0
// outside graphs), grid and block x, and the kernel's mangled name.
// scripts/kernel_trace_summary.py turns it into the time each kernel adds to a decode step.
// A "%p" in the path becomes the process id, so each rank of a tensor-parallel group (worker
// processes inherit the environment) writes its own file.
#include <cupti.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace {

constexpr size_t kBufferBytes = size_t{8} << 20;
std::FILE* g_out = nullptr;
std::mutex g_out_mutex;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = *buffer != nullptr ? kBufferBytes : 0;
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid_bytes) {
  CUpti_Activity* record = nullptr;
  {
    const std::lock_guard lock(g_out_mutex);
    while (cuptiActivityGetNextRecord(buffer, valid_bytes, &record) == CUPTI_SUCCESS) {
      if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL || g_out == nullptr) continue;
      const auto* kernel = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      std::fprintf(g_out, "%llu\t%llu\t%u\t%llu\t%d\t%d\t%s\n", static_cast<unsigned long long>(kernel->start),
                   static_cast<unsigned long long>(kernel->end), kernel->graphId,
                   static_cast<unsigned long long>(kernel->graphNodeId), kernel->gridX, kernel->blockX,
                   kernel->name != nullptr ? kernel->name : "?");
    }
  }
  std::free(buffer);
}

void flush_at_exit() {
  cuptiActivityFlushAll(1);
  const std::lock_guard lock(g_out_mutex);
  if (g_out != nullptr) std::fclose(g_out);
  g_out = nullptr;
}

}  // namespace

// Called by the CUDA driver when it loads this library (CUDA_INJECTION64_PATH).
extern "C" int InitializeInjection() {
  const char* variable = std::getenv("FERRUM_KERNEL_TRACE");
  std::string path = variable != nullptr ? variable : "kernel-trace.tsv";
  if (const size_t at = path.find("%p"); at != std::string::npos) path.replace(at, 2, std::to_string(getpid()));
  g_out = std::fopen(path.c_str(), "w");
  if (g_out == nullptr) return 0;
  if (cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed) != CUPTI_SUCCESS ||
      cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS) {
    std::fprintf(stderr, "ferrum-kernel-trace: CUPTI refused the kernel activity records\n");
    return 0;
  }
  std::atexit(flush_at_exit);
  return 1;
}
