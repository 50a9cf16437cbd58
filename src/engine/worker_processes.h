// The tensor-parallel worker processes rank 0 (or a node's first rank) starts on its own host: one
// per other local rank, each the same binary run with the hidden `tp-worker` command.
//
// A worker dies with the process that started it (PR_SET_PDEATHSIG), so a crashed or killed
// rank 0 leaves no orphans holding GPUs. That signal fires when the *thread* that forked the child
// ends, and `ferrum serve` loads its model (starting the workers) on a thread that ends once it
// is loaded; so the set forks from a thread of its own, which lives as long as the set.
// Destroying the set stops whatever is still running (SIGTERM, then SIGKILL after a grace period)
// and reaps it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace ferrum {

class WorkerProcesses {
 public:
  WorkerProcesses() = default;
  ~WorkerProcesses();
  WorkerProcesses(const WorkerProcesses&) = delete;
  WorkerProcesses& operator=(const WorkerProcesses&) = delete;

  // Starts argv[0] with `argv` (argv[0] is a path, e.g. /proc/self/exe) as the worker of `rank`.
  Status spawn(size_t rank, const std::vector<std::string>& argv);

  // An error naming the first worker that has exited, and how ("rank 1 (pid 42) exited with
  // status 1"); ok while all run. Reaps what exited.
  Status check_running();
  // How the worker of `rank` ended, waiting up to `wait` for it to finish dying; empty if unknown.
  std::string describe_exit(size_t rank, std::chrono::milliseconds wait);
  // Waits up to `grace` for every worker to exit by itself, then stops the rest.
  void wait_or_stop(std::chrono::milliseconds grace);
  // Stops every worker now (SIGKILL): for a group that is already broken.
  void kill_all();

  std::vector<pid_t> pids() const;

 private:
  struct Worker {
    size_t rank = 0;
    pid_t pid = -1;
    bool reaped = false;
    int status = 0;
  };
  static std::string status_text(int status);
  bool reap(Worker& worker, bool block);
  // Runs `fork_child` (which forks and returns the child's pid, or -1 with errno) on forker_.
  pid_t fork_on_own_thread(const std::function<pid_t()>& fork_child, int& fork_errno);
  void forker_loop();

  // The forking thread and its one job at a time.
  std::mutex fork_mutex_;
  std::condition_variable fork_changed_;
  const std::function<pid_t()>* fork_job_ = nullptr;
  pid_t fork_result_ = -1;
  int fork_errno_ = 0;
  bool fork_done_ = false, forker_stopping_ = false;
  std::thread forker_;

  mutable std::mutex mutex_;  // the liveness watcher thread may describe / kill while main waits
  std::vector<Worker> workers_;
};

}  // namespace ferrum
