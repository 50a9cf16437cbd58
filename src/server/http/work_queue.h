// A fixed set of threads running posted tasks in arrival order. The HTTP server hands requests to
// one so the event loop never waits on a handler; the API layer runs its event drains on another.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ferrum::http {

class WorkQueue {
 public:
  explicit WorkQueue(size_t threads);
  // Finishes the tasks already posted, then joins the threads.
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void post(std::function<void()> task);

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ferrum::http
