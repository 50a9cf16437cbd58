// The worker processes rank 0 starts: they outlive the thread that started them (a server starts
// them on its loading thread, which ends), die when the set is destroyed, and an exit is reported
// with its status.
#include "engine/worker_processes.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

namespace ferrum {
namespace {

TEST(WorkerProcesses, AWorkerOutlivesTheThreadThatStartedIt) {
  WorkerProcesses workers;
  std::thread starter([&] { ASSERT_TRUE(workers.spawn(1, {"/bin/sleep", "30"})); });
  starter.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const Status running = workers.check_running();
  EXPECT_TRUE(running) << running.error().to_string();
  workers.kill_all();
}

TEST(WorkerProcesses, DestroyingTheSetStopsItsWorkers) {
  pid_t pid = -1;
  {
    WorkerProcesses workers;
    ASSERT_TRUE(workers.spawn(1, {"/bin/sleep", "30"}));
    pid = workers.pids().at(0);
    EXPECT_EQ(kill(pid, 0), 0);
  }
  EXPECT_NE(kill(pid, 0), 0);  // reaped: no such process
}

TEST(WorkerProcesses, AnExitIsReportedWithItsStatus) {
  WorkerProcesses workers;
  ASSERT_TRUE(workers.spawn(3, {"/bin/sh", "-c", "exit 7"}));
  EXPECT_NE(workers.describe_exit(3, std::chrono::seconds(10)), "");
  const Status running = workers.check_running();
  ASSERT_FALSE(running);
  EXPECT_NE(running.error().to_string().find("rank 3"), std::string::npos) << running.error().to_string();
  EXPECT_NE(running.error().to_string().find("exited with status 7"), std::string::npos) << running.error().to_string();
}

}  // namespace
}  // namespace ferrum
