// Rank groups of N ranks inside one test process, one thread per rank, over loopback TCP: the
// same connections the processes of a real group use, without starting processes.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "dist/rank_group.h"

namespace ferrum::testing {

// Ranks 0..n-1 of one group; empty (after a test failure) when it could not be formed.
inline std::vector<std::shared_ptr<dist::RankGroup>> make_local_groups(size_t n, dist::RankGroupOptions options = {}) {
  std::vector<std::shared_ptr<dist::RankGroup>> groups(n);
  auto listener = dist::Listener::bind("127.0.0.1", 0);
  EXPECT_TRUE(listener) << listener.error().to_string();
  if (!listener) return {};
  std::vector<std::thread> joiners;
  std::vector<std::string> errors(n);
  for (size_t rank = 1; rank < n; ++rank) {
    joiners.emplace_back([&, rank] {
      auto joined = dist::RankGroup::join("127.0.0.1", listener->port(), rank, n, options);
      if (joined) {
        groups[rank] = std::move(*joined);
      } else {
        errors[rank] = joined.error().to_string();
      }
    });
  }
  auto hosted = dist::RankGroup::host(*listener, n, options, [] { return ok(); });
  for (std::thread& joiner : joiners) joiner.join();
  EXPECT_TRUE(hosted) << hosted.error().to_string();
  if (!hosted) return {};
  groups[0] = std::move(*hosted);
  for (size_t rank = 1; rank < n; ++rank) {
    EXPECT_TRUE(groups[rank]) << "rank " << rank << ": " << errors[rank];
    if (!groups[rank]) return {};
  }
  return groups;
}

// Runs body(rank) for every rank at once, each on its own thread (collectives need all ranks).
inline void run_on_every_rank(size_t n, const std::function<void(size_t rank)>& body) {
  std::vector<std::thread> threads;
  for (size_t rank = 0; rank < n; ++rank) threads.emplace_back(body, rank);
  for (std::thread& thread : threads) thread.join();
}

}  // namespace ferrum::testing
