#include "engine/worker_processes.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace ferrum {

WorkerProcesses::~WorkerProcesses() {
  wait_or_stop(std::chrono::seconds(5));
  {
    std::lock_guard lock(fork_mutex_);
    forker_stopping_ = true;
  }
  fork_changed_.notify_all();
  if (forker_.joinable()) forker_.join();
}

void WorkerProcesses::forker_loop() {
  std::unique_lock lock(fork_mutex_);
  for (;;) {
    fork_changed_.wait(lock, [&] { return fork_job_ != nullptr || forker_stopping_; });
    if (fork_job_ == nullptr) return;
    fork_result_ = (*fork_job_)();
    fork_errno_ = errno;
    fork_job_ = nullptr;
    fork_done_ = true;
    fork_changed_.notify_all();
  }
}

pid_t WorkerProcesses::fork_on_own_thread(const std::function<pid_t()>& fork_child, int& fork_errno) {
  std::unique_lock lock(fork_mutex_);
  if (!forker_.joinable()) forker_ = std::thread([this] { forker_loop(); });
  fork_job_ = &fork_child;
  fork_done_ = false;
  fork_changed_.notify_all();
  fork_changed_.wait(lock, [&] { return fork_done_; });
  fork_errno = fork_errno_;
  return fork_result_;
}

Status WorkerProcesses::spawn(size_t rank, const std::vector<std::string>& argv) {
  FERRUM_CHECK(!argv.empty(), ErrorCode::kInvalidArgument, "no command to start tensor-parallel rank ", rank);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  // Built before fork: the child may only make async-signal-safe calls until exec.
  const std::string exec_failed =
      "ferrum: cannot start tensor-parallel rank " + std::to_string(rank) + ": exec " + argv[0] + " failed\n";
  const pid_t parent = getpid();
  int fork_errno = 0;
  const pid_t pid = fork_on_own_thread(
      [&]() -> pid_t {
        const pid_t child = fork();
        if (child != 0) return child;
        // Die with the parent; if it is already gone, do not run at all.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        execv(args[0], args.data());
        (void)!write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
        _exit(127);
      },
      fork_errno);
  FERRUM_CHECK(pid >= 0, ErrorCode::kIo, "starting tensor-parallel rank ", rank, ": fork: ", std::strerror(fork_errno));
  std::lock_guard lock(mutex_);
  workers_.push_back({rank, pid, false, 0});
  return ok();
}

std::string WorkerProcesses::status_text(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  }
  return "stopped";
}

bool WorkerProcesses::reap(Worker& worker, bool block) {
  if (worker.reaped) return true;
  const pid_t done = waitpid(worker.pid, &worker.status, block ? 0 : WNOHANG);
  if (done == worker.pid || (done < 0 && errno == ECHILD)) worker.reaped = true;
  return worker.reaped;
}

Status WorkerProcesses::check_running() {
  std::lock_guard lock(mutex_);
  for (Worker& worker : workers_) {
    if (reap(worker, false)) {
      return make_error(ErrorCode::kIo, "tensor-parallel rank ", worker.rank, " (pid ", worker.pid, ") ",
                        status_text(worker.status));
    }
  }
  return ok();
}

std::string WorkerProcesses::describe_exit(size_t rank, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      for (Worker& worker : workers_) {
        if (worker.rank != rank) continue;
        if (reap(worker, false)) return "(pid " + std::to_string(worker.pid) + ") " + status_text(worker.status);
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void WorkerProcesses::wait_or_stop(std::chrono::milliseconds grace) {
  auto deadline = std::chrono::steady_clock::now() + grace;
  std::lock_guard lock(mutex_);
  bool signalled = false;
  for (;;) {
    bool all_done = true;
    for (Worker& worker : workers_) all_done = reap(worker, false) && all_done;
    if (all_done) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      if (signalled) break;
      for (Worker& worker : workers_) {
        if (!worker.reaped) kill(worker.pid, SIGTERM);
      }
      signalled = true;
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Still running a second after SIGTERM: stop them for good.
  for (Worker& worker : workers_) {
    if (!worker.reaped) {
      kill(worker.pid, SIGKILL);
      reap(worker, true);
    }
  }
}

void WorkerProcesses::kill_all() {
  std::lock_guard lock(mutex_);
  for (Worker& worker : workers_) {
    if (!reap(worker, false)) {
      kill(worker.pid, SIGKILL);
      reap(worker, true);
    }
  }
}

std::vector<pid_t> WorkerProcesses::pids() const {
  std::lock_guard lock(mutex_);
  std::vector<pid_t> pids;
  for (const Worker& worker : workers_) pids.push_back(worker.pid);
  return pids;
}

}  // namespace ferrum
