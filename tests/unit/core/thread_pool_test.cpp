#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <vector>

namespace ferrum {
namespace {

TEST(ThreadPool, CoversRangeExactlyOnce) {
  ThreadPool pool(4);
  for (size_t count : {1u, 7u, 64u, 1000u, 4097u}) {
    std::vector<std::atomic<int>> hits(count);
    pool.parallel_for(count, 3, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) hits[i].fetch_add(1);
    });
    for (size_t i = 0; i < count; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i << " of " << count;
  }
}

TEST(ThreadPool, ManySmallLoopsAndNesting) {
  ThreadPool pool(3);
  std::atomic<size_t> total{0};
  for (int round = 0; round < 2000; ++round) {
    pool.parallel_for(16, 1, [&](size_t begin, size_t end) {
      pool.parallel_for(4, 1, [&](size_t b, size_t e) { total.fetch_add((end - begin) * (e - b)); });
    });
  }
  EXPECT_EQ(total.load(), 2000u * 16 * 4);
}

TEST(ThreadPool, SingleThreadRunsInline) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.size(), 1u);
  size_t sum = 0;
  pool.parallel_for(100, 1, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) sum += i;
  });
  EXPECT_EQ(sum, 4950u);
}

}  // namespace
}  // namespace ferrum
