// FERRUM_BENCH_THREADS=N runs the benchmarks on an N-thread pool instead of one per core, to
// separate per-core kernel efficiency from scaling (and from other load on a shared machine).
#include <cstdlib>

#include "core/thread_pool.h"

namespace {

const bool kThreadsConfigured = [] {
  if (const char* threads = std::getenv("FERRUM_BENCH_THREADS")) {
    ferrum::set_default_thread_count(static_cast<size_t>(std::strtoul(threads, nullptr, 10)));
  }
  return true;
}();

}  // namespace
