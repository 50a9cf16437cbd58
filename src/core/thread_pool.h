// A fixed pool of worker threads for data-parallel loops over an index range.
// The calling thread works too, so a pool of N threads uses N-1 workers. Workers spin briefly
// before sleeping: decode issues hundreds of small loops per token and wake-up latency matters.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ferrum {

class ThreadPool {
 public:
  // `threads` = 0 picks std::thread::hardware_concurrency().
  explicit ThreadPool(size_t threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return workers_.size() + 1; }

  // Calls body(begin, end) over disjoint chunks covering [0, count), each at least `grain` long
  // (except the last), and returns when all are done. Safe to call from inside a body: the nested
  // loop then runs on the calling thread.
  void parallel_for(size_t count, size_t grain, const std::function<void(size_t, size_t)>& body);

 private:
  void worker_loop();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stopping_{false};

  // The current job; published by bumping generation_.
  std::atomic<uint64_t> generation_{0};
  const std::function<void(size_t, size_t)>* body_ = nullptr;
  size_t count_ = 0;
  size_t chunk_ = 1;
  std::atomic<size_t> next_chunk_start_{0};
  std::atomic<size_t> workers_busy_{0};
  std::mutex call_mutex_;  // one parallel_for at a time from outside the pool
};

// The process-wide pool used by the CPU backend unless a context names another.
ThreadPool& default_thread_pool();
// Recreates the default pool with `threads` threads (0 = all cores). Not thread-safe: call at start-up.
void set_default_thread_count(size_t threads);

}  // namespace ferrum
