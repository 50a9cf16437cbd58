#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FERRUM_CPU_RELAX() _mm_pause()
#else
#define FERRUM_CPU_RELAX() std::this_thread::yield()
#endif

namespace ferrum {
namespace {

thread_local bool t_inside_pool = false;

// How long an idle worker spins before it sleeps on the condition variable.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(200);

}  // namespace

ThreadPool::ThreadPool(size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(threads - 1);
  for (size_t i = 0; i + 1 < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::run_chunks() {
  const auto& body = *body_;
  for (;;) {
    const size_t begin = next_chunk_start_.fetch_add(chunk_, std::memory_order_relaxed);
    if (begin >= count_) break;
    body(begin, std::min(begin + chunk_, count_));
  }
}

void ThreadPool::worker_loop() {
  t_inside_pool = true;
  uint64_t seen = 0;  // the generation at construction: a job published before this thread runs is not missed
  for (;;) {
    const auto spin_until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
    while (generation_.load(std::memory_order_acquire) == seen && std::chrono::steady_clock::now() < spin_until) {
      FERRUM_CPU_RELAX();
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_) return;
    run_chunks();
    workers_busy_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(size_t count, size_t grain, const std::function<void(size_t, size_t)>& body) {
  if (count == 0) return;
  grain = std::max<size_t>(grain, 1);
  if (workers_.empty() || t_inside_pool || count <= grain) {
    body(0, count);
    return;
  }
  std::lock_guard call_lock(call_mutex_);
  // Several chunks per thread balance uneven rows without much claiming traffic.
  const size_t threads = size();
  const size_t target_chunks = threads * 4;
  chunk_ = std::max(grain, (count + target_chunks - 1) / target_chunks);
  body_ = &body;
  count_ = count;
  next_chunk_start_.store(0, std::memory_order_relaxed);
  workers_busy_.store(workers_.size(), std::memory_order_relaxed);
  {
    std::lock_guard lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();

  t_inside_pool = true;
  run_chunks();
  t_inside_pool = false;
  while (workers_busy_.load(std::memory_order_acquire) != 0) FERRUM_CPU_RELAX();
  body_ = nullptr;
}

namespace {
std::unique_ptr<ThreadPool>& default_pool_storage() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}
}  // namespace

ThreadPool& default_thread_pool() {
  auto& pool = default_pool_storage();
  if (!pool) pool = std::make_unique<ThreadPool>();
  return *pool;
}

void set_default_thread_count(size_t threads) {
  auto& pool = default_pool_storage();
  const size_t wanted = threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  // A pool of the size asked for stays: contexts already made on it keep a valid pool.
  if (pool && pool->size() == wanted) return;
  pool = std::make_unique<ThreadPool>(threads);
}

}  // namespace ferrum
