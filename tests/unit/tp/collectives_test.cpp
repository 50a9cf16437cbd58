// The rank group (bootstrap, messages, liveness) and the CPU backend's collectives over it, with
// every rank a thread of this process.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <condition_variable>

#include "backend/cpu/cpu_backend.h"
#include "local_group.h"

namespace ferrum {
namespace {

using dist::MessageTag;
using testing::make_local_groups;
using testing::run_on_every_rank;

// Values that differ per rank and element, so a wrong combination shows.
std::vector<float> values_of(size_t rank, size_t n) {
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = std::sin(0.37f * static_cast<float>(i + 1) * static_cast<float>(rank + 1));
  return values;
}

TEST(RankGroup, MessagesReachTheirPeerWithTheirTag) {
  auto groups = make_local_groups(3);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[2]->rank(), 2u);
  EXPECT_EQ(groups[2]->size(), 3u);
  run_on_every_rank(3, [&](size_t rank) {
    dist::RankGroup& group = *groups[rank];
    if (rank == 0) {
      const std::vector<uint8_t> hello = {1, 2, 3};
      ASSERT_TRUE(group.send_to_all(MessageTag::kStep, hello));
      for (size_t peer = 1; peer < 3; ++peer) {
        auto reply = group.recv_message(peer, MessageTag::kReady, group.op_deadline());
        ASSERT_TRUE(reply) << reply.error().to_string();
        EXPECT_EQ(*reply, std::vector<uint8_t>(peer, uint8_t(peer)));
      }
    } else {
      auto message = group.recv_message(0, MessageTag::kStep, dist::kNoDeadline);
      ASSERT_TRUE(message) << message.error().to_string();
      EXPECT_EQ(*message, (std::vector<uint8_t>{1, 2, 3}));
      ASSERT_TRUE(group.send(0, MessageTag::kReady, std::vector<uint8_t>(rank, uint8_t(rank))));
    }
  });
}

TEST(RankGroup, ARankOutOfStepIsAnErrorNamingBothTags) {
  auto groups = make_local_groups(2);
  ASSERT_EQ(groups.size(), 2u);
  ASSERT_TRUE(groups[1]->send(0, MessageTag::kReady, std::vector<uint8_t>{0}));
  auto message = groups[0]->recv_message(1, MessageTag::kStep, groups[0]->op_deadline());
  ASSERT_FALSE(message);
  std::printf("out of step: %s\n", message.error().to_string().c_str());
  EXPECT_NE(message.error().message().find("ready message where a step message"), std::string::npos);
}

TEST(RankGroup, JoiningWithAnotherWorldSizeIsRefused) {
  auto listener = dist::Listener::bind("127.0.0.1", 0);
  ASSERT_TRUE(listener);
  std::optional<Error> join_error;
  std::thread joiner([&] {
    auto joined = dist::RankGroup::join("127.0.0.1", listener->port(), 1, 3, {});
    if (!joined) join_error = joined.error();
  });
  auto hosted = dist::RankGroup::host(*listener, 2, {}, [] { return ok(); });
  joiner.join();
  ASSERT_FALSE(hosted);
  std::printf("host: %s\njoin: %s\n", hosted.error().to_string().c_str(),
              join_error ? join_error->to_string().c_str() : "(joined)");
  EXPECT_NE(hosted.error().message().find("expects 3 ranks but rank 0 runs 2"), std::string::npos);
  ASSERT_TRUE(join_error);
}

TEST(RankGroup, HostGivesUpWhenAWorkerCannotStart) {
  auto listener = dist::Listener::bind("127.0.0.1", 0);
  ASSERT_TRUE(listener);
  const auto start = std::chrono::steady_clock::now();
  auto hosted = dist::RankGroup::host(*listener, 2, {}, [] {
    return make_error(ErrorCode::kIo, "tensor-parallel rank 1 (pid 7) exited with status 1");
  });
  ASSERT_FALSE(hosted);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_NE(hosted.error().message().find("exited with status 1"), std::string::npos);
}

TEST(RankGroup, TheWatcherSeesAPeerLeaveAndReceiversFailFast) {
  auto groups = make_local_groups(2);
  ASSERT_EQ(groups.size(), 2u);
  std::mutex mutex;
  std::condition_variable changed;
  std::optional<size_t> lost_peer;
  groups[0]->watch_peers([&](size_t peer, const std::string& reason) {
    std::lock_guard lock(mutex);
    lost_peer = peer;
    std::printf("watcher: %s\n", reason.c_str());
    changed.notify_all();
  });
  const auto start = std::chrono::steady_clock::now();
  groups[1].reset();  // rank 1 "dies": its sockets close
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(5), [&] { return lost_peer.has_value(); }));
  }
  EXPECT_EQ(*lost_peer, 1u);
  EXPECT_FALSE(groups[0]->healthy());
  auto message = groups[0]->recv_message(1, MessageTag::kStep, groups[0]->op_deadline());
  ASSERT_FALSE(message);
  EXPECT_NE(message.error().message().find("closed its connection"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(RankGroup, AHungPeerHitsTheDeadline) {
  dist::RankGroupOptions options;
  options.op_timeout = std::chrono::milliseconds(300);
  auto groups = make_local_groups(2, options);
  ASSERT_EQ(groups.size(), 2u);
  auto message = groups[0]->recv_message(1, MessageTag::kStep, groups[0]->op_deadline());
  ASSERT_FALSE(message);
  std::printf("deadline: %s\n", message.error().to_string().c_str());
  EXPECT_NE(message.error().message().find("FERRUM_TP_TIMEOUT_S"), std::string::npos);
}

TEST(CpuCollectives, OneRankIsTheIdentity) {
  auto ctx = CpuBackend::new_context();
  EXPECT_EQ(CpuBackend::world_size(ctx), 1u);
  EXPECT_EQ(CpuBackend::rank(ctx), 0u);
  const std::vector<float> values = values_of(0, 10);
  auto data = CpuBackend::from_slice(values, DType::kF32);
  auto global = CpuBackend::alloc(10, DType::kF32);
  ASSERT_TRUE(data && global);
  ASSERT_TRUE(CpuBackend::all_reduce(ctx, *data, 10, ReduceOp::kSum));
  ASSERT_TRUE(CpuBackend::broadcast(ctx, *data, 10, 0));
  ASSERT_TRUE(CpuBackend::all_gather(ctx, *data, *global, 10));
  EXPECT_EQ(*CpuBackend::to_vec(*data, 10), values);
  EXPECT_EQ(*CpuBackend::to_vec(*global, 10), values);
  EXPECT_FALSE(CpuBackend::broadcast(ctx, *data, 10, 1));
}

class CpuCollectivesOverRanks : public ::testing::TestWithParam<size_t> {};

TEST_P(CpuCollectivesOverRanks, AllReduceGatherAndBroadcastMatchTheirDefinitions) {
  const size_t ranks = GetParam();
  const size_t n = 1000;
  auto groups = make_local_groups(ranks);
  ASSERT_EQ(groups.size(), ranks);
  run_on_every_rank(ranks, [&](size_t rank) {
    auto context = CpuBackend::new_parallel_context(groups[rank], 0);
    ASSERT_TRUE(context);
    CpuContext& ctx = *context;
    EXPECT_EQ(CpuBackend::world_size(ctx), ranks);
    EXPECT_EQ(CpuBackend::rank(ctx), rank);
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kMin}) {
      auto data = CpuBackend::from_slice(values_of(rank, n), DType::kF32);
      ASSERT_TRUE(data);
      Status reduced = CpuBackend::all_reduce(ctx, *data, n, op);
      ASSERT_TRUE(reduced) << reduced.error().to_string();
      const std::vector<float> actual = *CpuBackend::to_vec(*data, n);
      for (size_t i = 0; i < n; ++i) {
        // The definition, combined in rank order as rank 0 does (so sums match to the bit).
        float expected = values_of(0, n)[i];
        for (size_t r = 1; r < ranks; ++r) {
          const float v = values_of(r, n)[i];
          expected = op == ReduceOp::kSum   ? expected + v
                     : op == ReduceOp::kMax ? std::max(expected, v)
                                            : std::min(expected, v);
        }
        ASSERT_EQ(actual[i], expected) << "op " << int(op) << " element " << i << " on rank " << rank;
      }
    }
    auto local = CpuBackend::from_slice(values_of(rank, n), DType::kF32);
    auto global = CpuBackend::alloc(n * ranks, DType::kF32);
    ASSERT_TRUE(local && global);
    ASSERT_TRUE(CpuBackend::all_gather(ctx, *local, *global, n));
    const std::vector<float> gathered = *CpuBackend::to_vec(*global, n * ranks);
    for (size_t r = 0; r < ranks; ++r) {
      const std::vector<float> part(gathered.begin() + r * n, gathered.begin() + (r + 1) * n);
      EXPECT_EQ(part, values_of(r, n)) << "part " << r << " on rank " << rank;
    }
    const size_t source = ranks - 1;  // a source other than rank 0 goes through rank 0
    auto shared = CpuBackend::from_slice(values_of(rank, n), DType::kF32);
    ASSERT_TRUE(shared);
    ASSERT_TRUE(CpuBackend::broadcast(ctx, *shared, n, source));
    EXPECT_EQ(*CpuBackend::to_vec(*shared, n), values_of(source, n)) << "on rank " << rank;
  });
}

INSTANTIATE_TEST_SUITE_P(Ranks, CpuCollectivesOverRanks, ::testing::Values(size_t{2}, size_t{3}));

TEST(CpuCollectives, AllReduceRefusesNonF32) {
  auto groups = make_local_groups(2);
  ASSERT_EQ(groups.size(), 2u);
  auto ctx = CpuBackend::new_parallel_context(groups[0], 0);
  auto data = CpuBackend::alloc(4, DType::kBF16);
  ASSERT_TRUE(ctx && data);
  Status status = CpuBackend::all_reduce(*ctx, *data, 4, ReduceOp::kSum);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace ferrum
